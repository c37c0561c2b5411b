"""Instagram business accounts (content publishing): docs/platforms/instagram.md."""

from connections.platforms.declaration import IMAGE, VIDEO, Cap, Declaration, Setting
from connections.platforms.meta import GRAPH_API_VERSION, GRAPH_RATE_LIMIT_BACKOFF_SECONDS, META_VIDEO_POLL_SECONDS

DECLARATION = Declaration(
    name="INSTAGRAM",
    label="Instagram",
    adapter="connections.platforms.instagram.adapter.InstagramAdapter",
    # No client of its own: connected through the Facebook app, as the business account linked to
    # a page the person picks (FACEBOOK_APP_ID and FACEBOOK_APP_SECRET).
    client="connections.platforms.facebook.client.FacebookClient",
    standin="connections.platforms.instagram.standin",
    docs="docs/platforms/instagram.md",
    api_url=Setting("INSTAGRAM_API_URL", "https://graph.facebook.com", standin="graph"),
    settings=(GRAPH_API_VERSION, GRAPH_RATE_LIMIT_BACKOFF_SECONDS, META_VIDEO_POLL_SECONDS),
    # Meta's stated figure (2023); GET /{ig-user-id}/content_publishing_limit reports the account's own.
    caps=(Cap(count=25, window_seconds=24 * 3600, live=True),),
    # A video alone is a Reel; a carousel mixes images and videos.
    media=(IMAGE, VIDEO),
)
