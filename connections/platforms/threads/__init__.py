"""Threads (Meta's Threads API): docs/platforms/threads.md."""

from connections.platforms.declaration import IMAGE, VIDEO, Cap, Declaration, Setting
from connections.platforms.meta import GRAPH_RATE_LIMIT_BACKOFF_SECONDS, META_VIDEO_POLL_SECONDS

# The Threads API's own version, not the Graph API's (https://graph.threads.net/v1.0/...).
THREADS_API_VERSION = Setting("THREADS_API_VERSION", "v1.0")
# How long to wait before publishing a container again when threads_publish answers "media not
# found" (subcode 4279009) moments after it was made; Meta advises about 30 seconds on average.
THREADS_PUBLISH_WAIT_SECONDS = Setting("THREADS_PUBLISH_WAIT_SECONDS", 15)

DECLARATION = Declaration(
    name="THREADS",
    label="Threads",
    adapter="connections.platforms.threads.adapter.ThreadsAdapter",
    client="connections.platforms.threads.client.ThreadsClient",
    standin="connections.platforms.threads.standin",
    docs="docs/platforms/threads.md",
    api_url=Setting("THREADS_API_URL", "https://graph.threads.net", standin="threads"),
    client_id=Setting("THREADS_APP_ID", ""),
    client_secret=Setting("THREADS_APP_SECRET", ""),
    oauth_url=Setting("THREADS_OAUTH_URL", "https://threads.net", standin="threads-www"),
    settings=(
        THREADS_API_VERSION,
        THREADS_PUBLISH_WAIT_SECONDS,
        GRAPH_RATE_LIMIT_BACKOFF_SECONDS,
        META_VIDEO_POLL_SECONDS,
    ),
    # "Threads profiles are limited to 250 API-published posts within a 24-hour moving period"
    # (carousels count as one); GET /{threads-user-id}/threads_publishing_limit reports the
    # account's own (config.quota_total). Its 1,000 replies a day are not a cap here: a cap counts
    # posts, and a thread's replies are parts of one post (the platform's refusal is a wait).
    caps=(Cap(count=250, window_seconds=24 * 3600, live=True),),
    # A video is a container (media_type=VIDEO, video_url) processed like Instagram's; a carousel
    # mixes images and videos.
    media=(IMAGE, VIDEO),
)
