"""What Facebook and Instagram share: Meta's Graph API (its error envelope and usage headers,
``graph``) and the variables both read. Each is a platform of its own (``facebook``,
``instagram``); this package is not one."""

from connections.platforms.declaration import Setting

GRAPH_API_VERSION = Setting("GRAPH_API_VERSION", "v21.0")
# Graph's rate-limit errors carry no reset time (at best minutes in usage headers): a wait of at
# least this long before trying again.
GRAPH_RATE_LIMIT_BACKOFF_SECONDS = Setting("GRAPH_RATE_LIMIT_BACKOFF_SECONDS", 60)
