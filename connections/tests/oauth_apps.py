"""The OAuth apps the connect and renewal tests configure, and the platforms' token endpoints
as those tests see them (recorded answers, responses)."""

from urllib.parse import parse_qs, urlsplit

OAUTH = {
    "X_CLIENT_ID": "x-id",
    "X_CLIENT_SECRET": "x-secret-value",
    "FACEBOOK_APP_ID": "fb-id",
    "FACEBOOK_APP_SECRET": "fb-secret-value",
    "LINKEDIN_CLIENT_ID": "li-id",
    "LINKEDIN_CLIENT_SECRET": "li-secret-value",
    "X_OAUTH_URL": "https://x.test",
    "TWITTER_API_URL": "https://api.x.test",
    "FACEBOOK_OAUTH_URL": "https://www.facebook.test",
    "FACEBOOK_API_URL": "https://graph.facebook.test",
    "GRAPH_API_VERSION": "v21.0",
    "LINKEDIN_OAUTH_URL": "https://www.linkedin.test",
    "LINKEDIN_API_URL": "https://api.linkedin.test",
}
X_TOKEN = "https://api.x.test/2/oauth2/token"
FB_TOKEN = "https://graph.facebook.test/v21.0/oauth/access_token"
FB_ACCOUNTS = "https://graph.facebook.test/v21.0/me/accounts"
LI_TOKEN = "https://www.linkedin.test/oauth/v2/accessToken"


def form(call) -> dict:
    return {k: v[0] for k, v in parse_qs(call.request.body or "").items()}


def query(call) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}
