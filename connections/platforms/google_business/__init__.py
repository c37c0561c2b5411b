"""Google Business Profile (local posts of a business's locations): docs/platforms/google-business.md."""

from connections.platforms.declaration import IMAGE, Declaration, Setting
from connections.platforms.google import GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, GOOGLE_OAUTH_URL, GOOGLE_TOKEN_URL

# The three APIs planrrr speaks, each on its own host: the Account Management API (the accounts a
# person manages), the Business Information API (their locations) and the My Business API v4
# (local posts).
GOOGLE_BUSINESS_ACCOUNTS_URL = Setting(
    "GOOGLE_BUSINESS_ACCOUNTS_URL", "https://mybusinessaccountmanagement.googleapis.com", standin="gbp-accounts"
)
GOOGLE_BUSINESS_INFO_URL = Setting(
    "GOOGLE_BUSINESS_INFO_URL", "https://mybusinessbusinessinformation.googleapis.com", standin="gbp-info"
)
# The Business Profile Performance API (a location's daily figures: impressions, calls, clicks).
GOOGLE_BUSINESS_PERFORMANCE_URL = Setting(
    "GOOGLE_BUSINESS_PERFORMANCE_URL", "https://businessprofileperformance.googleapis.com", standin="gbp-performance"
)
# How long to wait between two reads of a local post Google is still processing or reviewing.
GOOGLE_BUSINESS_POLL_SECONDS = Setting("GOOGLE_BUSINESS_POLL_SECONDS", 60)

DECLARATION = Declaration(
    name="GOOGLE_BUSINESS",
    label="Google Business Profile",
    adapter="connections.platforms.google_business.adapter.GoogleBusinessAdapter",
    client="connections.platforms.google_business.client.GoogleBusinessClient",
    standin="connections.platforms.google_business.standin",
    docs="docs/platforms/google-business.md",
    api_url=Setting("GOOGLE_BUSINESS_API_URL", "https://mybusiness.googleapis.com", standin="gbp"),
    client_id=GOOGLE_CLIENT_ID,
    client_secret=GOOGLE_CLIENT_SECRET,
    oauth_url=GOOGLE_OAUTH_URL,
    settings=(
        GOOGLE_TOKEN_URL,
        GOOGLE_BUSINESS_ACCOUNTS_URL,
        GOOGLE_BUSINESS_INFO_URL,
        GOOGLE_BUSINESS_PERFORMANCE_URL,
        GOOGLE_BUSINESS_POLL_SECONDS,
    ),
    # Google publishes no cap per location; its 429s are honoured.
    media=(IMAGE,),
    # A local post answered 200 may be PROCESSING (under review) and end REJECTED: PUBLISHED only
    # once it is LIVE.
    waits_until_public=True,
)
