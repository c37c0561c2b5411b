"""Threads' backfill: the account's own threads, newest first, without replies or reposts (its figures
are Meta's insights: connections/platforms/meta/tests/test_insights.py)."""

from datetime import timedelta

import responses
from django.test import override_settings

from connections.platforms.base import Account, TransientError
from connections.platforms.threads.adapter import ThreadsAdapter
from connections.tests.contract import NOW, AdapterTestCase

ACCOUNT = Account(account_id="7362450123456789", access_token="token-1")
LISTING = "https://threads.test/v1.0/7362450123456789/threads"
SINCE = NOW - timedelta(days=90)


def thread(media_id: str, age: timedelta, **extra) -> dict:
    return {
        "id": media_id,
        "timestamp": (NOW - age).strftime("%Y-%m-%dT%H:%M:%S+0000"),
        "text": f"Thread {media_id}",
        "permalink": f"https://www.threads.net/@acme/post/{media_id}",
        "media_type": "TEXT_POST",
        "is_quote_post": False,
        **extra,
    }


@override_settings(THREADS_API_URL="https://threads.test", THREADS_API_VERSION="v1.0")
class ThreadsBackfillTests(AdapterTestCase):
    adapter_class = ThreadsAdapter

    def test_it_lists_the_accounts_own_threads_only_and_pages_by_cursor(self):
        first = {
            "data": [
                thread("5", timedelta(hours=1), is_reply=True),
                thread("4", timedelta(hours=2), media_type="REPOST_FACADE"),
                thread("3", timedelta(hours=3), is_quote_post=True),
                thread("2", timedelta(days=3), is_reply=False),
            ],
            "paging": {"cursors": {"before": "B", "after": "A"}, "next": f"{LISTING}?after=A"},
        }
        self.http.add(responses.GET, LISTING, json=first)
        self.http.add(
            responses.GET, LISTING, json={"data": [thread("1", timedelta(days=91))], "paging": {"cursors": {}}}
        )

        listed, cursor = self.adapter.recent_posts(ACCOUNT, since=SINCE, cursor=None)
        self.assertEqual(
            [p.external_id for p in listed], ["3", "2"], "a reply and a repost are not the account's posts"
        )
        self.assertEqual(cursor, "after=A")
        query = self.query(self.http.calls[0])
        self.assertEqual(query["since"], str(int(SINCE.timestamp())))
        self.assertIn("is_reply", query["fields"])

        listed, cursor = self.adapter.recent_posts(ACCOUNT, since=SINCE, cursor=cursor)
        self.assertEqual(self.query(self.http.calls[1])["after"], "A")
        self.assertEqual((listed, cursor), ([], None), "older than 90 days: the end")

    def test_a_malformed_page_is_a_clear_error(self):
        self.http.add(responses.GET, LISTING, json=["not", "an", "object"])

        with self.assertRaises(TransientError) as caught:
            self.adapter.recent_posts(ACCOUNT, since=SINCE, cursor=None)

        self.assertIn("Threads API error: malformed answer", caught.exception.message)
