"""Google Business Profile's connect client (docs/platforms/google-business.md): Google's OAuth
(connections/platforms/google/oauth.py) with ``business.manage``, and the locations to pick from:

* ``GET https://mybusinessaccountmanagement.googleapis.com/v1/accounts`` -> ``{"accounts":
  [{"name": "accounts/123", "accountName", "type"}], "nextPageToken"}``
  (https://developers.google.com/my-business/reference/accountmanagement/rest/v1/accounts/list);
* for each, ``GET https://mybusinessbusinessinformation.googleapis.com/v1/accounts/123/locations
  ?readMask=name,title,storefrontAddress`` -> ``{"locations": [{"name": "locations/456", "title",
  "storefrontAddress": {"addressLines", "locality"}}], "nextPageToken"}``
  (https://developers.google.com/my-business/reference/businessinformation/rest/v1/accounts.locations/list).

A connection is one location: its account id is ``accounts/123/locations/456``, the parent of its
local posts in the v4 API.
"""

from __future__ import annotations

from connections.grants import AccountChoice, Grant
from connections.oauth import OAuthFailure
from connections.platforms.config import value_of
from connections.platforms.google.oauth import GoogleClient
from connections.platforms.google_business import (
    DECLARATION,
    GOOGLE_BUSINESS_ACCOUNTS_URL,
    GOOGLE_BUSINESS_INFO_URL,
)

# Pages of accounts, and of each account's locations, read at most.
MAX_PAGES = 10


class GoogleBusinessClient(GoogleClient):
    declaration = DECLARATION
    scope_list = ("https://www.googleapis.com/auth/business.manage",)

    def pages(self, url: str, key: str, *, token: str, what: str, params: dict) -> list[dict]:
        found: list[dict] = []
        params = dict(params)
        for _ in range(MAX_PAGES):
            body = self.api_get(url, token=token, what=what, params=params)
            found.extend(item for item in body.get(key) or [] if isinstance(item, dict) and item.get("name"))
            if not body.get("nextPageToken"):
                break
            params["pageToken"] = body["nextPageToken"]
        return found

    def accounts(self, grant: Grant) -> list[AccountChoice]:
        token = grant.access_token
        accounts_url = str(value_of(GOOGLE_BUSINESS_ACCOUNTS_URL)).rstrip("/")
        info_url = str(value_of(GOOGLE_BUSINESS_INFO_URL)).rstrip("/")
        choices = []
        for account in self.pages(
            f"{accounts_url}/v1/accounts", "accounts", token=token, what="your Business Profile accounts", params={}
        ):
            locations = self.pages(
                f"{info_url}/v1/{account['name']}/locations",
                "locations",
                token=token,
                what="your Business Profile locations",
                params={"readMask": "name,title,storefrontAddress", "pageSize": 100},
            )
            for location in locations:
                address = (
                    location.get("storefrontAddress") if isinstance(location.get("storefrontAddress"), dict) else {}
                )
                where = ", ".join([*address.get("addressLines", [])[:1], address.get("locality", "")]).strip(", ")
                choices.append(
                    AccountChoice(
                        self.platform,
                        f"{account['name']}/{location['name']}",
                        str(location.get("title") or location["name"]),
                        grant,
                        note=where or str(account.get("accountName") or ""),
                    )
                )
        if not choices:
            raise OAuthFailure(
                "This Google account manages no Business Profile location: add or claim the business on Google, "
                "then connect again."
            )
        return choices
