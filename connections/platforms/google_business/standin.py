"""Google Business Profile as planrrr meets it (docs/platforms/google-business.md):

* ``gbp-accounts/v1/accounts`` (Account Management API) and ``gbp-info/v1/accounts/{a}/locations``
  (Business Information API): Acme Coffee's account and its two locations.
* ``POST gbp/v4/accounts/{a}/locations/{l}/localPosts`` (kind CREATE) -> 200 and the LocalPost in
  state PROCESSING (LIVE at once with ``gbp_polls_before_live`` 0); ``GET`` lists the location's
  local posts, newest first (``pageSize``, ``pageToken``); a summary over 1,500 characters is 400.
* ``GET gbp/v4/accounts/{a}/locations/{l}/localPosts/{p}`` -> the LocalPost: PROCESSING for
  ``gbp_polls_before_live`` reads, then LIVE with a ``searchUrl``, or REJECTED when
  ``gbp_reject_contains`` is in its summary ("*": every post).

* ``GET gbp-performance/v1/locations/{l}:fetchMultiDailyMetricsTimeSeries``: the location's daily
  metrics (Business Profile Performance API), a value per day (none where it is zero).

429, an expired token and a dropped answer are the gate's (``_control/fail`` rate_limit,
token_expired, accept_then_drop). Errors in Google's envelope; the consent and token endpoints are
Google's (connections/platforms/google/standin_auth.py), included here.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.http import HttpResponse, JsonResponse
from django.urls import include, path, re_path

from connections.platforms.google.standin import GoogleDialect, google_error
from connections.platforms.google.standin_auth import PEOPLE, person_of
from connections.platforms.google_business import DECLARATION
from mockapis import engagement
from mockapis.gate import Call, endpoint
from mockapis.media import FetchError, fetch_image
from mockapis.records import CREATE, READ, iso
from mockapis.state import store

GBP = GoogleDialect(DECLARATION.name, DECLARATION.label)
ACCOUNTS = {
    PEOPLE[0]["id"]: {"name": "accounts/106432298714625830841", "accountName": "Acme Coffee", "type": "LOCATION_GROUP"},
    PEOPLE[1]["id"]: {"name": "accounts/104518329023756412087", "accountName": "Sam Solo", "type": "PERSONAL"},
}
LOCATIONS = {
    "accounts/106432298714625830841": [
        {
            "name": "locations/3418226097813749921",
            "title": "Acme Coffee Main Street",
            "storefrontAddress": {"addressLines": ["12 Main Street"], "locality": "Portland", "regionCode": "US"},
        },
        {
            "name": "locations/9027715543109824412",
            "title": "Acme Coffee Harbour",
            "storefrontAddress": {"addressLines": ["3 Harbour Road"], "locality": "Portland", "regionCode": "US"},
        },
    ],
    "accounts/104518329023756412087": [],
}
PARENT = r"^gbp/v4/(?P<parent>accounts/[^/]+/locations/[^/]+)"


def parent_of(call: Call, kwargs: dict) -> str:
    return kwargs["parent"]


def _manages(call: Call, parent: str) -> bool:
    account = ACCOUNTS[person_of(call.token)["id"]]["name"]
    return parent.startswith(f"{account}/") and parent.split("/", 2)[2] in {
        location["name"] for location in LOCATIONS[account]
    }


@endpoint(GBP, {"GET": READ})
def accounts_list(call: Call, **_: Any) -> HttpResponse:
    return JsonResponse({"accounts": [ACCOUNTS[person_of(call.token)["id"]]]})


@endpoint(GBP, {"GET": READ})
def locations_list(call: Call, account: str, **_: Any) -> HttpResponse:
    if ACCOUNTS[person_of(call.token)["id"]]["name"] != account:
        return google_error(403, "The caller does not have permission", "", domain="global")
    if not call.query.get("readMask"):
        return GBP.invalid(call, "Request contains an invalid argument: readMask is required.")
    return JsonResponse({"locations": LOCATIONS.get(account, [])})


def _state(post, *, read: bool) -> str:
    with store.lock:
        extra = post.extra
        if extra["state"] == "PROCESSING" and read:
            extra["reads"] += 1
        if extra["state"] == "PROCESSING" and extra["reads"] >= store.config.gbp_polls_before_live:
            rejected = extra["reject"]
            extra["state"] = "REJECTED" if rejected else "LIVE"
        return extra["state"]


def _local_post(post) -> dict[str, Any]:
    state = post.extra["state"]
    item = {
        "name": f"{post.account}/localPosts/{post.id}",
        "languageCode": "en",
        "summary": post.text,
        "topicType": "STANDARD",
        "state": state,
        "createTime": iso(post.created),
        "updateTime": iso(post.created),
        "media": post.extra["media"],
    }
    if post.extra.get("callToAction"):
        item["callToAction"] = post.extra["callToAction"]
    if state == "LIVE":
        item["searchUrl"] = f"https://local.google.com/place?id=standin&use=posts&lpsid={post.id}"
    return item


@endpoint(GBP, {"POST": CREATE, "GET": READ}, account=parent_of)
def local_posts(call: Call, parent: str, **_: Any) -> HttpResponse:
    if not _manages(call, parent):
        return google_error(404, "Requested entity was not found.", "notFound")
    if call.request.method == "GET":
        posts = [p for p in store.find_posts("GOOGLE_BUSINESS", parent)]
        for post in posts:
            _state(post, read=False)
        size = min(100, int(call.query.get("pageSize") or 20))
        start = int(call.query.get("pageToken") or 0)
        body: dict[str, Any] = {"localPosts": [_local_post(p) for p in posts[start : start + size]]}
        if start + size < len(posts):
            body["nextPageToken"] = str(start + size)
        return JsonResponse(body)
    body = call.body if isinstance(call.body, dict) else {}
    summary = str(body.get("summary") or "")
    if len(summary) > 1500:
        return GBP.invalid(call, "Request contains an invalid argument: summary is longer than 1500 characters.")
    if body.get("topicType", "STANDARD") not in ("STANDARD", "EVENT", "OFFER", "ALERT"):
        return GBP.invalid(call, "Request contains an invalid argument: topicType.")
    media = body.get("media") or []
    for item in media:
        try:
            fetch_image(str(item.get("sourceUrl") or ""), store.config.fetch_timeout_seconds)
        except FetchError as err:
            call.outcome = "media_fetch_failed"
            return GBP.invalid(
                call, f"Request contains an invalid argument: media sourceUrl could not be fetched: {err}"
            )
    contains = store.config.gbp_reject_contains
    post, _ = store.create_post(
        "GOOGLE_BUSINESS",
        parent,
        summary,
        make_id=lambda: store.digits(19, "1"),
        reject_duplicates=False,
        state="PROCESSING",
        reads=0,
        reject=bool(contains) and (contains == "*" or contains in summary),
        media=media,
        callToAction=body.get("callToAction"),
    )
    _state(post, read=False)
    call.outcome = "created"
    return JsonResponse(_local_post(post))


@endpoint(GBP, {"GET": READ}, account=parent_of)
def local_post(call: Call, parent: str, post_id: str, **_: Any) -> HttpResponse:
    post = store.find_post("GOOGLE_BUSINESS", post_id)
    if post is None or post.account != parent or not _manages(call, parent):
        return google_error(404, "Requested entity was not found.", "notFound")
    _state(post, read=True)
    return JsonResponse(_local_post(post))


# The Performance API's daily metrics (DailyMetric) the stand-in counts.
DAILY_METRICS = (
    "BUSINESS_IMPRESSIONS_DESKTOP_MAPS",
    "BUSINESS_IMPRESSIONS_DESKTOP_SEARCH",
    "BUSINESS_IMPRESSIONS_MOBILE_MAPS",
    "BUSINESS_IMPRESSIONS_MOBILE_SEARCH",
    "CALL_CLICKS",
    "WEBSITE_CLICKS",
    "BUSINESS_DIRECTION_REQUESTS",
    "BUSINESS_CONVERSATIONS",
    "BUSINESS_BOOKINGS",
    "BUSINESS_FOOD_ORDERS",
    "BUSINESS_FOOD_MENU_CLICKS",
)


def location_of(call: Call, kwargs: dict) -> str:
    return f"locations/{kwargs['location']}"


@endpoint(GBP, {"GET": READ}, account=location_of)
def fetch_daily_metrics(call: Call, location: str, **_: Any) -> HttpResponse:
    """``GET gbp-performance/v1/locations/{l}:fetchMultiDailyMetricsTimeSeries?dailyMetrics=…&
    dailyRange.startDate.year=…`` -> each metric's value per day of the range (a zero has no
    ``value``; the metric's day count grows with the clock); a location the token does not manage
    is 403; a metric retired by ``_control/analytics`` is 400 INVALID_ARGUMENT, as an unknown
    DailyMetric is."""
    account = ACCOUNTS[person_of(call.token)["id"]]["name"]
    if f"locations/{location}" not in {loc["name"] for loc in LOCATIONS[account]}:
        return google_error(403, "The caller does not have permission", "PERMISSION_DENIED")
    metrics = call.request.GET.getlist("dailyMetrics")
    retired = store.retired_metrics("GOOGLE_BUSINESS")
    unknown = [m for m in metrics if m not in DAILY_METRICS or m in retired]
    if not metrics or unknown:
        message = f"Invalid value at 'daily_metrics' ({', '.join(unknown) or 'none given'})"
        return google_error(400, message, "INVALID_ARGUMENT")
    try:
        start, end = (
            date(*(int(call.query[f"dailyRange.{which}.{part}"]) for part in ("year", "month", "day")))
            for which in ("startDate", "endDate")
        )
    except (KeyError, ValueError):
        return google_error(400, "dailyRange.startDate and dailyRange.endDate are required.", "INVALID_ARGUMENT")
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    series = []
    for metric in metrics:
        points = []
        for day in days:
            value = engagement.count(
                f"locations/{location}", 1_700_000_000, f"{metric}:{day}", now=1_700_000_000 + 3600
            )
            point: dict[str, Any] = {"date": {"year": day.year, "month": day.month, "day": day.day}}
            if value:
                point["value"] = str(value)
            points.append(point)
        series.append({"dailyMetric": metric, "timeSeries": {"datedValues": points}})
    return JsonResponse({"multiDailyMetricTimeSeries": [{"dailyMetricTimeSeries": series}]})


def posts_made() -> list[dict]:
    """The local posts as Google holds them now, for tests (state included)."""
    return [_local_post(post) for post in reversed(store.find_posts("GOOGLE_BUSINESS"))]


urlpatterns = [
    path("", include("connections.platforms.google.standin_auth")),
    re_path(r"^gbp-accounts/v1/accounts/?$", accounts_list),
    re_path(r"^gbp-info/v1/(?P<account>accounts/[^/]+)/locations/?$", locations_list),
    re_path(
        r"^gbp-performance/v1/locations/(?P<location>[^/:]+):fetchMultiDailyMetricsTimeSeries$", fetch_daily_metrics
    ),
    re_path(PARENT + r"/localPosts/?$", local_posts),
    re_path(PARENT + r"/localPosts/(?P<post_id>[^/]+)/?$", local_post),
]
