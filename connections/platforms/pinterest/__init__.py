"""Pinterest (API v5): docs/platforms/pinterest.md."""

from connections.platforms.declaration import IMAGE, VIDEO, Declaration, Setting

# How long to wait between two looks at a video Pinterest is still processing (GET
# /v5/media/{media_id} answers registered or processing); each look is a wait, never an attempt.
PINTEREST_MEDIA_POLL_SECONDS = Setting("PINTEREST_MEDIA_POLL_SECONDS", 10)

DECLARATION = Declaration(
    name="PINTEREST",
    label="Pinterest",
    adapter="connections.platforms.pinterest.adapter.PinterestAdapter",
    client="connections.platforms.pinterest.client.PinterestClient",
    standin="connections.platforms.pinterest.standin",
    docs="docs/platforms/pinterest.md",
    api_url=Setting("PINTEREST_API_URL", "https://api.pinterest.com", standin="pinterest"),
    client_id=Setting("PINTEREST_APP_ID", ""),
    client_secret=Setting("PINTEREST_APP_SECRET", ""),
    # The consent page (www.pinterest.com/oauth/); the token endpoint is on the API's host.
    oauth_url=Setting("PINTEREST_OAUTH_URL", "https://www.pinterest.com", standin="pinterest-www"),
    settings=(PINTEREST_MEDIA_POLL_SECONDS,),
    # Pinterest publishes no per-account publishing cap, only request rates per user and app
    # (https://developers.pinterest.com/docs/reference/rate-limits/): a 429 is honoured when it
    # comes (docs/platforms/pinterest.md).
    caps=(),
    media=(IMAGE, VIDEO),
)
