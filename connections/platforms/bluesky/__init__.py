"""Bluesky, on the account's own PDS: docs/platforms/bluesky.md."""

from connections.platforms.declaration import Cap, Declaration, Setting

DECLARATION = Declaration(
    name="BLUESKY",
    label="Bluesky",
    adapter="connections.platforms.bluesky.adapter.BlueskyAdapter",
    # A handle and an app password: a session, no OAuth app.
    client="connections.platforms.bluesky.client.BlueskyClient",
    standin="connections.platforms.bluesky.standin",
    docs="docs/platforms/bluesky.md",
    # Every connection names its PDS (Connection.base_url); this is the one a connection that names
    # none uses, and the one the connect form offers.
    api_url=Setting("BLUESKY_PDS_URL", "https://bsky.social", standin="bsky"),
    # Writes: 5,000 points an hour and 35,000 a day per account, a post costs 3.
    caps=(Cap(count=1_666, window_seconds=3600), Cap(count=11_666, window_seconds=24 * 3600)),
)
