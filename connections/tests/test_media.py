import os
import tempfile
import time

import requests
import responses
from django.test import SimpleTestCase, override_settings

from connections.platforms.base import Adapter, PermanentError, TransientError, media_url_problem
from connections.platforms.declaration import IMAGE as IMAGE_KIND
from connections.platforms.declaration import VIDEO as VIDEO_KIND
from connections.platforms.declaration import Declaration
from connections.platforms.kinds import media_kind, split_media
from connections.platforms.media import fetch_media, fetch_video
from connections.tests.contract import PNG, AdapterTestCase, pinned
from connections.tests.servers import SlowServer

IMAGE = "https://cdn.example.com/photos/cat.png"


class MediaUrlTests(AdapterTestCase):
    def test_it_accepts_a_public_https_url(self):
        self.assertIsNone(media_url_problem(IMAGE))

    def test_it_refuses_what_is_not_http(self):
        for url in ("ftp://cdn.example.com/a.png", "file:///etc/passwd", "cdn.example.com/a.png", "http://[::1"):
            with self.subTest(url=url):
                self.assertEqual(
                    media_url_problem(url),
                    f"Media URL {url!r} is not an http:// or https:// link: use a public link to the image.",
                )

    def test_it_refuses_a_private_address_with_the_reason(self):
        for url, reason in (
            ("http://10.0.0.1/a.png", "The URL's host 10.0.0.1 is a private address"),
            ("http://169.254.169.254/latest/meta-data", "The URL's host 169.254.169.254 is a link-local address"),
            ("https://private.example.com/a.png", "The URL's host private.example.com resolves to 10.0.0.7"),
        ):
            with self.subTest(url=url):
                self.assertTrue(media_url_problem(url).startswith(f"Media URL {url} cannot be used: {reason}"))

    def test_it_does_not_refuse_a_name_that_does_not_resolve_right_now(self):
        self.assertIsNone(media_url_problem("https://nowhere.example.net/a.png"))

    @override_settings(MEDIA_ALLOW_PRIVATE_URLS=True)
    def test_it_allows_private_addresses_when_configured(self):
        self.assertIsNone(media_url_problem("http://10.0.0.1/a.png"))
        self.assertIsNotNone(media_url_problem("ftp://10.0.0.1/a.png"))


class FetchMediaTests(AdapterTestCase):
    def test_it_fetches_an_image_from_the_address_it_checked(self):
        self.add_image(IMAGE)
        media = fetch_media(IMAGE)
        self.assertEqual((media.content, media.content_type, media.filename), (PNG, "image/png", "cat.png"))
        request = self.http.calls[0].request
        self.assertEqual(request.url, "https://93.184.216.34:443/photos/cat.png")
        self.assertEqual(request.headers["Host"], "cdn.example.com")
        self.assertEqual(request.headers["Accept"], "image/*")

    def test_it_names_a_file_from_its_type_when_the_url_has_no_extension(self):
        self.add_image("https://cdn.example.com/img/42", content_type="image/jpeg; charset=binary")
        media = fetch_media("https://cdn.example.com/img/42")
        self.assertEqual((media.content_type, media.filename), ("image/jpeg", "42.jpg"))

    def test_it_refuses_what_is_not_an_image(self):
        self.http.add(responses.GET, pinned(IMAGE), body="<html></html>", content_type="text/html")
        with self.assertRaisesMessage(PermanentError, f"Could not use media {IMAGE}: it is text/html, not an image."):
            fetch_media(IMAGE)

    def test_it_refuses_a_missing_image(self):
        for status in (404, 410):
            with self.subTest(status=status):
                self.http.reset()
                self.http.add(responses.GET, pinned(IMAGE), status=status)
                with self.assertRaisesMessage(
                    PermanentError, f"Could not use media {IMAGE}: it answered HTTP {status} (not found)."
                ):
                    fetch_media(IMAGE)

    @override_settings(MEDIA_MAX_BYTES=8 * 1024 * 1024)
    def test_it_refuses_an_image_declared_too_large_before_reading_it(self):
        self.http.add(
            responses.GET,
            pinned(IMAGE),
            body=b"x",
            content_type="image/png",
            headers={"Content-Length": str(14 * 1024 * 1024)},
            auto_calculate_content_length=False,
        )
        with self.assertRaisesMessage(PermanentError, f"Could not use media {IMAGE}: it is 14 MB, the limit is 8 MB."):
            fetch_media(IMAGE)

    @override_settings(MEDIA_MAX_BYTES=1000)
    def test_it_counts_the_bytes_when_the_length_is_not_declared(self):
        self.http.add(responses.GET, pinned(IMAGE), body=b"x" * 1200, content_type="image/png")
        with self.assertRaisesMessage(PermanentError, "it is more than 1 KB, the limit is 1 KB."):
            fetch_media(IMAGE)
        self.assertNotIn("Content-Length", self.http.calls[0].response.headers)

    def test_it_retries_a_timeout_or_a_server_error(self):
        for kwargs in ({"body": requests.exceptions.ReadTimeout()}, {"status": 503}, {"status": 429}):
            with self.subTest(kwargs=kwargs):
                self.http.reset()
                self.http.add(responses.GET, pinned(IMAGE), **kwargs)
                with self.assertRaises(TransientError) as caught:
                    fetch_media(IMAGE)
                self.assertIn(IMAGE, caught.exception.message)
                self.assertFalse(caught.exception.maybe_sent)

    def test_it_retries_a_name_that_does_not_resolve_right_now(self):
        with self.assertRaisesMessage(TransientError, "Could not fetch media https://nowhere.example.net/a.png"):
            fetch_media("https://nowhere.example.net/a.png")

    def test_it_follows_a_redirect_checking_each_hop(self):
        self.http.add(responses.GET, pinned(IMAGE), status=302, headers={"Location": "/elsewhere/cat.png"})
        self.add_image("https://cdn.example.com/elsewhere/cat.png")
        self.assertEqual(fetch_media(IMAGE).content, PNG)

    def test_it_refuses_a_redirect_to_a_private_address(self):
        self.http.add(responses.GET, pinned(IMAGE), status=302, headers={"Location": "http://169.254.169.254/latest/"})
        with self.assertRaisesMessage(
            PermanentError,
            f"Could not use media {IMAGE} (it redirects to http://169.254.169.254/latest/): "
            "The URL's host 169.254.169.254 is a link-local address",
        ):
            fetch_media(IMAGE)
        self.assertEqual(len(self.http.calls), 1)

    def test_it_refuses_a_redirect_to_another_scheme(self):
        self.http.add(responses.GET, pinned(IMAGE), status=301, headers={"Location": "file:///etc/passwd"})
        with self.assertRaisesMessage(
            PermanentError, f"Could not use media {IMAGE}: it redirects to file:///etc/passwd, which is not an http"
        ):
            fetch_media(IMAGE)

    def test_it_refuses_a_private_address_without_fetching(self):
        with self.assertRaisesMessage(PermanentError, "The URL's host 10.0.0.1 is a private address"):
            fetch_media("http://10.0.0.1/a.png")
        self.assertEqual(len(self.http.calls), 0)

    def test_it_gives_up_after_a_few_redirects(self):
        self.http.add(responses.GET, pinned(IMAGE), status=302, headers={"Location": IMAGE})
        with self.assertRaisesMessage(PermanentError, "it redirects more than 3 times"):
            fetch_media(IMAGE)


