"""The stand-in's Meta video: a Facebook Page video, an Instagram Reel or carousel video item, a
Threads video container; fetched from its URL, processed over a few status polls, failed with a
reason when told (``_control/fail`` container_error) or when the video cannot be fetched."""

from unittest import mock

from mockapis.media import FetchError, Video
from mockapis.state import store
from mockapis.tests.base import IG_USER, PAGE, StandInTestCase

A_VIDEO = Video("video/mp4", 16_746)
CLIP = "http://media.test/clip.mp4"
THREADS_USER = "7362450123456789"


@mock.patch("connections.platforms.facebook.standin.fetch_video", return_value=A_VIDEO)
class FacebookVideoTests(StandInTestCase):
    def upload(self, description: str = "Roasting day") -> str:
        response = self.graph("POST", f"{PAGE}/videos", {"file_url": CLIP, "description": description})
        self.assertEqual(response.status_code, 200, response.content)
        return response.json()["id"]

    def status(self, video_id: str) -> dict:
        return self.graph("GET", video_id, {"fields": "status"}).json()["status"]

    def test_it_fetches_the_video_processes_it_over_polls_and_then_it_is_the_pages_post(self, fetch):
        self.configure(video_polls_before_ready=2)
        video_id = self.upload()

        fetch.assert_called_once_with(CLIP, store.config.fetch_timeout_seconds)
        self.assertEqual(self.posts("FACEBOOK"), [], "not public while processing")
        states = [self.status(video_id) for _ in range(3)]
        self.assertEqual([s["video_status"] for s in states], ["processing", "processing", "ready"])
        self.assertEqual(states[0]["processing_phase"], {"status": "in_progress"})
        self.assertEqual(states[2]["publishing_phase"]["status"], "complete")
        (post,) = self.posts("FACEBOOK")
        self.assertEqual((post["id"], post["text"], post["media_type"]), (video_id, "Roasting day", "VIDEO"))
        self.status(video_id)
        self.assertEqual(len(self.posts("FACEBOOK")), 1, "made once")
        comment = self.graph("POST", f"{video_id}/comments", {"message": "First!"})
        self.assertEqual(comment.status_code, 200, comment.content)

    def test_it_lists_the_pages_videos_newest_first(self, fetch):
        first, second = self.upload("One"), self.upload("Two")
        listed = self.graph("GET", f"{PAGE}/videos", {"fields": "id,description,created_time"}).json()["data"]
        self.assertEqual([(v["id"], v["description"]) for v in listed], [(second, "Two"), (first, "One")])

    def test_it_fails_processing_with_the_reason_it_was_told(self, fetch):
        self.configure(video_polls_before_ready=0)
        self.fail("FACEBOOK", "container_error", times=1, message="Video Format Not Supported")
        video_id = self.upload()

        status = self.status(video_id)

        self.assertEqual(status["video_status"], "error")
        self.assertEqual(
            status["processing_phase"],
            {"status": "error", "errors": [{"code": 6000, "message": "Video Format Not Supported"}]},
        )
        self.assertEqual(self.posts("FACEBOOK"), [])

    def test_it_answers_389_when_the_video_cannot_be_fetched(self, fetch):
        fetch.side_effect = FetchError(f"{CLIP} answered HTTP 404")
        response = self.graph("POST", f"{PAGE}/videos", {"file_url": CLIP, "description": "Gone"})
        self.assertEqual(self.graph_error(response)["code"], 389)
        self.assertEqual(self.client.get("/_control/media", {"platform": "FACEBOOK"}).json()["count"], 0)


