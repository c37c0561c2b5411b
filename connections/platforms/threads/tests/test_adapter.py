from datetime import timedelta

import responses
from django.test import override_settings

from connections.platforms.base import (
    Account,
    Draft,
    NotReady,
    PermanentError,
    RateLimited,
    TokenExpired,
    TransientError,
)
from connections.platforms.facebook.tests.test_adapter import graph_error
from connections.platforms.threads.adapter import MAX_CONTAINERS, MAX_NOT_FOUND_WAITS, ThreadsAdapter
from connections.tests.contract import NOW, AdapterContract, AdapterTestCase

API = "https://threads.test/v1.0"
THREADS = f"{API}/acct-1/threads"
REPLIES = f"{API}/acct-1/replies"
PUBLISH = f"{API}/acct-1/threads_publish"
LIMIT = f"{API}/acct-1/threads_publishing_limit"
A, B = "https://cdn.example.com/a.jpg", "https://cdn.example.com/b.jpg"


def not_found(container: str = "c-1") -> dict:
    """What threads_publish answers for a container made moments before (fbsamples/threads_api#70)."""
    return graph_error(
        24,
        "The requested resource does not exist",
        subcode=4279009,
        is_transient=False,
        error_user_title="Media Not Found",
        error_user_msg=f"The media with id {container} cannot be found.",
    )


