"""Posts go to accounts, not platforms: a team with two Facebook pages, three LinkedIn authors and
two X accounts publishes each post to exactly the accounts chosen, through the API, to the
stand-in over HTTP (which records the account of every post it receives)."""

from datetime import timedelta

from django.db import connection as db
from django.utils import timezone
from rest_framework.test import APIClient

from api import services as api_services
from connections.models import Connection
from publishing.models import Post, Publication
from publishing.tests.base import FACEBOOK_PAGE, TWITTER_USER, PublishingLiveTestCase

SECOND_PAGE = "104857600000002"
SECOND_X_USER = "1000000000000000042"
MEMBER = "urn:li:person:aB3cD4eF5g"
ORGANIZATION = "urn:li:organization:5515715"
OTHER_ORGANIZATION = "urn:li:organization:2414183"


class ChannelsOverTheWireTests(PublishingLiveTestCase):
    def setUp(self) -> None:
        super().setUp()
        Connection.objects.filter(pk=self.facebook.pk).update(name="Acme page")
        Connection.objects.filter(pk=self.twitter.pk).update(name="@acme")
        self.coffee = self.named("FACEBOOK", SECOND_PAGE, "coffee_page_token", "Acme Coffee")
        self.x_support = self.named("TWITTER", SECOND_X_USER, "support_x_token", "@acme_support")
        self.mock.bind_token("support_x_token", SECOND_X_USER)
        self.member = self.named("LINKEDIN", MEMBER, "li_token", "Ada Lovelace")
        self.organization = self.named("LINKEDIN", ORGANIZATION, "li_token", "Acme Coffee Ltd")
        self.other_organization = self.named("LINKEDIN", OTHER_ORGANIZATION, "li_token", "Acme Labs")
        _, key = api_services.api_key_create(team=self.team, name="CMS", role="write")
        self.api = APIClient()
        self.api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    def named(self, platform: str, account_id: str, token: str, name: str) -> Connection:
        connection = self.connect(platform, account_id, token)
        Connection.objects.filter(pk=connection.pk).update(name=name)
        return connection

    def create(self, **body) -> dict:
        response = self.api.post("/api/v1/posts", {"scheduledAt": self.soon(1).isoformat(), **body}, format="json")
        self.assertEqual(response.status_code, 201, response.content)
        return response.json()

    def received(self) -> dict[str, set[tuple[str, str]]]:
        """What the stand-in received: text -> {(platform, account)}."""
        found: dict[str, set] = {}
        for post in self.mock.posts():
            found.setdefault(post["text"], set()).add((post["platform"], post["account"]))
        return found

    def test_each_post_goes_to_exactly_the_accounts_chosen(self):
        self.start_worker()
        first = self.create(content="To the coffee page, one organisation and support", channels=[
            self.coffee.pk, self.organization.pk, self.x_support.pk,
        ])  # fmt: skip
        second = self.create(
            content="To both pages, the member and the main X account",
            channels=[self.facebook.pk, self.coffee.pk, self.member.pk, self.twitter.pk],
            # A channel's variant overrides its platform's, which overrides the post's own text.
            variants={
                "FACEBOOK": {"content": "Both pages hear this"},
                str(self.coffee.pk): {"content": "Only the coffee page hears this"},
            },
        )
        third = self.create(content="To the other organisation only", channels=[self.other_organization.pk])
        self.assertEqual(first["channels"], [self.coffee.pk, self.organization.pk, self.x_support.pk])
        self.assertEqual(first["platforms"], ["FACEBOOK", "LINKEDIN", "TWITTER"])
        self.assertEqual(
            sorted(p["channelId"] for p in second["publications"]),
            sorted([self.facebook.pk, self.coffee.pk, self.member.pk, self.twitter.pk]),
        )

        for data in (first, second, third):
            self.assertEqual(self.wait_until_final(Post.objects.get(pk=data["id"])).status, Post.Status.PUBLISHED)

        self.assertEqual(
            self.received(),
            {
                "To the coffee page, one organisation and support": {
                    ("FACEBOOK", SECOND_PAGE),
                    ("LINKEDIN", ORGANIZATION),
                    ("TWITTER", SECOND_X_USER),
                },
                "Both pages hear this": {("FACEBOOK", FACEBOOK_PAGE)},
                "Only the coffee page hears this": {("FACEBOOK", SECOND_PAGE)},
                "To both pages, the member and the main X account": {("LINKEDIN", MEMBER), ("TWITTER", TWITTER_USER)},
                "To the other organisation only": {("LINKEDIN", OTHER_ORGANIZATION)},
            },
        )
        self.assertEqual(len(self.mock.posts()), 8)  # each once

    def test_a_platform_with_several_accounts_is_refused_at_the_door_listing_them(self):
        response = self.api.post("/api/v1/posts", {"content": "Where?", "platforms": ["FACEBOOK"]}, format="json")
        self.assertEqual(response.status_code, 400)
        (message,) = response.json()["errors"]["platforms"]
        self.assertIn("FACEBOOK has 2 accounts in this team", message)
        self.assertIn(f"#{self.facebook.pk} Acme page", message)
        self.assertIn(f"#{self.coffee.pk} Acme Coffee", message)
        self.assertFalse(Post.objects.filter(team=self.team).exists())

    def test_a_row_by_sql_naming_platforms_only_fails_where_the_platform_has_several_accounts(self):
        # The outsiders have one Facebook page: their row publishes there, as before channels.
        theirs = self.connect("FACEBOOK", "104857600000099", "their_token", team=self.outsiders)
        self.start_worker()
        rows = []
        with db.cursor() as cursor:
            for team, platforms in ((self.team, ["FACEBOOK", "TWITTER"]), (self.outsiders, ["FACEBOOK"])):
                cursor.execute(
                    "INSERT INTO publishing_post (team_id, content, platforms, media_urls, status, scheduled_at,"
                    " created_at, updated_at) VALUES (%s, %s, %s, '{}', 'SCHEDULED', %s, now(), now()) RETURNING id",
                    [team.pk, f"By SQL for {team.name}", platforms, self.soon(0.5)],
                )
                rows.append(Post.objects.get(pk=cursor.fetchone()[0]))
        ours, outsiders = (self.wait_until_final(post) for post in rows)

        self.assertEqual(outsiders.status, Post.Status.PUBLISHED)
        self.assertEqual(outsiders.publications.get().connection_id, theirs.pk)
        self.assertEqual(ours.status, Post.Status.FAILED)
        facebook = ours.publications.get(platform="FACEBOOK")
        self.assertEqual((facebook.status, facebook.connection_id), (Publication.Status.FAILED, None))
        self.assertIn(f"FACEBOOK has 2 accounts in this team: #{self.facebook.pk} Acme page", facebook.error)
        self.assertIn("choose channels", ours.publications.get(platform="TWITTER").error)
        self.assertEqual({(p["platform"], p["account"]) for p in self.mock.posts()}, {("FACEBOOK", "104857600000099")})

    def test_an_edit_before_the_slot_changes_what_goes_where(self):
        self.start_worker()
        later = (timezone.now() + timedelta(hours=1)).isoformat()
        data = self.create(content="Draft text", channels=[self.facebook.pk, self.member.pk], scheduledAt=later)
        changed = self.api.patch(
            f"/api/v1/posts/{data['id']}",
            {
                "content": "Final text",
                "channels": [self.coffee.pk, self.x_support.pk],
                "scheduledAt": self.soon(1).isoformat(),
            },
            format="json",
        )
        self.assertEqual(changed.status_code, 200, changed.content)
        self.assertEqual(changed.json()["channels"], [self.coffee.pk, self.x_support.pk])
        post = self.wait_until_final(Post.objects.get(pk=data["id"]))
        self.assertEqual(post.status, Post.Status.PUBLISHED)
        self.assertEqual(self.received(), {"Final text": {("FACEBOOK", SECOND_PAGE), ("TWITTER", SECOND_X_USER)}})
        # Once publishing has started, an edit is refused with the reason.
        refused = self.api.patch(f"/api/v1/posts/{data['id']}", {"content": "Too late"}, format="json")
        self.assertEqual(refused.status_code, 409)
        self.assertIn("only drafts and scheduled posts can be changed", refused.json()["detail"])
