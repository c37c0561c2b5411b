"""API keys made and revoked, and idempotency records pruned."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from api.models import ApiKey, IdempotencyKey
from planrrr.models import Membership, Team

KEY_START = "planrrr_"


def key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_key_create(*, team: Team, name: str, role: str, created_by=None) -> tuple[ApiKey, str]:
    """A new key for the team. Returns the row and the key itself, which is stored nowhere:
    show it once. An ``approve`` key acts as an ADMIN of the team: only a superuser or one of the
    team's ADMINs and OWNERs may make one (PermissionDenied); scripts (no ``created_by``) may."""
    api_key_may_create(team=team, role=role, user=created_by)
    prefix = KEY_START + secrets.token_hex(4)
    raw = f"{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey(team=team, name=name, role=role, prefix=prefix, key_hash=key_hash(raw), created_by=created_by)
    api_key.full_clean()
    api_key.save()
    return api_key, raw


def api_key_may_create(*, team: Team | None, role: str | None, user=None) -> None:
    """Raise PermissionDenied unless ``user`` may make a key of ``role`` for ``team``."""
    if role != ApiKey.Role.APPROVE or user is None or user.is_superuser or team is None:
        return
    if not Membership.objects.filter(team=team, user=user, role__in=Membership.APPROVERS).exists():
        raise PermissionDenied("Only an admin or owner of the team can make a key that approves posts.")


def api_key_revoke(*, api_key: ApiKey) -> bool:
    """Revoke the key: its next request is refused. False if it was revoked already."""
    return bool(ApiKey.objects.filter(pk=api_key.pk, revoked_at=None).update(revoked_at=timezone.now()))


def idempotency_keys_prune() -> int:
    """Delete the kept answers older than API_IDEMPOTENCY_HOURS (run by the workers)."""
    cutoff = timezone.now() - timedelta(hours=settings.API_IDEMPOTENCY_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
