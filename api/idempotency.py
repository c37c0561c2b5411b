"""``Idempotency-Key`` on POST: the same key and request get the first answer again, without
doing anything; the same key with another request is 422.

The key's row is inserted first, inside the transaction that does the work, and its answer is
written in the same transaction. A concurrent request with the same key blocks on the unique
index (team, key) until that transaction ends: committed, it replays the answer; rolled back
(a 5xx, a crash), it takes the key over and does the work itself. Answers under 500 are kept
API_IDEMPOTENCY_HOURS (a 400 for a bad body stays a 400: the body does not change).

An answer that hands out a secret (a webhook endpoint's signing secret, on creation and
rotation: views marked ``answers_with_secret``) is kept encrypted with TOKEN_ENCRYPTION_KEY
(``sealed_body``, planrrr.crypto), never in clear: a replay gives the same secret back. If it can
no longer be decrypted (the key was changed without keeping the old one), the replay is a 409
that says to rotate the secret.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from api.models import IdempotencyKey
from api.problems import problem
from planrrr.crypto import is_undecryptable

HEADER = "Idempotency-Key"
KEPT_HEADERS = ("Location",)
# A structured-field string (the IETF draft's type for the header): printable ASCII.
KEY_PATTERN = re.compile(r"[\x20-\x7e]{1,255}")
KEY_RULE = f"{HEADER} must be 1 to 255 printable ASCII characters (a UUID is a good choice)."


def answers_with_secret(method):
    """Marks a view method whose answer carries a secret: kept for replays only encrypted."""
    method.answers_with_secret = True
    return method


def fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, cls=DjangoJSONEncoder)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def idempotent(view, handler):
    """``handler`` (a view's POST) run under the request's Idempotency-Key."""

    def run(request, *args, **kwargs) -> Response:
        key = request.headers[HEADER].strip()
        if not KEY_PATTERN.fullmatch(key):
            return problem(400, KEY_RULE)
        team, print_ = request.auth.team, fingerprint(request)
        with transaction.atomic():
            record = _claim(team=team, key=key, fingerprint=print_)
            if record.status_code is not None:
                return _replay(record, print_)
            try:
                response = handler(request, *args, **kwargs)
            except Exception as exc:
                response = view.handle_exception(exc)  # re-raises a bug: the key goes with the rollback
            if response.status_code >= 500:
                transaction.set_rollback(True)
                return response
            record.status_code = response.status_code
            body = json.dumps(response.data, cls=DjangoJSONEncoder)
            if getattr(handler, "answers_with_secret", False) and response.status_code < 300:
                record.body, record.sealed_body = None, body
            else:
                record.body = json.loads(body)
            record.headers = {name: response[name] for name in KEPT_HEADERS if response.has_header(name)}
            # DRF sets Content-Type when rendering: what counts now is the one asked for, if any.
            record.headers.pop("Content-Type", None)
            if getattr(response, "content_type", None):
                record.headers["Content-Type"] = response.content_type
            record.save(update_fields=["status_code", "body", "sealed_body", "headers"])
        return response

    return run


def _claim(*, team, key: str, fingerprint: str) -> IdempotencyKey:
    """The key's row: new (no answer yet: do the work), or the first request's, locked."""
    now = timezone.now()
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(team=team, key=key, fingerprint=fingerprint, created_at=now)
    except IntegrityError:
        pass  # someone has it: we waited here until their transaction ended
    record = IdempotencyKey.objects.select_for_update().get(team=team, key=key)
    if record.created_at < now - timedelta(hours=settings.API_IDEMPOTENCY_HOURS):
        # Expired (not pruned yet): the key is free again.
        record.fingerprint, record.created_at = fingerprint, now
        record.status_code, record.body, record.sealed_body, record.headers = None, None, "", {}
        record.save()
    return record


def _replay(record: IdempotencyKey, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        return problem(
            422,
            f"This {HEADER} was already used for a different request (another body or path): "
            "use a new key for a new request.",
        )
    headers = {**record.headers, "Idempotent-Replayed": "true"}
    content_type = headers.pop("Content-Type", None)
    if is_undecryptable(record.sealed_body):
        location = {"Location": record.headers["Location"]} if "Location" in record.headers else None
        return problem(
            409,
            f"The first answer to this {HEADER} carried a secret that can no longer be decrypted "
            "(TOKEN_ENCRYPTION_KEY was changed): the request was done; rotate the webhook endpoint's "
            "secret to get a new one.",
            headers=location,
        )
    body = json.loads(record.sealed_body) if record.sealed_body else record.body
    return Response(body, status=record.status_code, headers=headers, content_type=content_type)
