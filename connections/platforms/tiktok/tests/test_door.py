"""TikTok at the door (no platform call): a post to an account offered only private posts is
accepted with a notice, in the API's answer and as the admin's warning; a privacy level the account
is not offered is refused, naming those it is."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from api.tests.base import ApiTestCase
from connections.models import Connection
from planrrr import teamadmin
from planrrr.models import Membership

VIDEO = "https://cdn.example.com/clip.mp4"
NOTICE = (
    "TikTok will publish this video as private (SELF_ONLY): it will be visible only to the account owner until "
    "planrrr's TikTok app passes TikTok's audit."
)


class TikTokDoorTests(ApiTestCase):
    def setUp(self):
        super().setUp()
        self.private = Connection.objects.create(
            team=self.team,
            platform="TIKTOK",
            account_id="open-sam",
            name="@samsolo",
            access_token="act.sam",
            details={"username": "samsolo", "privacyLevelOptions": ["SELF_ONLY"]},
        )
        self.public = Connection.objects.create(
            team=self.team,
            platform="TIKTOK",
            account_id="open-acme",
            name="@acmecoffee",
            access_token="act.acme",
            details={"username": "acmecoffee", "privacyLevelOptions": ["PUBLIC_TO_EVERYONE", "SELF_ONLY"]},
        )

    def test_the_api_answers_a_notice_for_the_private_only_channel(self):
        data = self.create_post(
            content="Private until the audit.", platforms=["TIKTOK"], channels=[self.private.pk, self.public.pk],
            mediaUrls=[VIDEO],
        )  # fmt: skip
        self.assertEqual(data["notices"], [{"channelId": self.private.pk, "platform": "TIKTOK", "message": NOTICE}])
        self.assertEqual(self.api.get(f"/api/v1/posts/{data['id']}").json()["notices"], data["notices"])
        other = self.create_post(content="No TikTok here.")
        self.assertEqual(other["notices"], [])

    def test_the_api_refuses_a_privacy_level_the_account_is_not_offered(self):
        body = {
            "content": "Public, please.",
            "channels": [self.private.pk],
            "mediaUrls": [VIDEO],
            "variants": {"TIKTOK": {"options": {"privacyLevel": "PUBLIC_TO_EVERYONE"}}},
        }
        response = self.api.post("/api/v1/posts", body, format="json")
        self.assertEqual(response.status_code, 400, response.content)
        self.assertEqual(
            response.json()["errors"]["variants.TIKTOK.options"],
            [
                "TikTok offers @samsolo the privacy levels SELF_ONLY, not PUBLIC_TO_EVERYONE: set privacyLevel to "
                "one of them."
            ],
        )

    def test_the_admin_shows_the_notice_when_the_post_is_saved(self):
        writer = get_user_model().objects.create_user("wendy", password="password", is_staff=True)
        writer.groups.add(Group.objects.get(name=teamadmin.TEAM_GROUP))
        Membership.objects.create(user=writer, team=self.team, role=Membership.Role.OWNER)
        self.client.force_login(writer)
        when = timezone.localtime(timezone.now() + timedelta(days=1), self.team.zone)
        form = {
            "team": self.team.pk, "content": "Private until the audit.", "channels": [self.private.pk],
            "media_urls": VIDEO, "variants": "", "thread": "", "first_comment": "", "repeat": "",
            "scheduled_at_0": when.date().isoformat(), "scheduled_at_1": "09:30:00",
            "publications-TOTAL_FORMS": "0", "publications-INITIAL_FORMS": "0",
        }  # fmt: skip

        response = self.client.post(reverse("admin:publishing_post_add"), form)

        self.assertEqual(response.status_code, 302, response.content.decode()[-2000:])
        warnings = [m.message for m in get_messages(response.wsgi_request) if m.level_tag == "warning"]
        self.assertEqual(len(warnings), 1, warnings)
        self.assertTrue(warnings[0].endswith(NOTICE), warnings)
