"""Secrets at rest: access tokens and webhook secrets are stored Fernet-encrypted.

``TOKEN_ENCRYPTION_KEY`` holds one or more keys (the first encrypts, all decrypt), so a
key can be rotated by prepending a new one. Any string is accepted and stretched into a
Fernet key with SHA-256, so operators need not know Fernet's key format.

Reading a row never raises: a stored secret that cannot be decrypted (the key was changed
without keeping the old one, a corrupt row) is read as :class:`Undecryptable`, an empty text
that keeps the stored value, so that one bad row cannot make every query that loads it fail
(it stopped dispatch for every team). Code that needs the secret asks ``is_undecryptable``
and tells the people concerned to reconnect; saving the row again writes the stored value
back unchanged, so a key put back later still opens it.
"""

from __future__ import annotations

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


class Undecryptable(str):
    """A stored secret that cannot be decrypted: empty as text (so it can never be sent as a
    credential), with the stored value kept in ``stored`` to be written back as it was."""

    stored: str

    def __new__(cls, stored: str) -> Undecryptable:
        value = super().__new__(cls, "")
        value.stored = stored
        return value

    def __repr__(self) -> str:
        return "<Undecryptable secret>"


UNDECRYPTABLE_MESSAGE = "cannot be decrypted: reconnect"


def is_undecryptable(value: object) -> bool:
    """True for a secret read from the database that cannot be decrypted with TOKEN_ENCRYPTION_KEY."""
    return isinstance(value, Undecryptable)


def mask(value: str | None) -> str:
    """What a person may see of a secret: its length class and last four characters, or that it
    cannot be decrypted."""
    if is_undecryptable(value):
        return UNDECRYPTABLE_MESSAGE
    if not value:
        return ""
    return "••••" + value[-4:] if len(value) > 12 else "••••"


class EncryptedTextField(models.TextField):
    """A text field whose value is encrypted in the database and clear only in memory.

    A value that is not in the encrypted form (written straight into the database by a
    script) is read as clear text and encrypted the next time the row is saved. A value that
    cannot be decrypted is read as :class:`Undecryptable` and written back as stored.
    """

    def from_db_value(self, value, expression, connection):
        if value is None or not value.startswith(PREFIX):
            return value
        try:
            return decrypt(value)
        except ValueError:
            return Undecryptable(value)

    def get_prep_value(self, value):
        if is_undecryptable(value):
            return value.stored
        value = super().get_prep_value(value)
        # The value in memory is always clear text, so it is always encrypted, even when it looks
        # like our ciphertext: a token that happens to start with "fernet:" was stored in clear
        # and every later read of the row failed.
        if value is None or value == "":
            return value
        return encrypt(value)
