"""What Facebook, Instagram and Threads share: Meta's Graph API (its error envelope and usage
headers, ``graph``), the containers Meta processes (``containers``) and the variables they read.
Each is a platform of its own (``facebook``, ``instagram``, ``threads``); this package is not one."""

from connections.platforms.declaration import Setting

GRAPH_API_VERSION = Setting("GRAPH_API_VERSION", "v21.0")
# Graph's rate-limit errors carry no reset time (at best minutes in usage headers): a wait of at
# least this long before trying again.
GRAPH_RATE_LIMIT_BACKOFF_SECONDS = Setting("GRAPH_RATE_LIMIT_BACKOFF_SECONDS", 60)
# How soon to look again at a video Meta is still processing (a Facebook video, an Instagram Reel,
# a Threads video container), without holding a worker. Meta suggests a status query about once a
# minute, for up to 5 minutes (https://developers.facebook.com/docs/threads/troubleshooting): half
# that, so that a post waits at most half a minute past the end of its processing.
META_VIDEO_POLL_SECONDS = Setting("META_VIDEO_POLL_SECONDS", 30)
