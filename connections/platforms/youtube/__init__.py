"""YouTube (the YouTube Data API v3): docs/platforms/youtube.md."""

from connections.platforms.declaration import VIDEO, Declaration, ProjectQuota, Setting
from connections.platforms.google import GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, GOOGLE_OAUTH_URL, GOOGLE_TOKEN_URL

# The quota of planrrr's Google Cloud project (one per installation, every channel of every team
# shares it): videos.insert has a bucket of its own, 100 calls a day at 1 unit each, reset at
# midnight Pacific time (https://developers.google.com/youtube/v3/determine_quota_cost). A project
# on the older model (10,000 units shared by every method, an upload costing 1,600) or with a
# raised quota says so here.
YOUTUBE_DAILY_QUOTA_UNITS = Setting("YOUTUBE_DAILY_QUOTA_UNITS", 100)
YOUTUBE_UPLOAD_COST_UNITS = Setting("YOUTUBE_UPLOAD_COST_UNITS", 1)
# What the analytics (videos.list and channels.list, 1 unit a call) may spend of the project's
# units in a Pacific day at most; publishing's own share is kept free of them whatever this says
# (publishing.services.caps.analytics_quota_units).
YOUTUBE_ANALYTICS_DAILY_UNITS = Setting("YOUTUBE_ANALYTICS_DAILY_UNITS", 5000)
# The permission the YouTube Analytics API's reports need ("View YouTube Analytics reports for your
# YouTube content").
ANALYTICS_SCOPE = "https://www.googleapis.com/auth/yt-analytics.readonly"
# The YouTube Analytics API (watch time, shares): another host than the Data API's, with a quota of
# its own (docs/platforms/youtube.md, "Engagement figures").
YOUTUBE_ANALYTICS_URL = Setting(
    "YOUTUBE_ANALYTICS_URL", "https://youtubeanalytics.googleapis.com", standin="youtube-analytics"
)
# Bytes per upload request: a multiple of 256 KiB (the resumable protocol's rule); the last chunk
# is what is left.
YOUTUBE_UPLOAD_CHUNK_BYTES = Setting("YOUTUBE_UPLOAD_CHUNK_BYTES", 8 * 1024 * 1024)
# How long to wait between two reads of an uploaded video's processing status.
YOUTUBE_PROCESSING_POLL_SECONDS = Setting("YOUTUBE_PROCESSING_POLL_SECONDS", 60)

DECLARATION = Declaration(
    name="YOUTUBE",
    label="YouTube",
    adapter="connections.platforms.youtube.adapter.YouTubeAdapter",
    client="connections.platforms.youtube.client.YouTubeClient",
    standin="connections.platforms.youtube.standin",
    docs="docs/platforms/youtube.md",
    # The Data API (/youtube/v3/...) and its uploads (/upload/youtube/v3/...) share one host.
    api_url=Setting("YOUTUBE_API_URL", "https://www.googleapis.com", standin="youtube"),
    client_id=GOOGLE_CLIENT_ID,
    client_secret=GOOGLE_CLIENT_SECRET,
    oauth_url=GOOGLE_OAUTH_URL,
    settings=(
        GOOGLE_TOKEN_URL,
        YOUTUBE_ANALYTICS_URL,
        YOUTUBE_DAILY_QUOTA_UNITS,
        YOUTUBE_UPLOAD_COST_UNITS,
        YOUTUBE_ANALYTICS_DAILY_UNITS,
        YOUTUBE_UPLOAD_CHUNK_BYTES,
        YOUTUBE_PROCESSING_POLL_SECONDS,
    ),
    # No per-channel cap is documented; the project's daily quota is the limit, counted across
    # the installation (publishing.services.caps).
    quota=ProjectQuota(
        units=YOUTUBE_DAILY_QUOTA_UNITS,
        cost=YOUTUBE_UPLOAD_COST_UNITS,
        zone="America/Los_Angeles",
        analytics_units=YOUTUBE_ANALYTICS_DAILY_UNITS,
    ),
    media=(VIDEO,),
    # A video is PUBLISHED once YouTube has processed it (uploadStatus "processed"): one it
    # rejects or fails to process is FAILED with the reason, never shown as published.
    waits_until_public=True,
)