@mock.patch("connections.platforms.instagram.standin.fetch_video", return_value=A_VIDEO)
class InstagramVideoTests(StandInTestCase):
    def container(self, **fields) -> str:
        response = self.graph("POST", f"{IG_USER}/media", fields)
        self.assertEqual(response.status_code, 200, response.content)
        return response.json()["id"]

    def status(self, container_id: str) -> dict:
        return self.graph("GET", container_id, {"fields": "status_code,status"}).json()

    def test_a_reel_takes_the_video_polls_and_is_listed_as_a_reel(self, fetch):
        self.configure(video_polls_before_ready=2, container_polls_before_finished=0)
        reel = self.container(media_type="REELS", video_url=CLIP, caption="Hi", share_to_feed="false")

        self.assertEqual([self.status(reel)["status_code"] for _ in range(3)], ["IN_PROGRESS"] * 2 + ["FINISHED"])
        published = self.graph("POST", f"{IG_USER}/media_publish", {"creation_id": reel})
        self.assertEqual(published.status_code, 200, published.content)
        (post,) = self.posts("INSTAGRAM")
        self.assertEqual(
            (post["media_type"], post["media_product_type"], post["share_to_feed"]), ("VIDEO", "REELS", False)
        )

    def test_video_alone_is_refused_as_instagram_does_since_2023(self, fetch):
        response = self.graph("POST", f"{IG_USER}/media", {"media_type": "VIDEO", "video_url": CLIP})
        self.assertIn("REELS", self.graph_error(response)["message"])

    def test_a_carousel_with_a_video_is_processed_as_long_as_its_video(self, fetch):
        self.configure(video_polls_before_ready=1, container_polls_before_finished=0)
        with mock.patch("connections.platforms.instagram.standin.fetch_image"):
            image = self.container(image_url="http://media.test/a.jpg", is_carousel_item="true")
        video = self.container(media_type="VIDEO", video_url=CLIP, is_carousel_item="true")
        carousel = self.container(media_type="CAROUSEL", children=f"{image},{video}", caption="Mixed")

        self.assertEqual([self.status(carousel)["status_code"] for _ in range(2)], ["IN_PROGRESS", "FINISHED"])

    def test_a_video_it_cannot_fetch_ends_its_container_in_error_with_the_reason(self, fetch):
        fetch.side_effect = FetchError(f"{CLIP} answered HTTP 404")
        self.configure(video_polls_before_ready=0)
        reel = self.container(media_type="REELS", video_url=CLIP, caption="Hi")

        status = self.status(reel)

        self.assertEqual(status["status_code"], "ERROR")
        self.assertIn("Media download has failed", status["status"])
        self.assertIn("HTTP 404", status["status"])


@mock.patch("connections.platforms.threads.standin.fetch_video", return_value=A_VIDEO)
class ThreadsVideoTests(StandInTestCase):
    def container(self, **fields) -> str:
        response = self.client.post(f"/threads/v1.0/{THREADS_USER}/threads", {**fields, "access_token": "t"})
        self.assertEqual(response.status_code, 200, response.content)
        return response.json()["id"]

    def status(self, container_id: str) -> dict:
        return self.client.get(
            f"/threads/v1.0/{container_id}", {"fields": "status,error_message", "access_token": "t"}
        ).json()

    def test_a_video_container_takes_the_video_polls(self, fetch):
        self.configure(video_polls_before_ready=2)
        container = self.container(media_type="VIDEO", video_url=CLIP, text="Hi")
        self.assertEqual([self.status(container)["status"] for _ in range(3)], ["IN_PROGRESS"] * 2 + ["FINISHED"])

    def test_container_error_is_played_for_threads_with_the_reason_given(self, fetch):
        # _control refused container_error for any platform but Instagram, which the Threads
        # stand-in said it played.
        self.configure(video_polls_before_ready=0)
        self.fail("THREADS", "container_error", times=1)
        self.fail("THREADS", "container_error", times=1, message="FAILED_TRANSCODING")
        first = self.container(media_type="VIDEO", video_url=CLIP, text="One")
        second = self.container(media_type="VIDEO", video_url=CLIP, text="Two")

        self.assertEqual(
            self.status(first), {"id": first, "status": "ERROR", "error_message": "FAILED_PROCESSING_VIDEO"}
        )
        self.assertEqual(self.status(second)["error_message"], "FAILED_TRANSCODING")

    def test_a_video_it_cannot_fetch_fails_downloading(self, fetch):
        fetch.side_effect = FetchError("gone")
        self.configure(video_polls_before_ready=0)
        container = self.container(media_type="VIDEO", video_url=CLIP, text="Hi")
        self.assertEqual(self.status(container)["error_message"], "FAILED_DOWNLOADING_VIDEO")
