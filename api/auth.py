"""Who is calling: a team's API key (``Authorization: Bearer <key>``), its role, its rate."""

from __future__ import annotations

import functools
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

import redis
from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions, throttling

from api.models import ApiKey
from api.services import key_hash
from planrrr import outages

logger = logging.getLogger("planrrr.api")


@dataclass(frozen=True)
class KeyUser:
    """request.user for a key: DRF wants a user; the key (request.auth) is who acts."""

    api_key: ApiKey
    is_authenticated: bool = True
    is_anonymous: bool = False


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None  # 401 from the permission check, with WWW-Authenticate
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Give the key as: Authorization: Bearer <key>.")
        try:
            raw = header[1].decode()
        except UnicodeDecodeError as err:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.") from err
        api_key = ApiKey.objects.select_related("team").filter(key_hash=key_hash(raw), revoked_at=None).first()
        if api_key is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        now = timezone.now()
        ApiKey.objects.filter(pk=api_key.pk).filter(
            Q(last_used_at=None) | Q(last_used_at__lt=now - timedelta(minutes=1))
        ).update(last_used_at=now)
        return KeyUser(api_key), api_key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="planrrr"'


class KeyRole(permissions.BasePermission):
    """Any key reads; only a write (or approve) key changes anything. Approving and rejecting
    take an approve key: the views check it (publishing.services.post_approve)."""

    message = "This API key is read-only: use a key with the write role."

    def has_permission(self, request, view) -> bool:
        if not isinstance(request.auth, ApiKey):
            raise exceptions.NotAuthenticated("Send a team API key: Authorization: Bearer <key>.")
        writes = (ApiKey.Role.WRITE, ApiKey.Role.APPROVE)
        return request.method in permissions.SAFE_METHODS or request.auth.role in writes


# One step of a key's sliding window, atomic in Redis (a script runs alone): drop the requests
# older than the window, then count, then record this one if there is room. DRF's own throttle
# reads the log, decides, then writes it back: concurrent requests all read the same count and
# all pass (9-15 % over the rate under load). The time is Redis's, the same for every process.
# KEYS[1]: the key's log, a sorted set of request times; ARGV: window (s), limit, a unique member.
# Returns {1} when allowed, else {0, seconds until the oldest request leaves the window}.
_WINDOW_STEP = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
    redis.call('ZADD', KEYS[1], now, ARGV[3])
    redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
    return {1}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tostring(tonumber(oldest[2]) + window - now)}
"""


@functools.cache
def _window_step(url: str):
    """The script, registered on a client of the Redis at ``url`` (one pool per process)."""
    return redis.Redis.from_url(url).register_script(_WINDOW_STEP)


class KeyThrottle(throttling.SimpleRateThrottle):
    """API_THROTTLE_RATE requests per key in any window of its length (a sliding window, exact
    under concurrency), counted in the project's Redis (the cache's)."""

    scope = "key"

    def get_rate(self) -> str:
        return settings.API_THROTTLE_RATE

    def get_cache_key(self, request, view) -> str | None:
        # The key's own random prefix, not its row id: ids repeat across databases (a restored
        # backup, the test processes' database clones) that may share one Redis.
        return f"planrrr:api-throttle:{request.auth.prefix}" if isinstance(request.auth, ApiKey) else None

    def _allow(self, request, view) -> bool:
        self.retry_after = self.key = None
        if self.rate is None or (key := self.get_cache_key(request, view)) is None:
            return True
        self.key = key
        step = _window_step(settings.CACHES["default"]["LOCATION"])
        allowed, *wait = step(keys=[key], args=[self.duration, self.num_requests, uuid.uuid4().hex])
        if allowed:
            return True
        self.retry_after = max(float(wait[0]), 0.0) if wait else float(self.duration)
        return False

    def wait(self) -> float | None:
        return self.retry_after

    def allow_request(self, request, view) -> bool:
        try:
            allowed = self._allow(request, view)
        except Exception as error:
            # Redis down: serve the request (the database is the truth and still guards every
            # write) rather than fail every team's calls. The outage is logged once by this
            # process, when it starts and when it ends, not a traceback a request.
            outage = outages.unreachable(error)
            if outage is None:
                logger.exception("API throttle unavailable; request allowed")
            else:
                outage.failed(error)
            return True
        if self.key is not None:  # Redis was asked
            outages.redis().ok()
        return allowed