@override_settings(MEDIA_ALLOW_PRIVATE_URLS=True, MEDIA_FETCH_TIMEOUT=(1.0, 5.0), MEDIA_FETCH_DEADLINE_SECONDS=1.0)
class FetchMediaDeadlineTests(SimpleTestCase):
    """Over a real socket: a per-read timeout never fires on a drip, the deadline must."""

    MARGIN = 1.5

    def assertCutAtDeadline(self, server: SlowServer) -> None:
        started = time.monotonic()
        with self.assertRaises(TransientError) as caught:
            fetch_media(f"{server.url}/drip.png")
        elapsed = time.monotonic() - started
        self.assertGreaterEqual(elapsed, 1.0)
        self.assertLess(elapsed, 1.0 + self.MARGIN)
        self.assertEqual(
            caught.exception.message,
            f"Could not fetch media {server.url}/drip.png: the download did not finish within 1 s.",
        )

    def test_it_gives_up_on_a_download_that_drips_past_its_deadline(self):
        with SlowServer(interval=0.2) as server:
            self.assertCutAtDeadline(server)

    def test_it_gives_up_on_a_download_that_stalls_past_its_deadline_before_the_read_timeout(self):
        with SlowServer(interval=None) as server:
            self.assertCutAtDeadline(server)


VIDEO = "https://cdn.example.com/clips/launch.mp4"
MP4 = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + b"\x00" * 4000


class MediaKindTests(SimpleTestCase):
    def test_a_url_is_a_video_by_its_paths_extension_and_an_image_otherwise(self):
        for url, kind in (
            (VIDEO, "video"),
            ("https://cdn.example.com/a.MOV", "video"),
            ("https://s3.example.com/a.webm?X-Amz-Signature=abc.png", "video"),
            ("https://cdn.example.com/a.m4v", "video"),
            ("https://cdn.example.com/a.png?f=x.mp4", "image"),
            (IMAGE, "image"),
            ("https://cdn.example.com/img/42", "image"),
            ("http://[::1", "image"),
            (None, "image"),
        ):
            with self.subTest(url=url):
                self.assertEqual(media_kind(url), kind)

    def test_split_media_keeps_each_kinds_order(self):
        urls = ["https://c.example/1.png", "https://c.example/2.mp4", "https://c.example/3.jpg"]
        self.assertEqual(split_media(urls), ([urls[0], urls[2]], [urls[1]]))


