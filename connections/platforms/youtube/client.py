"""YouTube's connect client (docs/platforms/youtube.md): Google's OAuth (connections/platforms/
google/oauth.py) with the scopes to upload and to read the channel's videos, and the person's
channels to pick from.

``GET /youtube/v3/channels?part=snippet&mine=true`` -> ``{"items": [{"id": "UC...", "snippet":
{"title", "customUrl", "thumbnails": {"default": {"url"}}}}]}``: the channels the consenting
Google account owns (https://developers.google.com/youtube/v3/docs/channels/list). A Google
account with no channel yet has none to offer: the person makes one on YouTube first.
"""

from __future__ import annotations

from connections.grants import AccountChoice, Grant, avatar_of
from connections.oauth import OAuthFailure
from connections.platforms.config import value_of
from connections.platforms.google.oauth import GoogleClient
from connections.platforms.youtube import ANALYTICS_SCOPE, DECLARATION


class YouTubeClient(GoogleClient):
    declaration = DECLARATION
    # youtube.upload for videos.insert; youtube.readonly for the channels, the uploads playlist and
    # a video's processing status (https://developers.google.com/youtube/v3/guides/auth/installed-apps#identify-access-scopes);
    # yt-analytics.readonly for the YouTube Analytics API's reports: watch time and shares
    # (https://developers.google.com/youtube/analytics/reference/reports/query). A channel connected
    # before planrrr asked for it keeps publishing and its other figures; its watch time says to
    # reconnect it.
    scope_list = (
        "https://www.googleapis.com/auth/youtube.upload",
        "https://www.googleapis.com/auth/youtube.readonly",
        ANALYTICS_SCOPE,
    )

    def accounts(self, grant: Grant) -> list[AccountChoice]:
        api = str(value_of(self.declaration.api_url)).rstrip("/")
        body = self.api_get(
            f"{api}/youtube/v3/channels",
            token=grant.access_token,
            what="your YouTube channels",
            params={"part": "snippet", "mine": "true", "maxResults": 50},
        )
        choices = []
        for item in body.get("items") or []:
            if not isinstance(item, dict) or not item.get("id"):
                continue
            snippet = item.get("snippet") if isinstance(item.get("snippet"), dict) else {}
            thumbnail = ((snippet.get("thumbnails") or {}).get("default") or {}).get("url")
            handle = snippet.get("customUrl") or ""
            choices.append(
                AccountChoice(
                    self.platform,
                    str(item["id"]),
                    str(snippet.get("title") or item["id"]),
                    grant,
                    note=str(handle),
                    avatar_url=avatar_of(thumbnail),
                )
            )
        if not choices:
            raise OAuthFailure("This Google account has no YouTube channel: create one on YouTube, then connect again.")
        return choices
