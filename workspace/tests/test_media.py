"""The media library: uploads checked against the team's channels, thumbnails, reuse, deletion
refused under a post, the signed URLs the platforms fetch, and the composer's picker."""

from __future__ import annotations

import io
import shutil
import tempfile
from datetime import timedelta
from unittest import skipUnless

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.loader import render_to_string
from django.test import RequestFactory, TestCase, override_settings
from django.utils import timezone
from PIL import Image

from connections.models import Connection
from connections.platforms.base import media_url_problem
from connections.platforms.kinds import media_kind
from mockapis.media import MP4_BYTES
from planrrr.models import Membership, Team
from publishing import services as publishing
from publishing.models import Post
from workspace.access import Workspace
from workspace.media import MediaItem, items_in, media_url, media_url_expiry, picked
from workspace.media.services import media_delete, media_upload

HAS_FFMPEG = bool(shutil.which("ffmpeg") and shutil.which("ffprobe"))


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (1200, 800), noise: bool = False) -> bytes:
    image = Image.new("RGB", size, (200, 120, 40))
    if noise:  # incompressible: a file of about 3 bytes a pixel
        image = Image.frombytes("RGB", size, __import__("os").urandom(size[0] * size[1] * 3))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


class MediaStorageMixin:
    """The library's files in a temporary folder of the test's own."""

    def setUp(self):
        super().setUp()
        folder = tempfile.mkdtemp(prefix="planrrr-media-test-")
        self.addCleanup(shutil.rmtree, folder, ignore_errors=True)
        media = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": folder}}
        self.enterContext(override_settings(STORAGES={**settings.STORAGES, "media": media}))


