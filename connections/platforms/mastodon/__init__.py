"""Mastodon, on the account's own instance: docs/platforms/mastodon.md."""

from connections.platforms.declaration import Cap, Declaration, Setting

# How long an instance's limits (GET /api/v2/instance) are kept before being read again.
INSTANCE_CACHE_SECONDS = Setting("MASTODON_INSTANCE_CACHE_SECONDS", 3600)

DECLARATION = Declaration(
    name="MASTODON",
    label="Mastodon",
    adapter="connections.platforms.mastodon.adapter.MastodonAdapter",
    # OAuth on the person's instance, planrrr's app registered there on first use: nothing to configure.
    client="connections.platforms.mastodon.client.MastodonClient",
    standin="connections.platforms.mastodon.standin",
    docs="docs/platforms/mastodon.md",
    # No API URL: every connection names its instance (Connection.base_url).
    settings=(INSTANCE_CACHE_SECONDS,),
    # Statuses: about 300 per 3 hours per account (an instance's settings may differ).
    caps=(Cap(count=300, window_seconds=3 * 3600),),
)
