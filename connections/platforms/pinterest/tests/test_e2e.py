"""Pinterest over the wire (issue 23): real workers pinning to the stand-in's Pinterest API, the
account connected through Pinterest's own OAuth flow (code, continuous refresh token, the
account, its boards: a default board picked).

An image pin is one ``POST /v5/pins``; a video pin is registered (``POST /v5/media``), uploaded to
the registration's S3 form (the parameters first, the file last: the stand-in refuses the other
order as S3 does), waited for while Pinterest processes it, then pinned. A lost answer, a killed
worker and a cut upload still give exactly one pin."""

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import requests
from django.core.exceptions import ValidationError
from django.utils import timezone

from connections.models import Connection
from connections.platforms import get_client
from connections.services import connection_connect, connection_refresh
from devtools.testing import wait_for
from publishing import services
from publishing.models import Post, Publication
from publishing.tests.base import PublishingLiveTestCase

APP = {"PINTEREST_APP_ID": "planrrr-e2e", "PINTEREST_APP_SECRET": "e2e-pinterest-secret"}
ACCOUNT = "1130405611271855432"
HOME, LATTE_ART = "1130405542553124017", "1130405542553124018"


class PinterestCase(PublishingLiveTestCase):
    def platform_env(self) -> dict[str, str]:
        return {**super().platform_env(), **APP, "PINTEREST_MEDIA_POLL_SECONDS": "1"}

    def setUp(self):
        super().setUp()
        self.pinterest = self.connect_pinterest(board="Latte art")

    def connect_pinterest(self, *, board: str) -> Connection:
        """What the connect page does: consent approved, code exchanged, one choice per board of
        the account, the one picked connected."""
        client = get_client("PINTEREST")
        redirect_uri = f"{self.live_server_url}/connect/pinterest/callback"
        url = client.authorization_url(redirect_uri=redirect_uri, state="s", code_verifier=None)
        code = parse_qs(urlsplit(self.mock.approve(url)).query)["code"][0]
        grant = client.exchange(code=code, redirect_uri=redirect_uri, code_verifier=None)
        choices = client.accounts(grant)
        (picked,) = [choice for choice in choices if choice.details["defaultBoardName"] == board]
        return connection_connect(team=self.team, choice=picked)[0]

    def post(self, content: str, **kwargs) -> Post:
        return services.post_create(
            team=self.team, content=content, platforms=["PINTEREST"], scheduled_at=timezone.now(), **kwargs
        )

    def pin_creates(self) -> list[dict]:
        return [r for r in self.mock.requests("PINTEREST", method="POST") if r["path"].endswith("/v5/pins")]

    def uploads(self) -> list[dict]:
        return [r for r in self.mock.requests("PINTEREST") if r["path"].endswith("pinterest-upload/")]