@override_settings(MEDIA_BASE_URL="http://localhost", MEDIA_ALLOW_PRIVATE_URLS=True)
class MediaLibraryTests(MediaStorageMixin, TestCase):
    @classmethod
    def setUpTestData(cls):
        users = get_user_model().objects
        cls.team = Team.objects.create(name="Paris bakery", timezone="Europe/Paris")
        cls.mia = users.create_user("mia", password="writes every day")
        Membership.objects.create(user=cls.mia, team=cls.team, role=Membership.Role.MEMBER)
        cls.noah = users.create_user("noah", password="writes too")
        Membership.objects.create(user=cls.noah, team=cls.team, role=Membership.Role.MEMBER)
        cls.olga = users.create_user("olga", password="owns the place")
        Membership.objects.create(user=cls.olga, team=cls.team, role=Membership.Role.OWNER)
        cls.instagram = cls.connect(cls.team, "INSTAGRAM", "17841400000000001", "Bakery on Instagram")
        cls.x = cls.connect(cls.team, "TWITTER", "2244994945", "Bakery on X")
        cls.tokyo = Team.objects.create(name="Tokyo tea", timezone="Asia/Tokyo")

    @staticmethod
    def connect(team, platform, account_id, name):
        return Connection.objects.create(
            team=team, platform=platform, account_id=account_id, name=name, access_token="token"
        )

    def setUp(self):
        super().setUp()
        self.client.force_login(self.mia)
        self.page = f"/app/{self.team.pk}/media/"

    def upload(self, *files):
        return self.client.post(f"{self.page}upload/", {"files": list(files)}, follow=True)

    def item(self, name="croissant.jpg", data=None, user=None, team=None) -> MediaItem:
        data = data if data is not None else image_bytes()
        return media_upload(team=team or self.team, upload=SimpleUploadedFile(name, data), user=user or self.mia).item

    # --- upload ------------------------------------------------------------------------------

    def test_it_uploads_several_files_at_once_with_their_facts_and_thumbnails(self):
        page = self.upload(
            SimpleUploadedFile("croissant.jpg", image_bytes()),
            SimpleUploadedFile("oven.mp4", MP4_BYTES),
        )
        self.assertContains(page, "Uploaded croissant.jpg.")
        image, video = MediaItem.objects.get(kind="image"), MediaItem.objects.get(kind="video")
        self.assertEqual((image.content_type, image.width, image.height), ("image/jpeg", 1200, 800))
        self.assertEqual(image.uploaded_by, self.mia)
        self.assertTrue(image.file.name.endswith("/croissant.jpg"))
        with image.thumbnail.open("rb") as thumbnail:
            self.assertEqual(Image.open(thumbnail).size, (480, 320))
        self.assertEqual((video.content_type, video.size), ("video/mp4", len(MP4_BYTES)))
        self.assertTrue(video.file.name.endswith("/oven.mp4"))
        self.assertContains(page, "JPEG · 1.2 MB · 1200×800".replace("1.2 MB", _size(image.size)))
        self.assertContains(page, f"/app/{self.team.pk}/media/{image.pk}/thumbnail/")
        thumb = self.client.get(f"{self.page}{image.pk}/thumbnail/")
        self.assertEqual((thumb.status_code, thumb["Content-Type"]), (200, "image/jpeg"))

    @skipUnless(HAS_FFMPEG, "ffmpeg and ffprobe are not installed: a video's frame cannot be read")
    def test_a_videos_first_frame_size_and_duration_come_from_ffmpeg(self):
        video = self.item("oven.mp4", MP4_BYTES)
        self.assertEqual((video.width, video.height), (180, 320))
        self.assertAlmostEqual(video.duration, 3.0, places=1)
        self.assertTrue(video.thumbnail)
        self.assertEqual(video.thumbnail_note, "")
        page = self.client.get(self.page)
        self.assertContains(page, "MP4 · ")
        self.assertContains(page, "180×320 · 0:03")

    @override_settings(FFMPEG_PATH="/nonexistent/ffmpeg", FFPROBE_PATH="/nonexistent/ffprobe")
    def test_without_ffmpeg_a_video_is_kept_with_a_placeholder_that_says_so(self):
        video = self.item("oven.mp4", MP4_BYTES)
        self.assertFalse(video.thumbnail)
        self.assertIsNone(video.duration)
        page = self.client.get(self.page)
        self.assertContains(page, "No preview: ffmpeg is not installed on the server")
        self.assertEqual(self.client.get(f"{self.page}{video.pk}/thumbnail/").status_code, 404)

    def test_it_refuses_a_file_that_is_neither_image_nor_video_saying_so(self):
        page = self.upload(SimpleUploadedFile("menu.jpg", b"<html>not a picture</html>"))
        self.assertContains(page, "menu.jpg is neither an image (JPEG, PNG, GIF, WebP) nor a video")
        bmp = self.upload(SimpleUploadedFile("logo.bmp", image_bytes("BMP", (40, 40))))
        self.assertContains(bmp, "logo.bmp is a BMP image; the networks take JPEG, PNG, GIF or WebP: convert it")
        self.assertContains(self.upload(SimpleUploadedFile("empty.png", b"")), "empty.png is empty")
        self.assertFalse(MediaItem.objects.exists())

    def test_a_file_some_channels_cannot_take_is_kept_with_a_warning_naming_them(self):
        page = self.upload(SimpleUploadedFile("logo.png", image_bytes("PNG", (300, 300))))
        self.assertContains(page, "Uploaded logo.png, but not for every channel.")
        self.assertContains(page, "Instagram (Bakery on Instagram): Instagram takes JPEG images: convert this PNG.")
        self.assertNotContains(page, "X (Bakery on X):")
        self.assertTrue(MediaItem.objects.filter(name="logo.png").exists())

    def test_a_file_no_channel_can_take_is_refused_with_what_to_change(self):
        self.x.delete()
        bluesky = self.connect(self.team, "BLUESKY", "did:plc:bakery", "bakery.bsky.social")
        page = self.upload(SimpleUploadedFile("bread.png", image_bytes("PNG", (1100, 1000), noise=True)))
        self.assertContains(page, "None of this team&#x27;s channels can take bread.png.")
        self.assertContains(page, "Instagram takes JPEG images: convert this PNG.")
        self.assertContains(page, "Bluesky takes images up to 1.9 MB; this one is 3.2 MB: make it smaller.")
        self.assertFalse(MediaItem.objects.exists())
        # A video: Instagram takes it, Bluesky (images only) is named.
        bluesky.refresh_from_db()
        self.assertContains(self.upload(SimpleUploadedFile("oven.mov", MP4_BYTES)), "Bluesky takes images only.")

    def test_two_accounts_of_one_name_that_cannot_take_a_file_refuse_it(self):
        self.x.delete()
        self.connect(self.team, "INSTAGRAM", "17841400000000002", "Bakery on Instagram")
        page = self.upload(SimpleUploadedFile("logo.png", image_bytes("PNG", (300, 300))))
        self.assertContains(page, "None of this team&#x27;s channels can take logo.png.")
        self.assertFalse(MediaItem.objects.exists())

    def test_a_team_without_channels_keeps_what_any_network_takes(self):
        item = self.item("croissant.jpg", team=self.tokyo)
        self.assertEqual(item.team, self.tokyo)

    # --- who sees what -----------------------------------------------------------------------

    def test_another_teams_library_and_files_are_404(self):
        theirs = self.item(team=self.tokyo)
        self.assertEqual(self.client.get(f"/app/{self.tokyo.pk}/media/").status_code, 404)
        self.assertEqual(self.client.get(f"{self.page}{theirs.pk}/thumbnail/").status_code, 404)
        self.assertEqual(self.client.get(f"{self.page}{theirs.pk}/file/").status_code, 404)
        self.assertEqual(self.client.post(f"{self.page}{theirs.pk}/delete/").status_code, 404)
        self.assertTrue(MediaItem.objects.filter(pk=theirs.pk).exists())
        self.client.logout()
        self.assertEqual(self.client.get(self.page).status_code, 302)

    # --- reuse and deletion ------------------------------------------------------------------

    def scheduled_post(self, item: MediaItem, **fields) -> Post:
        return publishing.post_create(
            team=self.team,
            content="Fresh croissants",
            channels=[self.x.pk],
            media_urls=[media_url(item)],
            scheduled_at=timezone.now() + timedelta(hours=2),
            **fields,
        )

    def test_it_shows_where_each_file_is_used_and_refuses_deleting_it_under_a_scheduled_post(self):
        item = self.item()
        post = self.scheduled_post(item)
        other = publishing.post_create(
            team=self.team,
            content="Variant only",
            channels=[self.x.pk],
            variants={"TWITTER": {"media_urls": [media_url(item)]}},
        )
        page = self.client.get(self.page)
        self.assertContains(page, f"post #{post.pk}</a> (scheduled)" if _has_post_page() else f"#{post.pk} (scheduled)")
        self.assertContains(page, f"#{other.pk}")

        refused = self.client.post(f"{self.page}{item.pk}/delete/", follow=True)
        self.assertContains(refused, f"croissant.jpg is used by post #{other.pk} (draft), #{post.pk} (scheduled)")
        self.assertTrue(MediaItem.objects.filter(pk=item.pk).exists())

        publishing.post_cancel(post=post)
        publishing.post_cancel(post=other)
        path = item.file.path
        deleted = self.client.post(f"{self.page}{item.pk}/delete/", follow=True)
        self.assertContains(deleted, "Deleted croissant.jpg.")
        self.assertFalse(MediaItem.objects.filter(pk=item.pk).exists())
        self.assertFalse(__import__("os").path.exists(path))

    def test_a_member_deletes_only_their_own_uploads_an_admin_any(self):
        nohas = self.item(user=self.noah)
        page = self.client.get(self.page)
        self.assertNotContains(page, f"/media/{nohas.pk}/delete/")
        refused = self.client.post(f"{self.page}{nohas.pk}/delete/", follow=True)
        self.assertContains(refused, "Only the person who uploaded this file, or an admin, can delete it.")
        media_delete(item=nohas, role=Membership.Role.OWNER, user=self.olga)
        self.assertFalse(MediaItem.objects.exists())

    # --- signed URLs -------------------------------------------------------------------------

    def test_a_signed_url_serves_the_file_until_it_expires_then_410(self):
        item = self.item()
        url = media_url(item, expires=timezone.now() + timedelta(minutes=5))
        self.assertTrue(url.startswith("http://localhost/app/m/"), url)
        self.assertTrue(url.endswith("/croissant.jpg"))
        path = url.removeprefix("http://localhost")
        self.client.logout()  # the platforms have no session
        served = self.client.get(path)
        self.assertEqual((served.status_code, served["Content-Type"]), (200, "image/jpeg"))
        self.assertEqual(b"".join(served.streaming_content), item.file.open("rb").read())
        self.assertEqual(served["Content-Length"], str(item.size))
        self.assertEqual(self.client.head(path).status_code, 200)

        expired = media_url(item, expires=timezone.now() - timedelta(seconds=1))
        gone = self.client.get(expired.removeprefix("http://localhost"))
        self.assertEqual(gone.status_code, 410)
        self.assertIn(b"This media link expired at", gone.content)

        # Another expiry, another file, another name: the signature no longer matches.
        key, expires, signature, name = path.split("/")[3:7]
        for forged in (
            f"/app/m/{key}/{int(expires) + 3600}/{signature}/{name}",
            f"/app/m/{self.item('other.jpg').key.hex}/{expires}/{signature}/other.jpg",
        ):
            self.assertEqual(self.client.get(forged).status_code, 403, forged)
        self.assertEqual(self.client.get(f"/app/m/{key}/{expires}/{signature}/else.jpg").status_code, 404)
        self.assertEqual(self.client.post(path).status_code, 405)

    def test_an_expired_url_still_works_while_a_post_to_be_published_uses_it(self):
        item = self.item()
        stale = media_url(item, expires=timezone.now() - timedelta(hours=1))
        post = publishing.post_create(
            team=self.team,
            content="Moved to next week",
            channels=[self.x.pk],
            media_urls=[stale],
            scheduled_at=timezone.now() + timedelta(days=7),
        )
        path = stale.removeprefix("http://localhost")
        self.assertEqual(self.client.get(path).status_code, 200)
        publishing.post_cancel(post=post)
        self.assertEqual(self.client.get(path).status_code, 410)

    def test_an_expired_url_works_for_a_post_publishing_days_after_its_time(self):
        item = self.item()
        stale = media_url(item, expires=timezone.now() - timedelta(hours=1))
        post = publishing.post_create(
            team=self.team,
            content="Retried late",
            channels=[self.x.pk],
            media_urls=[stale],
            scheduled_at=timezone.now(),
        )
        path = stale.removeprefix("http://localhost")
        # Its time and the grace long past, its publication retried by a person: still served.
        Post.objects.filter(pk=post.pk).update(
            status=Post.Status.PUBLISHING, scheduled_at=timezone.now() - timedelta(days=10)
        )
        self.assertEqual(self.client.get(path).status_code, 200)
        Post.objects.filter(pk=post.pk).update(status=Post.Status.FAILED)
        self.assertEqual(self.client.get(path).status_code, 410)

    def test_the_library_reads_every_items_posts_in_one_query(self):
        def queries() -> int:
            from django.db import connection
            from django.test.utils import CaptureQueriesContext

            with CaptureQueriesContext(connection) as captured:
                self.assertEqual(self.client.get(self.page).status_code, 200)
            return len(captured)

        first = self.item("one.jpg")
        self.scheduled_post(first)
        one = queries()
        for name in ("two.jpg", "three.jpg", "four.jpg"):
            self.scheduled_post(self.item(name))
        self.assertEqual(queries(), one)

    def test_a_deleted_files_url_is_404(self):
        item = self.item()
        path = media_url(item).removeprefix("http://localhost")
        media_delete(item=item, role=Membership.Role.OWNER, user=self.olga)
        self.assertEqual(self.client.get(path).status_code, 404)

    @override_settings(MEDIA_URL_GRACE_HOURS=72, MEDIA_BASE_URL="https://planrrr.example.com/")
    def test_a_urls_expiry_follows_its_posts_time_and_its_kind_its_extension(self):
        at = timezone.now() + timedelta(days=3)
        self.assertEqual(media_url_expiry(at), at + timedelta(hours=72))
        self.assertGreater(media_url_expiry(None), timezone.now() + timedelta(hours=71))
        video = self.item("oven.mov", MP4_BYTES)
        url = media_url(video, expires=at)
        self.assertTrue(url.startswith("https://planrrr.example.com/app/m/"), url)
        self.assertIn(f"/{int(at.timestamp())}/", url)
        self.assertEqual(media_kind(url), "video")
        self.assertEqual(media_kind(media_url(self.item())), "image")
        self.assertLessEqual(len(url), 2_000)  # Post.media_urls' longest URL

    def test_the_signed_url_passes_the_fetchers_guard_only_on_a_public_address(self):
        item = self.item()
        with override_settings(MEDIA_ALLOW_PRIVATE_URLS=False, MEDIA_BASE_URL="http://127.0.0.1:8000"):
            self.assertIn("loopback", media_url_problem(media_url(item)))
            self.assertContains(self.client.get(self.page), "The networks cannot fetch this library's files")
        with override_settings(MEDIA_ALLOW_PRIVATE_URLS=False, MEDIA_BASE_URL="https://93.184.215.14"):
            self.assertIsNone(media_url_problem(media_url(item)))
            self.assertNotContains(self.client.get(self.page), "The networks cannot fetch")

    # --- the composer's picker -----------------------------------------------------------------

    def test_the_picker_lists_the_teams_items_and_picked_keeps_only_theirs(self):
        mine, theirs = self.item(), self.item(team=self.tokyo)
        request = RequestFactory().get("/")
        request.workspace = Workspace(team=self.team, role="MEMBER", user=self.mia, zone=self.team.zone)
        html = render_to_string(
            "workspace/media/_picker.html", {"items": [mine], "picked_ids": [mine.pk]}, request=request
        )
        self.assertIn(f'name="media" value="{mine.pk}" id="media-pick-{mine.pk}" checked', html)
        self.assertIn(f'<label for="media-pick-{mine.pk}">', html)
        self.assertEqual(picked(self.team, [str(theirs.pk), str(mine.pk), "nonsense", mine.pk]), [mine])
        urls = ["https://elsewhere.example/a.jpg", media_url(mine)]
        self.assertEqual(items_in(urls, self.team), [mine])
        self.assertEqual(items_in(urls, self.tokyo), [])

    @override_settings(MEDIA_BASE_URL="")
    def test_a_file_ticked_in_the_composer_becomes_its_signed_link_in_the_post(self):
        item, theirs = self.item(), self.item("tea.jpg", team=self.tokyo)
        compose = f"/app/{self.team.pk}/compose/"
        page = self.client.get(compose)
        self.assertContains(page, f'name="media" value="{item.pk}"')
        self.assertNotContains(page, f'value="{theirs.pk}" id="media-pick')
        self.client.post(
            compose,
            {"content": "Fresh croissants", "channels": [self.x.pk], "media_urls": "", "media": [item.pk, theirs.pk],
             "action": "draft"},
            HTTP_HOST="bakery.localhost:8000",
        )  # fmt: skip
        post = Post.objects.get(content="Fresh croissants")
        (url,) = post.media_urls
        self.assertTrue(url.startswith("http://bakery.localhost:8000/app/m/"), url)  # the request's address
        self.assertEqual(items_in(post.media_urls, self.team), [item])
        self.assertIn(f"#{post.pk}", self.client.get(self.page).content.decode())


def _size(n: int) -> str:
    from workspace.media.limits import size_words

    return size_words(n)


def _has_post_page() -> bool:
    from django.urls import NoReverseMatch, reverse

    for name in ("workspace:post", "workspace:post_edit"):
        try:
            reverse(name, kwargs={"team_id": 1, "post_id": 1})
            return True
        except NoReverseMatch:
            continue
    return False
