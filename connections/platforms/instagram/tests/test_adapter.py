import json
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
from connections.platforms.instagram.adapter import InstagramAdapter
from connections.tests.contract import GRAPH, NOW, AdapterContract, AdapterTestCase
from planrrr.text import MAX_WAIT

MEDIA = f"{GRAPH}/acct-1/media"
PUBLISH = f"{GRAPH}/acct-1/media_publish"
A, B = "https://cdn.example.com/a.jpg", "https://cdn.example.com/b.jpg"


class InstagramTests(AdapterContract, AdapterTestCase):
    adapter_class = InstagramAdapter
    too_long_text = "a" * 2_201
    rate_limited_retry_at = NOW + timedelta(hours=1)
    errors = {
        "rate_limited": (
            graph_error(9, "Application request limit reached", subcode=2207042, status=400),
            RateLimited,
            "Instagram API error (code 9, subcode 2207042): Application request limit reached",
        ),
        "token_expired": (
            graph_error(190, "Error validating access token: The session has been invalidated.", subcode=460),
            TokenExpired,
            "Instagram API error (code 190, subcode 460): "
            "Error validating access token: The session has been invalidated.",
        ),
        "permanent": (
            graph_error(100, "Only photo or video can be accepted as media type.", subcode=2207026),
            PermanentError,
            "Instagram API error (code 100, subcode 2207026): Only photo or video can be accepted as media type.",
        ),
        "server_error": (
            graph_error(1, "An unknown error occurred", status=500),
            TransientError,
            "Instagram API error (code 1): An unknown error occurred",
        ),
    }
    malformed_successes = [{"status": 200, "body": "not json"}, {"status": 200, "json": {}}]

    def draft(self) -> Draft:
        return Draft(text="Hello world", media_urls=[A])

    def mock_success(self) -> str:
        self.http.add(responses.POST, MEDIA, json={"id": "c-1"})
        self.add_status("c-1", "FINISHED")
        self.http.add(responses.POST, PUBLISH, json={"id": "ig-1"})
        return "ig-1"

    def mock_key_call(self, **kwargs) -> None:
        self.http.add(responses.POST, MEDIA, **kwargs)

    def mock_recent_call(self, **kwargs) -> None:
        self.http.add(responses.GET, MEDIA, **kwargs)

    def mock_recent(self, text: str) -> None:
        self.http.add(
            responses.GET,
            MEDIA,
            json={"data": [{"id": "found-1", "caption": text, "timestamp": "2025-03-01T12:00:05+0000"}]},
        )

    def mock_recent_pages(self, first: str, second: str) -> dict:
        recent = "2025-03-01T12:00:05+0000"
        self.http.add(
            responses.GET,
            MEDIA,
            json={
                "data": [{"id": "other-1", "caption": first, "timestamp": recent}],
                "paging": {"cursors": {"before": "b1", "after": "a1"}, "next": f"{MEDIA}?after=a1"},
            },
        )
        self.http.add(responses.GET, MEDIA, json={"data": [{"id": "found-1", "caption": second, "timestamp": recent}]})
        return {"after": "a1"}

    def test_it_stops_at_a_page_older_than_the_attempt(self):
        old = "2025-03-01T11:00:00+0000"
        self.http.add(
            responses.GET,
            MEDIA,
            json={
                "data": [{"id": "old-1", "caption": "Hello world", "timestamp": old}],
                "paging": {"cursors": {"after": "a1"}, "next": f"{MEDIA}?after=a1"},
            },
        )
        self.assertIsNone(self.adapter.find_published(self.account, self.draft(), NOW))
        self.assertEqual(len(self.http.calls), 1)

    def add_status(self, container: str, code: str, **extra) -> None:
        """GET /{container-id}?fields=status_code,status"""
        self.http.add(responses.GET, f"{GRAPH}/{container}", json={"status_code": code, "id": container, **extra})

    def test_it_creates_a_container_checks_it_and_publishes_it(self):
        self.mock_success()
        link = "https://www.instagram.com/p/DAbc123/"
        self.http.add(responses.GET, f"{GRAPH}/ig-1", json={"id": "ig-1", "permalink": link})
        draft = self.draft()
        published = self.adapter.publish(self.account, draft)

        create, check, publish, permalink = self.http.calls
        self.assertEqual(self.form(create), {"image_url": A, "caption": "Hello world", "access_token": "token-1"})
        self.assertEqual(self.query(check), {"fields": "status_code,status", "access_token": "token-1"})
        self.assertEqual(self.form(publish), {"creation_id": "c-1", "access_token": "token-1"})
        # media_publish answers with the id only: the post's address is asked for after.
        self.assertEqual(self.query(permalink), {"fields": "permalink", "access_token": "token-1"})
        self.assertEqual((published.external_id, published.url), ("ig-1", link))
        self.assertEqual(draft.state, {"mediaIds": ["c-1"], "containerId": "c-1"})

    def test_a_permalink_that_cannot_be_read_leaves_the_post_published_without_a_link(self):
        self.mock_success()
        self.http.add(responses.GET, f"{GRAPH}/ig-1", status=500, json={"error": {"message": "down", "code": 2}})
        published = self.adapter.publish(self.account, self.draft())
        self.assertEqual((published.external_id, published.url), ("ig-1", ""))

    def test_it_publishes_a_carousel_once_instagram_has_processed_it(self):
        self.http.add(responses.POST, MEDIA, json={"id": "child-1"})
        self.http.add(responses.POST, MEDIA, json={"id": "child-2"})
        self.http.add(responses.POST, MEDIA, json={"id": "carousel-1"})
        self.add_status("carousel-1", "IN_PROGRESS")
        draft = Draft(text="Two #cats", media_urls=[A, B])

        with self.assertRaises(NotReady) as caught:
            self.adapter.publish(self.account, draft)
        self.assertEqual(caught.exception.retry_at, NOW + timedelta(seconds=2))
        first, second, carousel = (self.form(call) for call in self.http.calls[:3])
        self.assertEqual(first, {"image_url": A, "is_carousel_item": "true", "access_token": "token-1"})
        self.assertEqual(second["image_url"], B)
        self.assertEqual(
            carousel,
            {
                "media_type": "CAROUSEL",
                "children": "child-1,child-2",
                "caption": "Two #cats",
                "access_token": "token-1",
            },
        )
        self.assertEqual(draft.state, {"mediaIds": ["child-1", "child-2"], "containerId": "carousel-1"})

        # The next attempt makes no container: it looks at the one in state, then publishes it.
        self.http.reset()
        self.add_status("carousel-1", "FINISHED")
        self.http.add(responses.POST, PUBLISH, json={"id": "ig-2"})
        self.assertEqual(self.adapter.publish(self.account, draft).external_id, "ig-2")
        self.assertEqual(len(self.http.calls), 3)  # the status, the publish, the permalink
        self.assertEqual(self.form(self.http.calls[1])["creation_id"], "carousel-1")
        self.assertEqual(draft.state["mediaIds"], ["child-1", "child-2"])

    def test_it_keeps_children_made_before_a_failure(self):
        self.http.add(responses.POST, MEDIA, json={"id": "child-1"})
        self.http.add(responses.POST, MEDIA, **graph_error(2, "Service temporarily unavailable", status=503))
        draft = Draft(text="Two", media_urls=[A, B])
        with self.assertRaises(TransientError):
            self.adapter.publish(self.account, draft)
        self.assertEqual(draft.state, {"mediaIds": ["child-1"]})

        self.http.reset()
        self.http.add(responses.POST, MEDIA, json={"id": "child-2"})
        self.http.add(responses.POST, MEDIA, json={"id": "carousel-1"})
        self.add_status("carousel-1", "FINISHED")
        self.http.add(responses.POST, PUBLISH, json={"id": "ig-3"})
        self.adapter.publish(self.account, draft)
        self.assertEqual(self.form(self.http.calls[0])["image_url"], B)
        self.assertEqual(self.form(self.http.calls[1])["children"], "child-1,child-2")

    def test_it_makes_new_containers_when_the_old_ones_expired(self):
        self.add_status("c-old", "EXPIRED")
        draft = Draft(text="Hi", media_urls=[A], state={"mediaIds": ["c-old"], "containerId": "c-old"})
        with self.assertRaisesMessage(TransientError, "Instagram container c-old expired"):
            self.adapter.publish(self.account, draft)
        self.assertEqual(draft.state, {})

    def test_it_gives_up_on_a_container_in_error_with_instagram_words(self):
        self.add_status("c-1", "ERROR", status="Error: Media upload has failed with error code 2207003")
        draft = Draft(text="Hi", media_urls=[A], state={"mediaIds": ["c-1"], "containerId": "c-1"})
        with self.assertRaisesMessage(
            PermanentError,
            "Instagram API error: could not process the media (container c-1): "
            "Error: Media upload has failed with error code 2207003",
        ):
            self.adapter.publish(self.account, draft)

    def test_it_adopts_the_post_of_a_container_already_published(self):
        self.add_status("c-1", "PUBLISHED")
        self.mock_recent("Hi")
        draft = Draft(text="Hi", media_urls=[A], state={"mediaIds": ["c-1"], "containerId": "c-1"})
        self.assertEqual(self.adapter.publish(self.account, draft).external_id, "found-1")

    def test_it_waits_when_publishing_too_early(self):
        self.add_status("c-1", "FINISHED")
        self.http.add(
            responses.POST,
            PUBLISH,
            **graph_error(
                9007,
                "Media ID is not available",
                subcode=2207027,
                error_user_msg="The media is not ready for publishing, please wait for a moment",
            ),
        )
        draft = Draft(text="Hi", media_urls=[A], state={"mediaIds": ["c-1"], "containerId": "c-1"})
        with self.assertRaises(NotReady) as caught:
            self.adapter.publish(self.account, draft)
        self.assertEqual(caught.exception.retry_at, NOW + timedelta(seconds=2))

    def test_it_names_the_image_instagram_could_not_download(self):
        self.http.add(
            responses.POST,
            MEDIA,
            **graph_error(
                9004,
                "Only photo or video can be accepted as media type.",
                subcode=2207052,
                error_user_msg="The media could not be fetched from this URI",
            ),
        )
        with self.assertRaisesMessage(
            PermanentError,
            f"Instagram could not download the media {A}: Instagram API error (code 9004, subcode 2207052): "
            "Only photo or video can be accepted as media type. (The media could not be fetched from this URI)",
        ):
            self.adapter.publish(self.account, self.draft())

    def test_it_waits_for_the_daily_limit_at_least_as_long_as_usage_headers_say(self):
        usage = {"acct-1": [{"type": "instagram", "estimated_time_to_regain_access": 90}]}
        self.mock_key_call(
            **graph_error(9, "Application request limit reached", subcode=2207042),
            headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
        )
        with self.assertRaises(RateLimited) as caught:
            self.adapter.publish(self.account, self.draft())
        self.assertEqual(caught.exception.retry_at, NOW + timedelta(minutes=90))

    def test_it_waits_for_the_daily_limit_at_most_a_day_however_long_usage_headers_say(self):
        usage = {"acct-1": [{"type": "instagram", "estimated_time_to_regain_access": 10**15}]}
        self.mock_key_call(
            **graph_error(9, "Application request limit reached", subcode=2207042),
            headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
        )
        with self.assertLogs("planrrr.text", "WARNING") as logs, self.assertRaises(RateLimited) as caught:
            self.adapter.publish(self.account, self.draft())
        self.assertEqual(caught.exception.retry_at, NOW + MAX_WAIT)
        self.assertEqual(len(logs.records), 1)

    def test_it_needs_an_image(self):
        self.assertEqual(
            self.adapter.validate(text="Hi", media_urls=[]),
            ["Instagram needs at least one image or video: add a media URL or remove Instagram."],
        )

    def test_it_refuses_more_than_thirty_hashtags(self):
        text = " ".join(f"#tag{i}" for i in range(31)) + " and C# is not one, nor is issue#4"
        self.assertEqual(
            self.adapter.validate(text=text, media_urls=[A]),
            ["Instagram allows at most 30 hashtags; this post has 31. Remove 1."],
        )
        self.assertEqual(self.adapter.validate(text=text.replace("#tag0 ", ""), media_urls=[A]), [])

    def test_it_ignores_a_matching_caption_older_than_the_attempt(self):
        self.http.add(
            responses.GET,
            MEDIA,
            json={
                "data": [
                    {"id": "old-1", "caption": "Hello world", "timestamp": "2025-02-28T12:00:00+0000"},
                    {"id": "undated", "caption": "Hello world"},
                ]
            },
        )
        self.assertIsNone(self.adapter.find_published(self.account, self.draft(), NOW))