@override_settings(THREADS_API_URL="https://threads.test", THREADS_API_VERSION="v1.0", THREADS_PUBLISH_WAIT_SECONDS=15)
class ThreadsTests(AdapterContract, AdapterTestCase):
    adapter_class = ThreadsAdapter
    too_long_text = "a" * 501
    rate_limited_retry_at = NOW + timedelta(seconds=60)
    errors = {
        "rate_limited": (
            graph_error(4, "Application request limit reached", status=429, is_transient=True),
            RateLimited,
            "Threads API error (code 4): Application request limit reached",
        ),
        "token_expired": (
            graph_error(190, "Error validating access token: Session has expired.", subcode=463),
            TokenExpired,
            "Threads API error (code 190, subcode 463): Error validating access token: Session has expired.",
        ),
        "permanent": (
            graph_error(100, "Param text must be at most 500 characters long."),
            PermanentError,
            "Threads API error (code 100): Param text must be at most 500 characters long.",
        ),
        "server_error": (
            graph_error(1, "An unknown error occurred", status=500, is_transient=True),
            TransientError,
            "Threads API error (code 1): An unknown error occurred",
        ),
    }
    malformed_successes = [{"status": 200, "body": "not json"}, {"status": 200, "json": {}}]

    def mock_success(self) -> str:
        self.http.add(responses.POST, THREADS, json={"id": "c-1"})
        self.add_status("c-1", "FINISHED")
        self.http.add(responses.POST, PUBLISH, json={"id": "th-1"})
        return "th-1"

    def mock_key_call(self, **kwargs) -> None:
        self.http.add(responses.POST, THREADS, **kwargs)

    def mock_recent_call(self, **kwargs) -> None:
        self.http.add(responses.GET, THREADS, **kwargs)

    def mock_recent(self, text: str) -> None:
        self.http.add(
            responses.GET,
            THREADS,
            json={"data": [{"id": "found-1", "text": text, "timestamp": "2025-03-01T12:00:05+0000"}]},
        )

    def mock_recent_pages(self, first: str, second: str) -> dict:
        recent = "2025-03-01T12:00:05+0000"
        self.http.add(
            responses.GET,
            THREADS,
            json={
                "data": [{"id": "other-1", "text": first, "timestamp": recent}],
                "paging": {"cursors": {"before": "b1", "after": "a1"}, "next": f"{THREADS}?after=a1"},
            },
        )
        self.http.add(responses.GET, THREADS, json={"data": [{"id": "found-1", "text": second, "timestamp": recent}]})
        return {"after": "a1"}

    def add_status(self, container: str, status: str, **extra) -> None:
        """GET /{container-id}?fields=status,error_message"""
        self.http.add(responses.GET, f"{API}/{container}", json={"status": status, "id": container, **extra})

    def test_it_makes_a_text_container_checks_it_and_publishes_it(self):
        self.mock_success()
        draft = Draft(text="Hello world")
        published = self.adapter.publish(self.account, draft)

        create, check, publish = self.http.calls
        self.assertEqual(self.form(create), {"media_type": "TEXT", "text": "Hello world", "access_token": "token-1"})
        self.assertEqual(self.query(check), {"fields": "status,error_message", "access_token": "token-1"})
        self.assertEqual(self.form(publish), {"creation_id": "c-1", "access_token": "token-1"})
        self.assertEqual(published.external_id, "th-1")
        self.assertEqual(draft.state, {"mediaIds": [], "containerId": "c-1"})

    def test_it_makes_an_image_container(self):
        self.mock_success()
        self.adapter.publish(self.account, Draft(text="Latte", media_urls=[A]))
        self.assertEqual(
            self.form(self.http.calls[0]),
            {"media_type": "IMAGE", "image_url": A, "text": "Latte", "access_token": "token-1"},
        )

    def test_it_publishes_a_carousel_of_child_containers(self):
        self.http.add(responses.POST, THREADS, json={"id": "child-1"})
        self.http.add(responses.POST, THREADS, json={"id": "child-2"})
        self.http.add(responses.POST, THREADS, json={"id": "carousel-1"})
        self.add_status("carousel-1", "FINISHED")
        self.http.add(responses.POST, PUBLISH, json={"id": "th-2"})
        draft = Draft(text="Two", media_urls=[A, B])

        self.assertEqual(self.adapter.publish(self.account, draft).external_id, "th-2")
        first, second, carousel = (self.form(call) for call in self.http.calls[:3])
        self.assertEqual(
            first, {"media_type": "IMAGE", "image_url": A, "is_carousel_item": "true", "access_token": "token-1"}
        )
        self.assertEqual(second["image_url"], B)
        self.assertEqual(
            carousel,
            {"media_type": "CAROUSEL", "children": "child-1,child-2", "text": "Two", "access_token": "token-1"},
        )
        self.assertEqual(draft.state, {"mediaIds": ["child-1", "child-2"], "containerId": "carousel-1"})

    def test_a_reply_is_a_container_with_reply_to_id(self):
        self.mock_success()
        self.adapter.publish(self.account, Draft(text="2/2", reply_to="th-0", reply_root="th-0"))
        self.assertEqual(self.form(self.http.calls[0])["reply_to_id"], "th-0")

    def test_media_not_found_right_after_the_container_is_a_wait_not_a_failure(self):
        self.http.add(responses.POST, THREADS, json={"id": "c-1"})
        self.add_status("c-1", "FINISHED")
        self.http.add(responses.POST, PUBLISH, **not_found())
        draft = Draft(text="Too early")

        with self.assertRaises(NotReady) as caught:
            self.adapter.publish(self.account, draft)
        self.assertEqual(caught.exception.retry_at, NOW + timedelta(seconds=15))
        self.assertIn("subcode 4279009", caught.exception.message)
        self.assertEqual(draft.state["containerId"], "c-1")

        # The next attempt publishes the same container: none is made again.
        self.http.reset()
        self.add_status("c-1", "FINISHED")
        self.http.add(responses.POST, PUBLISH, json={"id": "th-3"})
        self.assertEqual(self.adapter.publish(self.account, draft).external_id, "th-3")
        self.assertEqual([call.request.method for call in self.http.calls], ["GET", "POST"])
        self.assertNotIn("notFound", draft.state)

    def test_a_container_threads_never_finds_is_made_anew_then_given_up(self):
        draft = Draft(text="Never found", state={"containerId": "c-1", "mediaIds": []})
        for _ in range(MAX_NOT_FOUND_WAITS):
            self.http.reset()
            self.add_status("c-1", "FINISHED")
            self.http.add(responses.POST, PUBLISH, **not_found())
            with self.assertRaises(NotReady):
                self.adapter.publish(self.account, draft)
        # Made anew at the next attempt: the last wait forgot it.
        self.assertNotIn("containerId", draft.state)
        self.assertEqual(draft.state["containersMade"], 2)

        draft.state.update(containerId="c-1", containersMade=MAX_CONTAINERS, notFound=MAX_NOT_FOUND_WAITS - 1)
        self.http.reset()
        self.add_status("c-1", "FINISHED")
        self.http.add(responses.POST, PUBLISH, **not_found())
        with self.assertRaises(PermanentError) as caught:
            self.adapter.publish(self.account, draft)
        self.assertIn("could not find container c-1", caught.exception.message)

    def test_it_waits_while_the_container_is_in_progress(self):
        draft = Draft(text="Hi", state={"containerId": "c-1", "mediaIds": []})
        self.add_status("c-1", "IN_PROGRESS")
        with self.assertRaises(NotReady) as caught:
            self.adapter.publish(self.account, draft)
        self.assertEqual(caught.exception.retry_at, NOW + timedelta(seconds=2))

    def test_an_expired_container_is_made_anew(self):
        draft = Draft(text="Hi", state={"containerId": "c-1", "mediaIds": []})
        self.add_status("c-1", "EXPIRED")
        with self.assertRaises(TransientError):
            self.adapter.publish(self.account, draft)
        self.assertEqual(draft.state, {})

    def test_a_container_in_error_fails_with_threads_reason(self):
        draft = Draft(text="Hi", media_urls=[A], state={"containerId": "c-1", "mediaIds": ["c-1"]})
        self.add_status("c-1", "ERROR", error_message="FAILED_DOWNLOADING_VIDEO")
        with self.assertRaises(PermanentError) as caught:
            self.adapter.publish(self.account, draft)
        self.assertIn("FAILED_DOWNLOADING_VIDEO", caught.exception.message)
        self.assertEqual(draft.state, {})

    def test_a_published_container_is_found_among_recent_posts(self):
        draft = Draft(text="Lost answer", state={"containerId": "c-1", "mediaIds": []})
        self.add_status("c-1", "PUBLISHED")
        self.mock_recent("Lost answer")
        self.assertEqual(self.adapter.publish(self.account, draft).external_id, "found-1")

    def test_a_reply_is_looked_for_among_the_replies(self):
        self.http.add(
            responses.GET,
            REPLIES,
            json={"data": [{"id": "r-1", "text": "2/2", "timestamp": "2025-03-01T12:00:05+0000"}]},
        )
        found = self.adapter.find_published(self.account, Draft(text="2/2", reply_to="th-0"), NOW)
        self.assertEqual(found, "r-1")
        self.assertEqual(self.query(self.http.calls[0])["since"], str(int(NOW.timestamp())))

    def test_the_daily_limit_waits_an_hour(self):
        self.http.add(responses.POST, THREADS, **graph_error(9, "Application request limit reached", subcode=2207042))
        with self.assertRaises(RateLimited) as caught:
            self.adapter.publish(self.account, Draft(text="One too many"))
        self.assertEqual(caught.exception.retry_at, NOW + timedelta(hours=1))

    def test_it_reads_the_accounts_publishing_limit(self):
        self.http.add(
            responses.GET,
            LIMIT,
            json={"data": [{"quota_usage": 4, "config": {"quota_total": 250, "quota_duration": 86400}}]},
        )
        self.assertEqual(self.adapter.publishing_limit(self.account), 250)
        self.assertEqual(self.query(self.http.calls[0])["fields"], "quota_usage,config")

    def test_a_limit_without_quota_total_is_malformed(self):
        self.http.add(responses.GET, LIMIT, json={"data": [{"quota_usage": 4}]})
        with self.assertRaises(TransientError):
            self.adapter.publishing_limit(self.account)

    def test_it_counts_emoji_as_their_utf8_bytes(self):
        self.assertEqual(self.adapter.text_length("héllo"), 5)
        self.assertEqual(self.adapter.text_length("☕"), 3)
        self.assertEqual(self.adapter.text_length("🎉"), 4)
        self.assertEqual(self.adapter.validate(text="🎉" * 125, media_urls=[]), [])
        self.assertEqual(len(self.adapter.validate(text="🎉" * 126, media_urls=[])), 1)


