"""TikTok (the Content Posting API's Direct Post, Login Kit v2): docs/platforms/tiktok.md."""

from connections.platforms.declaration import VIDEO, Cap, Declaration, Setting

# The size of each chunk of a FILE_UPLOAD: TikTok takes 5 MB to 64 MB (the last chunk up to
# 128 MB); a video smaller than one chunk is uploaded whole.
TIKTOK_UPLOAD_CHUNK_BYTES = Setting("TIKTOK_UPLOAD_CHUNK_BYTES", 10_000_000)
# Whether the media URLs' domain is verified in planrrr's TikTok app: then TikTok pulls the video
# itself (PULL_FROM_URL) instead of planrrr uploading it (FILE_UPLOAD).
TIKTOK_MEDIA_DOMAIN_VERIFIED = Setting("TIKTOK_MEDIA_DOMAIN_VERIFIED", False)
# How long to wait between two looks at a post TikTok is processing (status/fetch).
TIKTOK_STATUS_POLL_SECONDS = Setting("TIKTOK_STATUS_POLL_SECONDS", 10)
# How long a 429 (6 video/init requests a minute per user token) waits when TikTok says no time.
TIKTOK_RATE_LIMIT_BACKOFF_SECONDS = Setting("TIKTOK_RATE_LIMIT_BACKOFF_SECONDS", 60)

DECLARATION = Declaration(
    name="TIKTOK",
    label="TikTok",
    adapter="connections.platforms.tiktok.adapter.TikTokAdapter",
    client="connections.platforms.tiktok.client.TikTokClient",
    standin="connections.platforms.tiktok.standin",
    docs="docs/platforms/tiktok.md",
    api_url=Setting("TIKTOK_API_URL", "https://open.tiktokapis.com", standin="tiktok"),
    client_id=Setting("TIKTOK_CLIENT_KEY", ""),
    client_secret=Setting("TIKTOK_CLIENT_SECRET", ""),
    oauth_url=Setting("TIKTOK_OAUTH_URL", "https://www.tiktok.com", standin="tiktok-www"),
    settings=(
        TIKTOK_UPLOAD_CHUNK_BYTES,
        TIKTOK_MEDIA_DOMAIN_VERIFIED,
        TIKTOK_STATUS_POLL_SECONDS,
        TIKTOK_RATE_LIMIT_BACKOFF_SECONDS,
    ),
    # TikTok publishes no per-creator daily cap (it answers spam_risk_too_many_posts past it);
    # schedulers report about 15 posts a day through the API. An unaudited app reaches 5 users a
    # day, which is no per-account cap (docs/platforms/tiktok.md).
    caps=(Cap(count=15, window_seconds=24 * 3600),),
    # Video only: photo posts (media_type PHOTO) are PULL_FROM_URL from a verified domain, later work.
    media=(VIDEO,),
    # Direct Post answers publish_id at once; the post exists once status/fetch says PUBLISH_COMPLETE.
    waits_until_public=True,
)
