"""The clients that connect and renew accounts, by platform: a plain dict, as the adapters'.

Kept apart from ``connections.oauth`` (the base class and the OAuth 2.0 platforms) and
``connections.open_networks`` (Bluesky's app-password sessions, Mastodon's per-instance apps),
which both build on that base: the registry imports them, neither imports the registry.
"""

from __future__ import annotations

from connections.oauth import FacebookClient, LinkedInClient, OAuthClient, XClient
from connections.open_networks import BlueskyClient, MastodonClient

# The platforms that can be connected; Instagram through Facebook.
CLIENTS: dict[str, type[OAuthClient]] = {
    client.platform: client for client in (XClient, FacebookClient, LinkedInClient, BlueskyClient, MastodonClient)
}
# Which client renews a connection of each platform.
CLIENT_OF_PLATFORM = {**{name: name for name in CLIENTS}, "INSTAGRAM": "FACEBOOK"}


def get_client(platform: str) -> OAuthClient | None:
    """The client that connects and renews accounts of ``platform``, or None."""
    name = CLIENT_OF_PLATFORM.get(platform)
    return CLIENTS[name]() if name else None
