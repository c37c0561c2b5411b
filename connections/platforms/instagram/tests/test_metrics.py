"""Instagram's backfill: the account's media, newest first, without stories (its figures are Meta's
insights: connections/platforms/meta/tests/test_insights.py)."""

from datetime import timedelta

import responses

from connections.platforms.base import Account, TransientError
from connections.platforms.instagram.adapter import InstagramAdapter
from connections.tests.contract import GRAPH, NOW, AdapterTestCase

ACCOUNT = Account(account_id="17841400008460056", access_token="token-1")
LISTING = f"{GRAPH}/17841400008460056/media"
SINCE = NOW - timedelta(days=90)


def media(media_id: str, age: timedelta, product: str = "FEED") -> dict:
    return {
        "id": media_id,
        "timestamp": (NOW - age).strftime("%Y-%m-%dT%H:%M:%S+0000"),
        "caption": f"Caption {media_id}",
        "permalink": f"https://www.instagram.com/p/{media_id}/",
        "media_type": "IMAGE",
        "media_product_type": product,
    }


class InstagramBackfillTests(AdapterTestCase):
    adapter_class = InstagramAdapter

    def test_it_lists_feed_posts_and_reels_pages_by_cursor_and_leaves_stories_out(self):
        first = {
            "data": [media("3", timedelta(hours=2), "STORY"), media("2", timedelta(hours=5), "REELS")],
            "paging": {"cursors": {"after": "QVFI"}, "next": f"{LISTING}?after=QVFI"},
        }
        self.http.add(responses.GET, LISTING, json=first)
        self.http.add(
            responses.GET, LISTING, json={"data": [media("1", timedelta(days=89)), media("0", timedelta(days=95))]}
        )

        listed, cursor = self.adapter.recent_posts(ACCOUNT, since=SINCE, cursor=None)
        self.assertEqual(
            ([p.external_id for p in listed], cursor), (["2"], "after=QVFI"), "a story expires: not tracked"
        )
        self.assertEqual((listed[0].text, listed[0].url), ("Caption 2", "https://www.instagram.com/p/2/"))
        self.assertIn("media_product_type", self.query(self.http.calls[0])["fields"])

        listed, cursor = self.adapter.recent_posts(ACCOUNT, since=SINCE, cursor=cursor)
        self.assertEqual(self.query(self.http.calls[1])["after"], "QVFI")
        self.assertEqual(([p.external_id for p in listed], cursor), (["1"], None), "older than 90 days: the end")

    def test_a_malformed_page_is_a_clear_error(self):
        self.http.add(responses.GET, LISTING, body="<html>gateway</html>")

        with self.assertRaises(TransientError) as caught:
            self.adapter.recent_posts(ACCOUNT, since=SINCE, cursor=None)

        self.assertIn("Instagram API error: malformed answer", caught.exception.message)