CLIP, TEASER = "https://cdn.example.com/clips/launch.mp4", "https://cdn.example.com/clips/teaser.mov"


@override_settings(META_VIDEO_POLL_SECONDS=30)
class InstagramVideoTests(AdapterTestCase):
    """A video alone is a Reel; a carousel mixes images and videos; a container with a video is
    looked at again every META_VIDEO_POLL_SECONDS while Instagram processes it."""

    adapter_class = InstagramAdapter
    account = Account(account_id="acct-1", access_token="token-1")

    def add_status(self, container: str, code: str, **extra) -> None:
        self.http.add(responses.GET, f"{GRAPH}/{container}", json={"status_code": code, "id": container, **extra})

    def test_a_video_is_a_reel_published_once_instagram_has_processed_it(self):
        self.http.add(responses.POST, MEDIA, json={"id": "reel-1"})
        self.add_status("reel-1", "IN_PROGRESS")
        draft = Draft(text="Roasting day #coffee", media_urls=[CLIP])

        with self.assertRaises(NotReady) as caught:
            self.adapter.publish(self.account, draft)

        self.assertEqual(
            self.form(self.http.calls[0]),
            {
                "media_type": "REELS",
                "video_url": CLIP,
                "share_to_feed": "true",
                "caption": "Roasting day #coffee",
                "access_token": "token-1",
            },
        )
        self.assertEqual(caught.exception.retry_at, NOW + timedelta(seconds=30))
        self.assertEqual(draft.state, {"mediaIds": ["reel-1"], "containerId": "reel-1"})

        self.http.reset()
        self.add_status("reel-1", "FINISHED")
        self.http.add(responses.POST, PUBLISH, json={"id": "ig-9"})
        self.assertEqual(self.adapter.publish(self.account, draft).external_id, "ig-9")
        self.assertEqual(len(self.http.calls), 3, "no second container (the status, the publish, the permalink)")

    def test_share_to_feed_follows_the_variants_option(self):
        self.http.add(responses.POST, MEDIA, json={"id": "reel-1"})
        draft = Draft(text="Reels tab only", media_urls=[CLIP], options={"shareToFeed": False})
        self.adapter.stage(self.account, draft)
        self.assertEqual(self.form(self.http.calls[0])["share_to_feed"], "false")

    def test_it_checks_its_option(self):
        self.assertEqual(self.adapter.options_problems({"shareToFeed": False}, details={}), [])
        self.assertEqual(
            self.adapter.options_problems({"shareToFeed": "no", "title": "x"}, details={}),
            [
                "Instagram takes no option 'title': its options are shareToFeed.",
                "Instagram's shareToFeed is true or false; it is 'no': write true or false without quotes.",
            ],
        )

    def test_a_carousel_mixes_images_and_videos(self):
        for child in ("child-1", "child-2", "child-3", "carousel-1"):
            self.http.add(responses.POST, MEDIA, json={"id": child})
        self.add_status("carousel-1", "IN_PROGRESS")
        draft = Draft(text="Two ways", media_urls=[A, CLIP, TEASER])

        with self.assertRaises(NotReady) as caught:
            self.adapter.publish(self.account, draft)

        image, video, mov, carousel = (self.form(call) for call in self.http.calls[:4])
        self.assertEqual(image, {"image_url": A, "is_carousel_item": "true", "access_token": "token-1"})
        self.assertEqual(
            video, {"media_type": "VIDEO", "video_url": CLIP, "is_carousel_item": "true", "access_token": "token-1"}
        )
        self.assertEqual(mov["video_url"], TEASER)
        self.assertEqual(carousel["children"], "child-1,child-2,child-3")
        self.assertEqual(caught.exception.retry_at, NOW + timedelta(seconds=30), "a video's wait")

    def test_a_reel_instagram_could_not_process_fails_with_its_words(self):
        self.add_status("reel-1", "ERROR", status="Error: Media download has failed. The media could not be fetched")
        draft = Draft(text="Hi", media_urls=[CLIP], state={"mediaIds": ["reel-1"], "containerId": "reel-1"})
        with self.assertRaisesMessage(
            PermanentError,
            "Instagram API error: could not process the media (container reel-1): "
            "Error: Media download has failed. The media could not be fetched",
        ):
            self.adapter.publish(self.account, draft)
        self.assertEqual(draft.state, {}, "a person's retry makes a new container")

    def test_a_carousel_holds_ten_items_images_and_videos_together(self):
        images = [f"https://cdn.example.com/{i}.jpg" for i in range(6)]
        videos = [f"https://cdn.example.com/{i}.mp4" for i in range(5)]
        self.assertEqual(
            self.adapter.validate(text="Hi", media_urls=images + videos),
            [
                "Instagram takes at most 10 items in a carousel, images and videos together; this post has 11 "
                "(6 images, 5 videos): remove 1."
            ],
        )
        self.assertEqual(self.adapter.validate(text="Hi", media_urls=images + videos[:4]), [])
        self.assertEqual(
            self.adapter.validate(text="Hi", media_urls=videos * 3)[0],
            "Instagram takes at most 10 videos in a post; this post has 15.",
        )
