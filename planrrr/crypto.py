"""Secrets at rest: access tokens and webhook secrets are stored Fernet-encrypted.

``TOKEN_ENCRYPTION_KEY`` holds one or more keys (the first encrypts, all decrypt), so a
key can be rotated by prepending a new one. Any string is accepted and stretched into a
Fernet key with SHA-256, so operators need not know Fernet's key format.
"""

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

PREFIX = "fernet:"


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(base64.urlsafe_b64encode(hashlib.sha256(k.encode()).digest())) for k in keys])


def encrypt(value: str) -> str:
    return PREFIX + _fernet(tuple(settings.TOKEN_ENCRYPTION_KEY)).encrypt(value.encode()).decode()


def decrypt(value: str) -> str:
    if not value.startswith(PREFIX):
        raise ValueError("value is not an encrypted secret")
    try:
        return _fernet(tuple(settings.TOKEN_ENCRYPTION_KEY)).decrypt(value[len(PREFIX) :].encode()).decode()
    except InvalidToken as err:
        raise ValueError("secret cannot be decrypted with TOKEN_ENCRYPTION_KEY (was the key changed?)") from err


def is_undecryptable(value: object) -> bool:
    """True for a stored secret that could not be decrypted (placeholder until the marker lands)."""
    return bool(getattr(value, "undecryptable", False))


def mask(value: str) -> str:
    """What a person may see of a secret: its length class and last four characters."""
    if not value:
        return ""
    return "••••" + value[-4:] if len(value) > 12 else "••••"


class EncryptedTextField(models.TextField):
    """A text field whose value is encrypted in the database and clear only in memory.

    A value that is not in the encrypted form (written straight into the database by a
    script) is read as clear text and encrypted the next time the row is saved.
    """

    def from_db_value(self, value, expression, connection):
        if value is None or not value.startswith(PREFIX):
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "" or value.startswith(PREFIX):
            return value
        return encrypt(value)
