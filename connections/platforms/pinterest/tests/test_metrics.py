"""Pinterest's engagement figures: a pin's analytics over the last 90 days, the account's followers."""

from datetime import timedelta

import responses
from django.test import override_settings

from connections.platforms.base import Account, PermanentError, RateLimited, TransientError
from connections.platforms.pinterest.adapter import PinterestAdapter
from connections.tests.contract import NOW, AdapterTestCase

API = "https://pinterest.test"
ACCOUNT = Account(account_id="pinner-1", access_token="pina_1")
SUMMARY = {"IMPRESSION": 500, "SAVE": 12, "PIN_CLICK": 30, "OUTBOUND_CLICK": 8, "VIDEO_MRC_VIEW": 90}
# The spec's PinAnalyticsMetricsResponse example: lifetime counts apart, a video's play times in ms.
LIFETIME = {"TOTAL_COMMENTS": 10, "TOTAL_REACTIONS": 12}
VIDEO = {**SUMMARY, "VIDEO_V50_WATCH_TIME": 10031, "VIDEO_AVG_WATCH_TIME": 2507.75}
IMAGE = {"IMPRESSION": 500, "SAVE": 12, "PIN_CLICK": 30, "OUTBOUND_CLICK": 8}


@override_settings(PINTEREST_API_URL=API)
class PinterestMetricsTests(AdapterTestCase):
    adapter_class = PinterestAdapter

    def answer(self, summary: dict, **every) -> None:
        body = {"all": {"daily_metrics": [], "summary_metrics": summary, **every}}
        self.http.add(responses.GET, f"{API}/v5/pins/991/analytics", json=body)

    def test_it_reads_a_pins_figures_over_the_last_ninety_days(self):
        self.answer(VIDEO, lifetime_metrics=LIFETIME)

        figures = self.adapter.post_metrics(ACCOUNT, ["991"])["991"]

        query = self.query(self.http.calls[0])
        # NOW is 2025-03-01: 90 days, today included.
        self.assertEqual((query["start_date"], query["end_date"]), ("2024-12-02", "2025-03-01"))
        self.assertEqual(
            query["metric_types"].split(","),
            [
                "IMPRESSION",
                "SAVE",
                "PIN_CLICK",
                "OUTBOUND_CLICK",
                "TOTAL_REACTIONS",
                "TOTAL_COMMENTS",
                "VIDEO_MRC_VIEW",
                "VIDEO_V50_WATCH_TIME",
                "VIDEO_AVG_WATCH_TIME",
            ],
        )
        self.assertEqual(
            figures.values,
            {
                "views": 500,
                "saves": 12,
                "clicks": 8,
                "videoViews": 90,
                "likes": 12,
                "comments": 10,
                "watchSeconds": 10,
            },
            "10,031 ms of play time is 10 whole seconds",
        )
        self.assertEqual(figures.raw["PIN_CLICK"], 30)
        self.assertEqual((figures.raw["TOTAL_REACTIONS"], figures.raw["TOTAL_COMMENTS"]), (12, 10))
        self.assertEqual(figures.raw["VIDEO_V50_WATCH_TIME"], 10031)
        self.assertEqual(figures.raw["VIDEO_AVG_WATCH_TIME"], 2507, "whole milliseconds: raw values are integers")
        self.assertEqual(set(figures.unavailable), {"reach", "shares"})
        self.assertIn("no shares", figures.unavailable["shares"])

    def test_likes_and_comments_are_the_lifetime_counts_not_a_summary_of_the_same_name(self):
        self.answer({**IMAGE, "TOTAL_REACTIONS": 3}, lifetime_metrics={"TOTAL_REACTIONS": 40, "TOTAL_COMMENTS": 0})

        figures = self.adapter.post_metrics(ACCOUNT, ["991"])["991"]

        self.assertEqual((figures.values["likes"], figures.values["comments"]), (40, 0), "a zero is a count")
        self.assertEqual(figures.raw["TOTAL_REACTIONS"], 40)

    def test_a_metric_pinterest_no_longer_gives_is_unavailable_and_the_others_are_read(self):
        summary = {"IMPRESSION": 500, "PIN_CLICK": 30, "OUTBOUND_CLICK": 8}
        self.answer(summary, lifetime_metrics={"TOTAL_REACTIONS": 7})

        figures = self.adapter.post_metrics(ACCOUNT, ["991"])["991"]

        self.assertIn("SAVE", figures.unavailable)
        self.assertNotIn("saves", figures.values)
        self.assertIn("videoViews", figures.unavailable, "an image pin has no video views")
        self.assertEqual(figures.values["views"], 500)
        self.assertEqual(figures.values["likes"], 7)
        self.assertNotIn("comments", figures.values, "left out: unavailable, not zero")
        self.assertIn("did not return 'TOTAL_COMMENTS'", figures.unavailable["comments"])

    def test_an_image_pin_or_an_older_pin_has_no_watch_time_or_lifetime_counts_and_the_others_are_read(self):
        # An image pin: no video metrics in its summary; an older pin's answer: no lifetime_metrics.
        self.answer(IMAGE)

        figures = self.adapter.post_metrics(ACCOUNT, ["991"])["991"]

        self.assertEqual(figures.values, {"views": 500, "saves": 12, "clicks": 8})
        for name in ("watchSeconds", "videoViews", "likes", "comments"):
            self.assertIn(name, figures.unavailable)
        self.assertEqual(
            figures.unavailable["watchSeconds"], "Pinterest did not return 'VIDEO_V50_WATCH_TIME' (a video pin's only)."
        )
        self.assertIn("did not return 'TOTAL_REACTIONS'", figures.unavailable["likes"])
        self.assertNotIn("VIDEO_AVG_WATCH_TIME", figures.raw)

        self.http.replace(
            responses.GET,
            f"{API}/v5/pins/991/analytics",
            json={"all": {"summary_metrics": IMAGE, "lifetime_metrics": None}},
        )
        figures = self.adapter.post_metrics(ACCOUNT, ["991"])["991"]
        self.assertIn("did not return 'TOTAL_COMMENTS'", figures.unavailable["comments"], "null: none given")

    def test_a_lifetime_metrics_that_is_not_an_object_is_a_clear_error(self):
        for lifetime in ([10, 12], "TOTAL_COMMENTS=10", 12):
            with self.subTest(lifetime=lifetime):
                self.http.reset()
                self.answer(VIDEO, lifetime_metrics=lifetime)
                with self.assertRaises(TransientError) as caught:
                    self.adapter.post_metrics(ACCOUNT, ["991"])
                self.assertIn(
                    "Pinterest API error: malformed answer, all.lifetime_metrics is not an object",
                    caught.exception.message,
                )

    def test_a_figure_that_is_not_a_count_is_unavailable_saying_what_pinterest_sent_and_the_others_are_read(self):
        lifetime = {"TOTAL_COMMENTS": "ten", "TOTAL_REACTIONS": 12}
        self.answer({**VIDEO, "VIDEO_V50_WATCH_TIME": -5, "SAVE": 1.5}, lifetime_metrics=lifetime)

        figures = self.adapter.post_metrics(ACCOUNT, ["991"])["991"]

        self.assertEqual(figures.unavailable["comments"], 'Pinterest gave TOTAL_COMMENTS as "ten", not a count.')
        self.assertEqual(figures.unavailable["TOTAL_COMMENTS"], figures.unavailable["comments"])
        self.assertEqual(figures.unavailable["watchSeconds"], "Pinterest gave VIDEO_V50_WATCH_TIME as -5, not a count.")
        self.assertEqual(figures.unavailable["saves"], "Pinterest gave SAVE as 1.5, not a count.")
        self.assertEqual(
            figures.values, {"views": 500, "clicks": 8, "videoViews": 90, "likes": 12}, "never guessed, never zero"
        )
        self.assertEqual(figures.raw["VIDEO_AVG_WATCH_TIME"], 2507)

    def test_a_metric_type_pinterest_refuses_is_the_readings_error_in_its_words(self):
        # Pinterest's docs show no refusal of one metric type for a pin; a 400 is the whole reading's
        # error (the tracking keeps it and tries again at its next time), as any other 400 is.
        self.http.add(
            responses.GET,
            f"{API}/v5/pins/991/analytics",
            status=400,
            json={"code": 1, "message": "Invalid metric_types: TOTAL_COMMENTS"},
        )

        with self.assertRaises(PermanentError) as caught:
            self.adapter.post_metrics(ACCOUNT, ["991"])
        self.assertEqual(
            caught.exception.message, "Pinterest API error (400, code 1): Invalid metric_types: TOTAL_COMMENTS"
        )

    def test_a_deleted_pin_is_left_out_and_a_429_says_when_to_come_back(self):
        self.http.add(
            responses.GET, f"{API}/v5/pins/991/analytics", status=404, json={"code": 50, "message": "Pin not found."}
        )
        self.http.add(
            responses.GET, f"{API}/v5/pins/992/analytics", status=429, json={"code": 8, "message": "Slow down"}
        )

        self.assertEqual(self.adapter.post_metrics(ACCOUNT, ["991"]), {})
        with self.assertRaises(RateLimited):
            self.adapter.post_metrics(ACCOUNT, ["992"])

    def test_it_reads_the_followers(self):
        body = {"username": "acme", "follower_count": 321, "following_count": 4, "pin_count": 9, "monthly_views": 77}
        self.http.add(responses.GET, f"{API}/v5/user_account", json=body)

        figures = self.adapter.account_metrics(ACCOUNT)

        self.assertEqual(figures.values, {"followers": 321})
        self.assertEqual(figures.raw["monthly_views"], 77)


