"""LinkedIn members and organizations (REST Posts API): docs/platforms/linkedin.md."""

from connections.platforms.declaration import Cap, Declaration, Setting

API_VERSION = Setting("LINKEDIN_API_VERSION", "202501")
# The member scopes, plus the organization ones (which need LinkedIn's Community Management API).
SCOPES = Setting(
    "LINKEDIN_SCOPES",
    "openid profile w_member_social w_organization_social r_organization_social rw_organization_admin",
)

DECLARATION = Declaration(
    name="LINKEDIN",
    label="LinkedIn",
    adapter="connections.platforms.linkedin.adapter.LinkedInAdapter",
    client="connections.platforms.linkedin.client.LinkedInClient",
    standin="connections.platforms.linkedin.standin",
    docs="docs/platforms/linkedin.md",
    api_url=Setting("LINKEDIN_API_URL", "https://api.linkedin.com", standin="linkedin"),
    client_id=Setting("LINKEDIN_CLIENT_ID", ""),
    client_secret=Setting("LINKEDIN_CLIENT_SECRET", ""),
    # The consent page and the token endpoint.
    oauth_url=Setting("LINKEDIN_OAUTH_URL", "https://www.linkedin.com", standin="linkedin-www"),
    settings=(API_VERSION, SCOPES),
    # No published per-account cap (docs/platforms/linkedin.md): 100 posts a day, the figure other
    # schedulers keep to.
    caps=(Cap(count=100, window_seconds=24 * 3600),),
)