CLIP = "https://cdn.example.com/clips/launch.mp4"


@override_settings(
    THREADS_API_URL="https://threads.test",
    THREADS_API_VERSION="v1.0",
    THREADS_PUBLISH_WAIT_SECONDS=15,
    META_VIDEO_POLL_SECONDS=30,
)
class ThreadsVideoTests(AdapterTestCase):
    """A video is a VIDEO container processed like Instagram's; a carousel mixes images and videos."""

    adapter_class = ThreadsAdapter
    account = Account(account_id="acct-1", access_token="token-1")

    def add_status(self, container: str, status: str, error_message: str = "") -> None:
        body = {"id": container, "status": status, **({"error_message": error_message} if error_message else {})}
        self.http.add(responses.GET, f"{API}/{container}", json=body)

    def test_a_video_waits_while_threads_processes_it_then_is_published_once(self):
        self.http.add(responses.POST, THREADS, json={"id": "c-1"})
        self.add_status("c-1", "IN_PROGRESS")
        draft = Draft(text="Roasting day.", media_urls=[CLIP])

        with self.assertRaises(NotReady) as caught:
            self.adapter.publish(self.account, draft)

        self.assertEqual(
            self.form(self.http.calls[0]),
            {"media_type": "VIDEO", "video_url": CLIP, "text": "Roasting day.", "access_token": "token-1"},
        )
        self.assertEqual(caught.exception.retry_at, NOW + timedelta(seconds=30))

        self.http.reset()
        self.add_status("c-1", "FINISHED")
        self.http.add(responses.POST, PUBLISH, json={"id": "th-7"})
        self.assertEqual(self.adapter.publish(self.account, draft).external_id, "th-7")
        self.assertEqual(len(self.http.calls), 2, "no second container")

    def test_a_reply_may_carry_a_video(self):
        self.http.add(responses.POST, THREADS, json={"id": "c-2"})
        draft = Draft(text="2/2 The clip.", media_urls=[CLIP], reply_to="th-1")
        self.adapter.stage(self.account, draft)
        self.assertEqual(self.form(self.http.calls[0])["reply_to_id"], "th-1")
        self.assertEqual(self.form(self.http.calls[0])["media_type"], "VIDEO")

    def test_a_carousel_mixes_images_and_videos(self):
        for container in ("child-1", "child-2", "carousel-1"):
            self.http.add(responses.POST, THREADS, json={"id": container})
        draft = Draft(text="Two ways.", media_urls=[A, CLIP])

        self.adapter.stage(self.account, draft)

        image, video, carousel = (self.form(call) for call in self.http.calls)
        self.assertEqual(
            image, {"media_type": "IMAGE", "image_url": A, "is_carousel_item": "true", "access_token": "token-1"}
        )
        self.assertEqual(
            video, {"media_type": "VIDEO", "video_url": CLIP, "is_carousel_item": "true", "access_token": "token-1"}
        )
        self.assertEqual((carousel["media_type"], carousel["children"]), ("CAROUSEL", "child-1,child-2"))

    def test_a_video_threads_could_not_process_fails_with_its_words(self):
        self.add_status("c-1", "ERROR", "FAILED_PROCESSING_VIDEO")
        draft = Draft(text="Hi", media_urls=[CLIP], state={"mediaIds": ["c-1"], "containerId": "c-1"})
        with self.assertRaisesMessage(
            PermanentError, "Threads API error: could not process the post (container c-1): FAILED_PROCESSING_VIDEO"
        ):
            self.adapter.publish(self.account, draft)

    def test_a_carousel_holds_twenty_items_images_and_videos_together(self):
        media = [f"https://cdn.example.com/{i}.jpg" for i in range(11)] + [
            f"https://cdn.example.com/{i}.mp4" for i in range(10)
        ]
        self.assertEqual(
            self.adapter.validate(text="Hi", media_urls=media),
            [
                "Threads takes at most 20 items in a carousel, images and videos together; this post has 21 "
                "(11 images, 10 videos): remove 1."
            ],
        )
        self.assertEqual(self.adapter.validate(text="Hi", media_urls=media[1:]), [])