@override_settings(PINTEREST_API_URL=API)
class PinterestBackfillTests(AdapterTestCase):
    """The account's own pins made outside planrrr (the backfill): repins left out, bookmark paging."""

    adapter_class = PinterestAdapter

    def pin(self, pin_id: str, days: float, **extra) -> dict:

        created = (NOW - timedelta(days=days)).isoformat()
        return {"id": pin_id, "created_at": created, "description": f"Pin {pin_id}", "is_owner": True, **extra}

    def test_it_lists_the_accounts_own_pins_by_bookmark_until_the_lookback(self):

        since = NOW - timedelta(days=90)
        first = [self.pin("4", 1), self.pin("3", 2, parent_pin_id="77"), self.pin("2", 3, is_owner=False)]
        self.http.add(responses.GET, f"{API}/v5/pins", json={"items": first, "bookmark": "Ym9vaw=="})
        self.http.add(
            responses.GET,
            f"{API}/v5/pins",
            json={"items": [self.pin("1", 89), self.pin("0", 90.5)], "bookmark": "more"},
        )

        listed, cursor = self.adapter.recent_posts(ACCOUNT, since=since, cursor=None)
        self.assertEqual(([p.external_id for p in listed], cursor), (["4"], "Ym9vaw=="), "a repin is another's pin")
        self.assertEqual((listed[0].text, listed[0].url), ("Pin 4", "https://www.pinterest.com/pin/4/"))
        self.assertEqual(self.query(self.http.calls[0])["pin_filter"], "exclude_repins")

        listed, cursor = self.adapter.recent_posts(ACCOUNT, since=since, cursor=cursor)
        self.assertEqual(self.query(self.http.calls[1])["bookmark"], "Ym9vaw==")
        self.assertEqual(([p.external_id for p in listed], cursor), (["1"], None), "older than 90 days: the end")

    def test_a_malformed_page_is_a_clear_error(self):

        from connections.tests.contract import NOW

        self.http.add(responses.GET, f"{API}/v5/pins", json={"items": None, "bookmark": None})
        with self.assertRaises(TransientError) as caught:
            self.adapter.recent_posts(ACCOUNT, since=NOW - timedelta(days=90), cursor=None)
        self.assertIn("Pinterest API error: malformed answer, no items", caught.exception.message)
