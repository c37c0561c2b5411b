"""Facebook Pages: docs/platforms/facebook.md."""

from connections.platforms.declaration import IMAGE, VIDEO, Declaration, Setting
from connections.platforms.meta import GRAPH_API_VERSION, GRAPH_RATE_LIMIT_BACKOFF_SECONDS, META_VIDEO_POLL_SECONDS

DECLARATION = Declaration(
    name="FACEBOOK",
    label="Facebook",
    adapter="connections.platforms.facebook.adapter.FacebookAdapter",
    # Facebook Login for Pages; it connects the Instagram accounts linked to the pages too.
    client="connections.platforms.facebook.client.FacebookClient",
    standin="connections.platforms.facebook.standin",
    docs="docs/platforms/facebook.md",
    api_url=Setting("FACEBOOK_API_URL", "https://graph.facebook.com", standin="graph"),
    client_id=Setting("FACEBOOK_APP_ID", ""),
    client_secret=Setting("FACEBOOK_APP_SECRET", ""),
    oauth_url=Setting("FACEBOOK_OAUTH_URL", "https://www.facebook.com", standin="facebook-www"),
    settings=(GRAPH_API_VERSION, GRAPH_RATE_LIMIT_BACKOFF_SECONDS, META_VIDEO_POLL_SECONDS),
    # Images, or one video (POST /{page-id}/videos with file_url), which Facebook answers at once
    # and processes before it is public: a video post is PUBLISHED once Facebook says it is ready.
    media=(IMAGE, VIDEO),
    waits_until_public=True,
)
