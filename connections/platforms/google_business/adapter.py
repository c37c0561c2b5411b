"""Google Business Profile's local posts through the My Business API v4
(docs/platforms/google-business.md).

``POST https://mybusiness.googleapis.com/v4/accounts/{a}/locations/{l}/localPosts`` with a
LocalPost (``summary`` up to 1,500 characters, ``topicType`` STANDARD, ``media`` by
``sourceUrl``, an optional ``callToAction``) -> 200 and the LocalPost, whose ``state``
(https://developers.google.com/my-business/reference/rest/v4/accounts.locations.localPosts#LocalPostState)
may still be PROCESSING ("This post is being processed and is not appearing in search results")
and end REJECTED ("This post was rejected due to content policy violation") rather than LIVE
("published and is currently appearing in search results"). A 200 is not a publication: one
scheduler showed rejected posts as published. So the publication waits (NotReady, the local
post's ``name`` in ``draft.state``), reading ``GET {name}``, and is PUBLISHED once the post is LIVE
(with its ``searchUrl``), FAILED with Google's words once REJECTED.

A lost answer is found among the location's local posts (``GET .../localPosts``, newest first) by
the summary planrrr sent, made since the attempt.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

from django.conf import settings
from django.utils import timezone

from connections.platforms.base import Account, Draft, NotReady, PermanentError, Published, parse_time
from connections.platforms.config import value_of
from connections.platforms.figures import FOLLOWERS, Figures, count
from connections.platforms.google.errors import GoogleErrorMixin
from connections.platforms.google_business import (
    DECLARATION,
    GOOGLE_BUSINESS_PERFORMANCE_URL,
    GOOGLE_BUSINESS_POLL_SECONDS,
)
from connections.platforms.http import HttpAdapter

LOCAL_POST = "localPost"
# https://developers.google.com/my-business/reference/rest/v4/accounts.locations.localPosts#ActionType
ACTIONS = ("BOOK", "ORDER", "SHOP", "LEARN_MORE", "SIGN_UP", "CALL")
# The state's words, as Google's reference gives them.
STATES = {
    "PROCESSING": "This post is being processed and is not appearing in search results.",
    "REJECTED": "This post was rejected due to content policy violation.",
    "SCHEDULED": "This post is scheduled for the future and is not appearing in search results.",
}


# The location's daily metrics read (https://developers.google.com/my-business/reference/performance/rest/v1/DailyMetric).
DAILY_METRICS = (
    "BUSINESS_IMPRESSIONS_DESKTOP_MAPS",
    "BUSINESS_IMPRESSIONS_DESKTOP_SEARCH",
    "BUSINESS_IMPRESSIONS_MOBILE_MAPS",
    "BUSINESS_IMPRESSIONS_MOBILE_SEARCH",
    "CALL_CLICKS",
    "WEBSITE_CLICKS",
    "BUSINESS_DIRECTION_REQUESTS",
    "BUSINESS_CONVERSATIONS",
)
# Google's figures come days late: the last week is asked, and its latest day with figures kept.
PERFORMANCE_DAYS = 7


class GoogleBusinessAdapter(GoogleErrorMixin, HttpAdapter):
    declaration = DECLARATION
    # No figures per local post: the v4 API's localPosts.reportInsights went with the v4 insights
    # (replaced by the Business Profile Performance API, which is per location and day), and no
    # documented endpoint gives a local post's views or clicks today (docs/platforms/google-business.md).
    post_metrics_absent = (
        "Google gives no figures per Business Profile post: its posts' insights (localPosts.reportInsights) were "
        "retired, and the Business Profile Performance API counts per location and day only; the location's "
        "figures are on its channel."
    )
    # One reading a day per location; the Performance API's quota is the Google Cloud project's.
    metrics_budget = (10, 3600)
    # LocalPost.summary; 1,500 characters in Google's Business Profile help (not in the API
    # reference: docs/platforms/google-business.md).
    max_text_length = 1500
    # One photo per post by URL (``media[].sourceUrl``); more is not confirmed.
    max_images = 1
    options: ClassVar[dict[str, str]] = {
        "callToAction": 'a button: {"actionType": "LEARN_MORE" (BOOK, ORDER, SHOP, SIGN_UP, CALL), "url": '
        '"https://..."} (CALL takes no url)',
    }

    option_kinds: ClassVar[dict[str, str]] = {"callToAction": "json"}

    def options_problems(self, options: dict, *, details: dict) -> list[str]:
        unknown = super().options_problems(options, details=details)
        action = options.get("callToAction")
        if unknown or action is None:
            return unknown
        if not isinstance(action, dict) or action.get("actionType") not in ACTIONS:
            return [
                f'Google Business Profile\'s options.callToAction is {{"actionType": one of {", ".join(ACTIONS)}, '
                '"url": "https://..."}.'
            ]
        url = action.get("url")
        if action["actionType"] == "CALL":
            return [] if url is None else ["Google Business Profile's CALL button takes no url: remove it."]
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            return [f"Google Business Profile's {action['actionType']} button needs an http(s) url."]
        return []

    def account_metrics(self, account: Account) -> Figures:
        """``GET {performance}/v1/locations/{id}:fetchMultiDailyMetricsTimeSeries?dailyMetrics=…&
        dailyRange.startDate.year=…`` -> ``{"multiDailyMetricTimeSeries": [{"dailyMetricTimeSeries":
        [{"dailyMetric", "timeSeries": {"datedValues": [{"date": {"year", "month", "day"}, "value":
        "12"}]}}]}]}`` (a zero is a dated value without ``value``). The location's latest day with
        figures, each metric by Google's name; a location has no followers."""
        location = account.account_id.rsplit("/locations/", 1)[-1]
        today = timezone.now().date()
        start, end = today - timedelta(days=PERFORMANCE_DAYS), today - timedelta(days=1)
        params: list[tuple[str, str | int]] = [("dailyMetrics", name) for name in DAILY_METRICS]
        for which, day in (("startDate", start), ("endDate", end)):
            params += [(f"dailyRange.{which}.year", day.year), (f"dailyRange.{which}.month", day.month)]
            params += [(f"dailyRange.{which}.day", day.day)]
        base = str(value_of(GOOGLE_BUSINESS_PERFORMANCE_URL)).rstrip("/")
        url = f"{base}/v1/locations/{location}:fetchMultiDailyMetricsTimeSeries"
        response = self.request("GET", url, account=account, params=params)
        groups = self.json(response).get("multiDailyMetricTimeSeries")
        if not isinstance(groups, list):
            raise self.malformed(response, "no multiDailyMetricTimeSeries")
        by_day: dict[tuple, dict[str, int]] = {}
        for group in groups:
            for series in group.get("dailyMetricTimeSeries", []) if isinstance(group, dict) else []:
                name = series.get("dailyMetric") if isinstance(series, dict) else None
                dated = (series.get("timeSeries") or {}).get("datedValues") if name in DAILY_METRICS else None
                for point in dated if isinstance(dated, list) else []:
                    when = point.get("date") if isinstance(point, dict) else None
                    if not isinstance(when, dict):
                        continue
                    day = (when.get("year"), when.get("month"), when.get("day"))
                    value = count(point.get("value", 0))
                    if value is not None:
                        by_day.setdefault(day, {})[name] = value
        latest = by_day[max(by_day)] if by_day else {}
        figures = Figures.mapped(latest, {}, expected=DAILY_METRICS if by_day else (), label="Google Business Profile")
        figures.unavailable[FOLLOWERS] = "A Business Profile location has no followers."
        return figures

    def refuse_invalid(self, draft: Draft, *, base_url: str = "") -> None:
        super().refuse_invalid(draft, base_url=base_url)
        problems = self.options_problems(draft.options, details={})
        if not draft.text.strip() and not draft.media_urls:
            problems.append("Google Business Profile needs a text or a photo: write a summary.")
        if problems:
            raise PermanentError(" ".join(problems))

    def publish(self, account: Account, draft: Draft) -> Published:
        self.refuse_invalid(draft)
        name = draft.state.get(LOCAL_POST)
        if name:
            return self.verdict(draft, self.read(account, str(name)))
        body: dict = {"summary": draft.text, "topicType": "STANDARD"}
        if draft.media_urls:
            body["media"] = [{"mediaFormat": "PHOTO", "sourceUrl": url} for url in draft.media_urls]
        if draft.options.get("callToAction"):
            body["callToAction"] = dict(draft.options["callToAction"])
        response = self.request("POST", f"/v4/{account.account_id}/localPosts", account=account, json=body)
        post = self.json(response)
        if not post.get("name"):
            raise self.malformed(response, "no local post name")
        draft.state[LOCAL_POST] = str(post["name"])
        return self.verdict(draft, post)

    def read(self, account: Account, name: str) -> dict:
        """GET {name}: the local post as it is now."""
        response = self.request("GET", f"/v4/{name}", account=account)
        post = self.json(response)
        if post.get("name") != name:
            raise self.malformed(response, "not the local post asked for")
        return post

    def verdict(self, draft: Draft, post: dict) -> Published:
        name, state = str(post["name"]), post.get("state")
        if state in ("LIVE", "RECURRING"):
            return Published(external_id=name, url=str(post.get("searchUrl") or ""), metadata={"state": state})
        if state == "REJECTED":
            raise PermanentError(
                f"Google rejected the local post {name}: {STATES['REJECTED'].rstrip('.')} (state REJECTED). Change "
                "the text or the photo to follow Google's content policies for posts, then post it again."
            )
        # PROCESSING (under review), SCHEDULED, or no state yet: not in search results yet.
        words = STATES.get(str(state), "It is not live yet.")
        raise NotReady(
            f"Google has not made the local post {name} live yet (state {state or 'none'}): {words}",
            retry_at=timezone.now() + timedelta(seconds=value_of(GOOGLE_BUSINESS_POLL_SECONDS)),
        )

    def find_published(self, account: Account, draft: Draft, since: datetime) -> str | None:
        """The location's local post with this summary made since ``since``: its name if it is
        live; kept in ``draft.state`` and None while Google still processes it (``publish`` then
        waits for it); PermanentError if Google rejected it. ``GET .../localPosts?pageSize=100``
        -> ``{"localPosts": [...], "nextPageToken"}``, newest first."""
        if draft.state.get(LOCAL_POST):
            return None
        params: dict = {"pageSize": 100}
        for _ in range(settings.RECONCILE_MAX_PAGES):
            response = self.request("GET", f"/v4/{account.account_id}/localPosts", account=account, params=params)
            body = self.json(response)
            posts = body.get("localPosts", [])
            if not isinstance(posts, list):
                raise self.malformed(response, "no localPosts list")
            for post in posts:
                if not isinstance(post, dict) or post.get("summary") != draft.text or not post.get("name"):
                    continue
                made = parse_time(post.get("createTime"))
                if made is not None and made < since:
                    continue
                draft.state[LOCAL_POST] = str(post["name"])
                try:
                    return self.verdict(draft, post).external_id
                except NotReady:
                    return None
            if not body.get("nextPageToken"):
                return None
            params["pageToken"] = body["nextPageToken"]
        return None
