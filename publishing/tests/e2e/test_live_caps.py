"""Instagram's own publishing cap, read from the platform (content_publishing_limit) by a real
worker against the stand-in, stands in for the declared figure at the door."""

from datetime import timedelta

import responses
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.test import SimpleTestCase

from connections.platforms import get_adapter
from connections.platforms.base import Account, TransientError
from devtools.testing import wait_for
from publishing import services
from publishing.services import caps
from publishing.tests.base import INSTAGRAM_USER, PublishingLiveTestCase

PHOTO = "https://example.org/photo.jpg"


class LiveCapTests(PublishingLiveTestCase):
    def test_the_door_asks_a_worker_to_read_the_accounts_own_figure_and_refuses_past_it(self):
        instagram = self.connect("INSTAGRAM", INSTAGRAM_USER, "mock_ig_token")
        self.mock.configure(ig_daily_limit=2)
        self.start_worker()
        self.assertEqual(self.mock.requests(platform="INSTAGRAM"), [], "nothing read before a post is scheduled there")

        first = services.post_create(
            team=self.team, content="Photo 0", platforms=["INSTAGRAM"], media_urls=[PHOTO], scheduled_at=self.soon(3600)
        )
        wait_for(lambda: caps.windows_of(instagram)[0].count == 2, timeout=20, message="the live figure to be read")
        (read,) = self.mock.requests(platform="INSTAGRAM")
        self.assertEqual((read["method"], "content_publishing_limit" in read["path"]), ("GET", True))
        services.post_create(
            team=self.team, content="Photo 1", platforms=["INSTAGRAM"], media_urls=[PHOTO], scheduled_at=self.soon(3601)
        )
        with self.assertRaises(ValidationError) as refused:
            services.post_create(
                team=self.team,
                content="One too many",
                platforms=["INSTAGRAM"],
                media_urls=[PHOTO],
                scheduled_at=self.soon(3700),
            )
        self.assertIn("Instagram takes at most 2 posts per 24 h on", str(refused.exception))
        # Read once per LIVE_REFRESH_SECONDS, however often a cap of the account is weighed.
        self.assertFalse(caps.cap_live_refresh(instagram))
        self.assertEqual(len(self.mock.requests(platform="INSTAGRAM", path="content_publishing_limit")), 1)
        self.assertEqual(first.publications.get().status, "PENDING")

    def test_an_account_the_platform_does_not_answer_for_keeps_the_declared_figure(self):
        instagram = self.connect("INSTAGRAM", INSTAGRAM_USER, "mock_ig_token")
        self.mock.fail("INSTAGRAM", mode="server_error", on="read", times=5)
        with self.assertLogs("planrrr.caps", "WARNING") as logged:
            self.assertIsNone(caps.cap_live_read(connection_id=instagram.pk))
        self.assertIn("the declared count holds", logged.output[0])
        self.assertNotIn("mock_ig_token", "".join(logged.output))
        self.assertEqual([w.count for w in caps.windows_of(instagram)], [25])


class PublishingLimitAnswerTests(SimpleTestCase):
    def setUp(self):
        self.adapter = get_adapter("INSTAGRAM")
        self.url = f"{self.adapter.base_url}/17841400008460056/content_publishing_limit"
        self.account = Account(account_id="17841400008460056", access_token="secret-token")
        cache.clear()

    @responses.activate
    def test_it_reads_quota_total(self):
        config = {"quota_total": 100, "quota_duration": int(timedelta(days=1).total_seconds())}
        responses.get(self.url, json={"data": [{"config": config}]})
        self.assertEqual(self.adapter.publishing_limit(self.account), 100)
        self.assertIn("fields=config", responses.calls[0].request.url)

    @responses.activate
    def test_an_answer_without_the_figure_is_malformed_and_names_no_token(self):
        for body in ({"data": []}, {"data": [{"config": {"quota_total": "many"}}]}, {"data": [{}]}, {}):
            with self.subTest(body=body):
                responses.get(self.url, json=body)
                with self.assertRaises(TransientError) as failed:
                    self.adapter.publishing_limit(self.account)
                self.assertIn("no quota_total", str(failed.exception))
                self.assertNotIn("secret-token", str(failed.exception))
                responses.reset()