class PinterestPublishingTests(PinterestCase):
    def test_it_connects_with_the_board_picked_and_renews_with_a_continuous_refresh_token(self):
        connection = self.pinterest
        self.assertEqual((connection.account_id, connection.name), (ACCOUNT, "@acmecoffee"))
        self.assertEqual(connection.details["defaultBoardId"], LATTE_ART)
        self.assertEqual([b["id"] for b in connection.details["boards"]], [HOME, LATTE_ART])
        self.assertGreater(connection.expires_at, timezone.now() + timedelta(days=29))
        self.assertGreater(connection.refresh_expires_at, timezone.now() + timedelta(days=59))
        (exchange,) = self.mock.requests("PINTEREST", path="oauth/token")
        self.assertEqual(exchange["body"]["continuous_refresh"], "true")
        self.assertTrue(exchange["headers"]["Authorization"].startswith("Basic "), "the app authenticates by Basic")

        before_access, before_refresh = connection.access_token, connection.refresh_token
        connection_refresh(connection_id=connection.pk, valid_for=timedelta(days=90))
        connection.refresh_from_db()
        self.assertNotEqual(connection.access_token, before_access)
        self.assertNotEqual(connection.refresh_token, before_refresh, "a continuous refresh token is renewed too")
        self.assertGreater(connection.refresh_expires_at, timezone.now() + timedelta(days=59))
        self.assertEqual(connection.status, Connection.Status.ACTIVE)
        spent = [t for t in self.mock.issued_tokens("PINTEREST", kind="refresh") if t["token"] == before_refresh]
        self.assertEqual(spent[0]["status"], "rotated")

    def test_it_pins_an_image_a_video_after_a_cut_upload_and_to_a_posts_own_board(self):
        # The video's first upload is cut half-way; Pinterest then processes it for two looks.
        self.mock.configure(pinterest_processing_polls=2, pinterest_cut_uploads=1)
        self.start_worker()
        image = self.post("Our autumn menu.", media_urls=[self.mock.media_url("menu.jpg")])
        # The cover comes first: the video is still the file uploaded (the attachment-order bug).
        cover, clip = self.mock.media_url("cover.jpg"), self.mock.media_url("pour-big.mp4")
        video = self.post("Pouring a flat white.", media_urls=[cover, clip])
        # Another board for one post, with a title and a link; a board the account does not have
        # is refused at the door, naming those it has.
        options = {"boardId": HOME, "title": "Flat white", "link": "https://acme.example/menu"}
        elsewhere = self.post(
            "On the other board.",
            media_urls=[self.mock.media_url("menu.jpg")],
            variants={"PINTEREST": {"options": options}},
        )
        with self.assertRaises(ValidationError) as refused:
            self.post("Nowhere.", media_urls=[cover], variants={"PINTEREST": {"options": {"boardId": "42"}}})
        self.assertIn(
            f"Pinterest board 42 is not one of this account's boards as known ({HOME}", str(refused.exception)
        )

        for post in (image, video, elsewhere):
            self.wait_until_final(post, timeout=40)

        statuses = [post.status for post in (image, video, elsewhere)]
        self.assertEqual(statuses, [Post.Status.PUBLISHED] * 3, self.worker_logs())
        made = {p["text"]: p for p in self.mock.posts("PINTEREST")}
        self.assertEqual(len(made), 3)
        self.assertEqual(made["Our autumn menu."]["board_id"], LATTE_ART, "the default board picked at connect")
        self.assertEqual(made["Our autumn menu."]["creative_type"], "REGULAR")
        other = made["On the other board."]
        self.assertEqual(
            (other["board_id"], other["title"], other["link"]), (HOME, "Flat white", "https://acme.example/menu")
        )
        pin = made["Pouring a flat white."]
        self.assertEqual((pin["creative_type"], pin["media"]["cover_image_url"]), ("VIDEO", cover))

        # S3 form posts do not resume: the cut upload's registration is dropped, the whole file
        # goes to a fresh one, and arrives once; one pin.
        self.assertEqual([(u["outcome"]) for u in self.uploads()], ["cut", "uploaded"])
        registrations = [r for r in self.mock.requests("PINTEREST", method="POST") if r["path"].endswith("/v5/media")]
        self.assertEqual(len(registrations), 2)
        (kept,) = self.mock.media("PINTEREST")
        self.assertEqual(kept["size"], 5 * 256 * 1024)
        self.assertEqual(len([r for r in self.pin_creates() if "video_id" in json.dumps(r["body"])]), 1)
        looks = [r for r in self.mock.requests("PINTEREST", method="GET") if "/v5/media/" in r["path"]]
        self.assertGreaterEqual(len(looks), 3, "processing for two looks, then succeeded")
        publication = self.publication(video, "PINTEREST")
        self.assertEqual(publication.external_id, pin["id"])
        self.assertEqual(publication.attempt_count, 2, "the cut upload cost an attempt, the processing waits none")

    def test_the_stand_in_refuses_the_file_before_the_parameters_as_s3_does(self):
        token = self.pinterest.access_token
        registered = requests.post(
            self.mock.url("pinterest/v5/media"),
            json={"media_type": "video"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        video = requests.get(self.mock.media_url("pour.mp4"), timeout=10).content
        # The file first, then the parameters: what a form built in the wrong order sends.
        fields = [("file", ("pour.mp4", video, "video/mp4"))]
        fields += [(name, (None, value)) for name, value in registered["upload_parameters"].items()]
        refused = requests.post(registered["upload_url"], files=fields, timeout=10)
        self.assertEqual(refused.status_code, 400)
        self.assertIn("Bucket POST must contain a field named 'key'", refused.text)

        answered = requests.post(
            registered["upload_url"],
            data=registered["upload_parameters"],
            files={"file": ("pour.mp4", video, "video/mp4")},
            timeout=10,
        )
        self.assertEqual(answered.status_code, 204)

    def test_a_deleted_board_fails_saying_so_an_expired_token_is_renewed_and_an_ended_grant_asks_to_reconnect(self):
        self.mock.configure(pinterest_deleted_boards=LATTE_ART)
        self.start_worker()
        post = self.post("To a board that is gone.", media_urls=[self.mock.media_url("menu.jpg")])
        self.wait_until_final(post, timeout=30)
        publication = self.publication(post, "PINTEREST")
        self.assertEqual(publication.status, Publication.Status.FAILED)
        self.assertIn(f"Pinterest board {LATTE_ART} no longer exists", publication.error)
        self.assertIn("options.boardId", publication.error)

        # A 401 renews the token (a refresh) and the pin is made with the new one.
        self.mock.configure(pinterest_deleted_boards="")
        self.mock.fail("PINTEREST", "token_expired", times=1)
        post = self.post("With an expired token.", media_urls=[self.mock.media_url("menu.jpg")])
        self.wait_until_final(post, timeout=30)
        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        refreshes = [r for r in self.mock.requests("PINTEREST", path="oauth/token") if r["body"].get("refresh_token")]
        self.assertEqual(len(refreshes), 1)

        # A grant Pinterest ended (the refresh token revoked): the account must be reconnected.
        self.pinterest.refresh_from_db()
        self.mock.revoke_token(self.pinterest.refresh_token)
        self.mock.fail("PINTEREST", "token_expired", times=1)
        post = self.post("After the grant ended.", media_urls=[self.mock.media_url("menu.jpg")])
        self.wait_until_final(post, timeout=30)
        publication = self.publication(post, "PINTEREST")
        self.assertEqual(publication.status, Publication.Status.FAILED)
        self.assertIn("reconnect", publication.error)
        self.pinterest.refresh_from_db()
        self.assertEqual(self.pinterest.status, Connection.Status.EXPIRED)
        self.assertEqual([p["text"] for p in self.mock.posts("PINTEREST")], ["With an expired token."])


class PinterestExactlyOnceTests(PinterestCase):
    def test_a_dropped_answer_a_500_and_a_429_each_end_in_one_pin(self):
        # The first pin is made and its answer lost; the second meets a 500, then a 429.
        self.mock.fail("PINTEREST", "accept_then_drop", times=1, contains="Exactly once")
        self.mock.fail("PINTEREST", "server_error", times=1, contains="Through")
        self.mock.fail("PINTEREST", "rate_limit", times=1, seconds=1, contains="Through")
        self.start_worker()
        dropped = self.post("Exactly once on Pinterest.", media_urls=[self.mock.media_url("menu.jpg")])
        retried = self.post("Through a 500 and a 429.", media_urls=[self.mock.media_url("menu.jpg")])

        self.wait_until_final(dropped, timeout=30)
        self.wait_until_final(retried, timeout=40)

        self.assertEqual((dropped.status, retried.status), (Post.Status.PUBLISHED,) * 2, self.worker_logs())
        pins = self.mock.posts("PINTEREST")
        made = {p["text"]: p for p in pins}
        self.assertEqual(len(pins), 2, "one pin each")
        self.assertEqual(sorted(made), ["Exactly once on Pinterest.", "Through a 500 and a 429."])
        publication = self.publication(dropped, "PINTEREST")
        self.assertEqual(publication.external_id, made["Exactly once on Pinterest."]["id"])
        self.assertTrue(publication.metadata.get("reconciled"), "found on the board")
        creates = {text: [r["status"] for r in self.pin_creates() if text in json.dumps(r["body"])] for text in made}
        self.assertEqual(len(creates["Exactly once on Pinterest."]), 1, "nothing pinned after the lost answer")
        self.assertEqual(sorted(creates["Through a 500 and a 429."]), [201, 429, 500])

    def test_a_worker_killed_mid_publish_gives_one_pin(self):
        self.mock.fail("PINTEREST", "accept_then_stall", times=1, seconds=30)
        first = self.start_worker(PUBLISH_JOB_TIMEOUT=3, PUBLISH_LEASE_SECONDS=4)
        post = self.post("Killed mid-pin.", media_urls=[self.mock.media_url("menu.jpg")])
        wait_for(lambda: self.pin_creates(), message="POST /v5/pins to arrive")
        self.assertEqual(self.publication(post, "PINTEREST").status, Publication.Status.PUBLISHING)

        first.kill()
        self.start_worker()

        self.wait_until_final(post, timeout=30)
        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        made = self.mock.posts("PINTEREST")
        self.assertEqual(len(made), 1, "exactly one pin")
        self.assertEqual(self.publication(post, "PINTEREST").external_id, made[0]["id"])
        self.assertEqual(len(self.pin_creates()), 1)
