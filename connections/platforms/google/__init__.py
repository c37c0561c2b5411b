"""What YouTube and Google Business Profile share: Google's OAuth 2.0 app (one Google Cloud
project: its client id and secret, its consent and token endpoints; ``oauth``), Google's error
envelope (``errors``) and the stand-in's Google accounts (``standin_auth``). Each is a platform of
its own (``youtube``, ``google_business``); this package is not one (docs/platforms/youtube.md,
docs/platforms/google-business.md)."""

from connections.platforms.declaration import Setting

# One OAuth client of planrrr's Google Cloud project connects both (the scopes differ).
GOOGLE_CLIENT_ID = Setting("GOOGLE_CLIENT_ID", "")
GOOGLE_CLIENT_SECRET = Setting("GOOGLE_CLIENT_SECRET", "")
# Where the consent page lives (https://accounts.google.com/o/oauth2/v2/auth) and where codes and
# refresh tokens are exchanged (https://oauth2.googleapis.com/token): two hosts.
GOOGLE_OAUTH_URL = Setting("GOOGLE_OAUTH_URL", "https://accounts.google.com", standin="google-accounts")
GOOGLE_TOKEN_URL = Setting("GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com", standin="google-oauth2")
