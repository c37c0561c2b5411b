"""X (Twitter), API v2: docs/platforms/x.md.

One name in the code, X (this package, XAdapter, XClient, the label); the stored value and the
API's name stay ``TWITTER`` (a contract: rows, webhooks, the API), and so do the variables of
its API, ``TWITTER_API_URL``, while those of its app are ``X_...``: the exceptions are here, once.
"""

from connections.platforms.declaration import Cap, Declaration, Setting

DECLARATION = Declaration(
    name="TWITTER",
    label="X",
    adapter="connections.platforms.x.adapter.XAdapter",
    client="connections.platforms.x.client.XClient",
    standin="connections.platforms.x.standin",
    docs="docs/platforms/x.md",
    api_url=Setting("TWITTER_API_URL", "https://api.x.com", standin="x"),
    client_id=Setting("X_CLIENT_ID", ""),
    client_secret=Setting("X_CLIENT_SECRET", ""),
    oauth_url=Setting("X_OAUTH_URL", "https://x.com", standin="x"),
    # POST /2/tweets per user: 200 per 15 minutes and 300 per 3 hours.
    caps=(Cap(count=200, window_seconds=15 * 60), Cap(count=300, window_seconds=3 * 3600)),
)