class MediaRulesTests(SimpleTestCase):
    """The base adapter's media rules, by the kinds a platform declares."""

    def adapter(self, kinds, *, max_images=4, max_videos=1, mixes=False, requires=False):
        declared = Declaration(name="TEST", label="Test", adapter="", client="", standin="", docs="", media=kinds)

        class Platform(Adapter):
            declaration = declared
            max_text_length = 100
            max_images = 0 if IMAGE_KIND not in kinds else 4
            requires_media = requires

        Platform.max_videos, Platform.mixes_media = max_videos, mixes
        return Platform()

    def test_a_platform_that_takes_no_video_says_so(self):
        problems = self.adapter((IMAGE_KIND,)).validate(text="hi", media_urls=[VIDEO])
        self.assertEqual(problems, [f"Test takes no video from planrrr: remove 1 video ({VIDEO}) or remove Test."])

    def test_a_video_only_platform_refuses_images_and_asks_for_a_video(self):
        adapter = self.adapter((VIDEO_KIND,), requires=True)
        self.assertEqual(
            adapter.validate(text="hi", media_urls=[IMAGE]),
            [
                f"Test takes video only: replace 1 image ({IMAGE}) with a video URL (.mp4, .m4v, .mov, .webm) "
                "or remove Test."
            ],
        )
        self.assertEqual(
            adapter.validate(text="hi", media_urls=[]),
            ["Test needs a video: add a video URL (.mp4, .m4v, .mov, .webm) or remove Test."],
        )
        self.assertEqual(adapter.validate(text="hi", media_urls=[VIDEO]), [])

    def test_too_many_videos_and_images_with_a_video_are_refused_where_the_platform_does(self):
        adapter = self.adapter((IMAGE_KIND, VIDEO_KIND))
        self.assertEqual(
            adapter.validate(text="hi", media_urls=[VIDEO, VIDEO]),
            ["Test takes at most 1 video in a post; this post has 2."],
        )
        self.assertEqual(
            adapter.validate(text="hi", media_urls=[IMAGE, VIDEO]),
            ["Test takes images or a video in one post, not both: keep the video or the images for Test."],
        )
        mixing = self.adapter((IMAGE_KIND, VIDEO_KIND), max_videos=4, mixes=True)
        self.assertEqual(mixing.validate(text="hi", media_urls=[IMAGE, VIDEO, VIDEO]), [])


class FetchVideoTests(AdapterTestCase):
    def test_it_streams_a_video_to_a_file_removed_when_closed(self):
        self.http.add(responses.GET, pinned(VIDEO), body=MP4, content_type="video/mp4")
        with fetch_video(VIDEO) as video:
            self.assertEqual((video.size, video.content_type, video.filename), (len(MP4), "video/mp4", "launch.mp4"))
            self.assertEqual(video.read(0, 12), MP4[:12])
            self.assertEqual(
                [(offset, len(piece)) for offset, piece in video.chunks(1500)], [(0, 1500), (1500, 1500), (3000, 1032)]
            )
            self.assertEqual(b"".join(piece for _, piece in video.chunks(1000, start=2000)), MP4[2000:])
            path = video.path
        self.assertFalse(os.path.exists(path))
        self.assertEqual(self.http.calls[0].request.headers["Accept"], "video/*")

    def test_the_bytes_decide_when_a_store_labels_a_video_as_octet_stream(self):
        self.http.add(responses.GET, pinned(VIDEO), body=MP4, content_type="application/octet-stream")
        with fetch_video(VIDEO) as video:
            self.assertEqual(video.content_type, "video/mp4")

    def test_it_refuses_what_is_not_a_video_and_leaves_no_file(self):
        self.http.add(responses.GET, pinned(VIDEO), body=PNG, content_type="image/png")
        before = set(os.listdir(tempfile.gettempdir()))
        with self.assertRaisesMessage(
            PermanentError, f"Could not use video {VIDEO}: it is image/png, not an MP4, QuickTime or WebM video."
        ):
            fetch_video(VIDEO)
        self.assertEqual(set(os.listdir(tempfile.gettempdir())) - before, set())

    @override_settings(MEDIA_MAX_VIDEO_BYTES=1000)
    def test_it_refuses_a_video_past_the_limit_declared_or_counted(self):
        self.http.add(
            responses.GET, pinned(VIDEO), body=MP4, content_type="video/mp4", auto_calculate_content_length=True
        )
        with self.assertRaisesMessage(PermanentError, "it is 4 KB, the limit is 1 KB."):
            fetch_video(VIDEO)
        self.http.reset()
        self.http.add(responses.GET, pinned(VIDEO), body=MP4, content_type="video/mp4")
        with self.assertRaisesMessage(PermanentError, "it is more than 1 KB, the limit is 1 KB."):
            fetch_video(VIDEO)

    def test_it_retries_a_server_error(self):
        self.http.add(responses.GET, pinned(VIDEO), status=503)
        with self.assertRaises(TransientError):
            fetch_video(VIDEO)
