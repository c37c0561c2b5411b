"""The connect flow's safety: who may connect accounts for a team, the OAuth ``state``, and the
accounts waiting to be picked.

``state`` is signed (django.core.signing, so it cannot be forged), names the user, the team and
the platform, expires after OAUTH_STATE_MAX_AGE_SECONDS, and is single use: its nonce is kept in
the session that started the flow and removed when the state comes back, whatever happens next.
A state from another session, another user, another team or another platform is refused.

The accounts a grant offers (Facebook pages with their own tokens, LinkedIn authors) wait in
the session until the person picks, encrypted with TOKEN_ENCRYPTION_KEY (sessions are stored in
clear), for the same time at most, and are taken once.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict
from datetime import datetime

from django.conf import settings
from django.core import signing
from django.http import HttpRequest

from connections.grants import AccountChoice, Grant
from planrrr.crypto import decrypt, encrypt
from planrrr.models import Membership, Team

STATE_SALT = "connections.connect.state"
PENDING_KEY = "connections.connect.pending"
PICKS_KEY = "connections.connect.picks"


class Refused(Exception):
    """The request cannot go on; ``message`` tells the person why and what to do."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def may_connect(user, team: Team) -> bool:
    """Superusers, and the team's ADMIN and OWNER members, manage its connections."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return Membership.objects.filter(
        user=user, team=team, role__in=[Membership.Role.ADMIN, Membership.Role.OWNER]
    ).exists()


def _max_age() -> int:
    return settings.OAUTH_STATE_MAX_AGE_SECONDS


def _fresh(entries: dict) -> dict:
    now = time.time()
    return {key: entry for key, entry in entries.items() if now - entry.get("at", 0) <= _max_age()}


def state_issue(request: HttpRequest, *, team: Team, platform: str, instance: str = "") -> tuple[str, str]:
    """A new state for this session, user, team and platform (and, for Mastodon, the instance
    the consent happens on), and the PKCE code verifier (RFC 7636: 43 to 128 characters) kept
    with it."""
    nonce = secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(64)
    pending = _fresh(request.session.get(PENDING_KEY, {}))
    pending[nonce] = {"team": team.pk, "platform": platform, "verifier": verifier, "at": time.time()}
    request.session[PENDING_KEY] = pending
    data = {"n": nonce, "u": request.user.pk, "t": team.pk, "p": platform}
    if instance:
        data["i"] = instance
    state = signing.dumps(data, salt=STATE_SALT)
    return state, verifier


def state_instance(state: str) -> str:
    """The server a state was issued for ("" if none, or if the state is not one of ours): signed,
    so the callback exchanges the code where the consent started. ``state_consume`` still
    decides whether the state is good."""
    try:
        data = signing.loads(state or "", salt=STATE_SALT, max_age=_max_age())
    except signing.BadSignature:
        return ""
    return str(data.get("i") or "") if isinstance(data, dict) else ""


def state_consume(request: HttpRequest, *, state: str, platform: str) -> tuple[Team, str]:
    """The team and code verifier of a state coming back to the callback; raises Refused for a
    forged, expired, replayed or misdirected one. The nonce is spent either way."""
    try:
        data = signing.loads(state or "", salt=STATE_SALT, max_age=_max_age())
    except signing.SignatureExpired:
        raise Refused(
            f"This connect attempt expired (it must come back within {_max_age() // 60} minutes): start again."
        ) from None
    except signing.BadSignature:
        raise Refused(
            "This connect link is not one planrrr made (its state is missing or forged): start again."
        ) from None
    if not isinstance(data, dict) or not {"n", "u", "t", "p"} <= data.keys():
        raise Refused("This connect link is not one planrrr made: start again.")
    pending = request.session.get(PENDING_KEY, {})
    entry = pending.pop(str(data["n"]), None)
    request.session[PENDING_KEY] = _fresh(pending)
    if entry is None:
        raise Refused("This connect link was already used, or was started in another browser session: start again.")
    if data["u"] != request.user.pk:
        raise Refused("This connect attempt was started by another user: start again signed in as yourself.")
    if data["t"] != entry["team"] or data["p"] != entry["platform"] or data["p"] != platform:
        raise Refused("This connect link belongs to another team or platform: start again from the team's page.")
    team = Team.objects.filter(pk=data["t"]).first()
    if team is None or not may_connect(request.user, team):
        raise Refused("Only the team's admins and owners may connect accounts for it.")
    return team, entry["verifier"]


def _grant_json(grant: Grant) -> dict:
    data = asdict(grant)
    for key in ("expires_at", "refresh_expires_at"):
        data[key] = data[key].isoformat() if data[key] else None
    return data


def _grant_from_json(data: dict) -> Grant:
    for key in ("expires_at", "refresh_expires_at"):
        data[key] = datetime.fromisoformat(data[key]) if data[key] else None
    return Grant(**data)


def picks_offer(request: HttpRequest, *, team: Team, platform: str, choices: list[AccountChoice]) -> str:
    """Keep the accounts offered (tokens encrypted) until the person picks; returns its id."""
    pick_id = secrets.token_urlsafe(16)
    payload = [{**asdict(choice), "grant": _grant_json(choice.grant)} for choice in choices]
    picks = _fresh(request.session.get(PICKS_KEY, {}))
    picks[pick_id] = {
        "team": team.pk,
        "platform": platform,
        "user": request.user.pk,
        "at": time.time(),
        "choices": encrypt(json.dumps(payload)),
    }
    request.session[PICKS_KEY] = picks
    return pick_id


def picks_read(request: HttpRequest, pick_id: str, *, take: bool = False) -> tuple[Team, str, list[AccountChoice]]:
    """The team, platform and accounts of an offer of this session and user; ``take`` spends it."""
    picks = _fresh(request.session.get(PICKS_KEY, {}))
    entry = picks.pop(pick_id, None) if take else picks.get(pick_id)
    request.session[PICKS_KEY] = picks
    if entry is None:
        raise Refused("These accounts were already connected, or the choice expired: start again.")
    if entry["user"] != request.user.pk:
        raise Refused("This choice was offered to another user: start again signed in as yourself.")
    team = Team.objects.filter(pk=entry["team"]).first()
    if team is None or not may_connect(request.user, team):
        raise Refused("Only the team's admins and owners may connect accounts for it.")
    try:
        payload = json.loads(decrypt(entry["choices"]))
    except ValueError:
        raise Refused("This choice can no longer be read (was TOKEN_ENCRYPTION_KEY changed?): start again.") from None
    choices = [AccountChoice(**{**item, "grant": _grant_from_json(item["grant"])}) for item in payload]
    return team, entry["platform"], choices
