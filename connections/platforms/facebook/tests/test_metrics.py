"""Facebook's backfill: a page's own published posts, newest first, paged with Graph's cursors (the
engagement figures themselves are Meta's insights: connections/platforms/meta/tests/test_insights.py)."""

from datetime import timedelta

import responses

from connections.platforms.base import Account, TransientError
from connections.platforms.facebook.adapter import FacebookAdapter
from connections.tests.contract import GRAPH, NOW, SECRET, AdapterTestCase

ACCOUNT = Account(account_id="104857600123456", access_token=SECRET)
LISTING = f"{GRAPH}/104857600123456/published_posts"
SINCE = NOW - timedelta(days=90)


def post(post_id: str, age: timedelta, **extra) -> dict:
    created = (NOW - age).strftime("%Y-%m-%dT%H:%M:%S+0000")
    return {"id": post_id, "created_time": created, "permalink_url": f"https://www.facebook.com/{post_id}", **extra}


class FacebookBackfillTests(AdapterTestCase):
    adapter_class = FacebookAdapter

    def test_it_lists_the_pages_posts_since_the_lookback_and_follows_the_after_cursor(self):
        video = post("p_2", timedelta(days=2), attachments={"data": [{"media_type": "video", "target": {"id": "v9"}}]})
        first = {
            "data": [post("p_1", timedelta(hours=1), message="Autumn menu"), video],
            "paging": {"cursors": {"before": "B", "after": "A2"}, "next": f"{LISTING}?access_token={SECRET}&after=A2"},
        }
        self.http.add(responses.GET, LISTING, json=first)
        self.http.add(responses.GET, LISTING, json={"data": [post("p_3", timedelta(days=89))], "paging": {}})

        listed, cursor = self.adapter.recent_posts(ACCOUNT, since=SINCE, cursor=None)
        self.assertEqual(cursor, "after=A2")
        self.assertEqual(
            [(p.external_id, p.text, p.aliases) for p in listed], [("p_1", "Autumn menu", ()), ("p_2", "", ("v9",))]
        )
        self.assertEqual(listed[0].url, "https://www.facebook.com/p_1")
        query = self.query(self.http.calls[0])
        self.assertEqual(query["since"], str(int(SINCE.timestamp())))
        self.assertIn("permalink_url", query["fields"])

        listed, cursor = self.adapter.recent_posts(ACCOUNT, since=SINCE, cursor=cursor)
        self.assertEqual(self.query(self.http.calls[1])["after"], "A2")
        self.assertEqual(([p.external_id for p in listed], cursor), (["p_3"], None), "no next: the last page")

    def test_a_time_paged_next_keeps_its_paging_fields_never_the_token(self):
        following = f"{LISTING}?access_token={SECRET}&until=1700000000&__paging_token=enc_X&limit=100"
        self.http.add(
            responses.GET, LISTING, json={"data": [post("p_1", timedelta(hours=1))], "paging": {"next": following}}
        )

        _, cursor = self.adapter.recent_posts(ACCOUNT, since=SINCE, cursor=None)

        self.assertEqual(cursor, "until=1700000000&__paging_token=enc_X")
        self.assertNotIn("SECRET", cursor)

    def test_a_post_older_than_the_lookback_ends_the_listing(self):
        body = {
            "data": [post("p_1", timedelta(days=10)), post("p_0", timedelta(days=91))],
            "paging": {"cursors": {"after": "A2"}, "next": f"{LISTING}?after=A2"},
        }
        self.http.add(responses.GET, LISTING, json=body)

        listed, cursor = self.adapter.recent_posts(ACCOUNT, since=SINCE, cursor=None)

        self.assertEqual(([p.external_id for p in listed], cursor), (["p_1"], None))

    def test_a_malformed_page_is_a_clear_error(self):
        self.http.add(responses.GET, LISTING, json={"data": {"id": "p_1"}})

        with self.assertRaises(TransientError) as caught:
            self.adapter.recent_posts(ACCOUNT, since=SINCE, cursor=None)

        self.assertIn("Facebook API error: malformed answer, no data list", caught.exception.message)
        self.assertNotIn("SECRET", caught.exception.message)
