"""Facebook Pages: docs/platforms/facebook.md."""

from connections.platforms.declaration import Declaration, Setting
from connections.platforms.meta import GRAPH_API_VERSION, GRAPH_RATE_LIMIT_BACKOFF_SECONDS

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
    settings=(GRAPH_API_VERSION, GRAPH_RATE_LIMIT_BACKOFF_SECONDS),
)
