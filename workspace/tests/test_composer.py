"""The composer: a post written once for several channels, each channel's own version, the door's
rules as the person types, and every action through the services with the person's role."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import TestCase, override_settings
from django.utils import timezone

from connections.models import Connection
from planrrr.models import Membership, Team
from publishing import services
from publishing.models import Post
from workspace.access import Workspace
from workspace.composer.composition import Composition, from_post_data
from workspace.composer.views import composer_problems

# A link that resolves nowhere is no reason to refuse a post (connections.platforms.base); the
# composer's tests keep the resolver out of it.
IMAGE = "https://cdn.example.org/roast.jpg"
VIDEO = "https://cdn.example.org/roast.mp4"


@override_settings(MEDIA_ALLOW_PRIVATE_URLS=True)
class ComposerTestCase(TestCase):
    @classmethod
    def setUpTestData(cls):
        users = get_user_model().objects
        cls.team = Team.objects.create(name="Paris bakery", timezone="Europe/Paris")
        cls.olga = users.create_user("olga", password="owns the bakery")
        Membership.objects.create(user=cls.olga, team=cls.team, role=Membership.Role.OWNER)
        cls.mia = users.create_user("mia", password="writes every day")
        Membership.objects.create(user=cls.mia, team=cls.team, role=Membership.Role.MEMBER)
        cls.x = cls.connect("TWITTER", "@bakery")
        cls.bluesky = cls.connect("BLUESKY", "bakery.bsky.social")
        cls.facebook = cls.connect("FACEBOOK", "Paris Bakery page")
        cls.instagram = cls.connect("INSTAGRAM", "parisbakery")
        cls.youtube = cls.connect("YOUTUBE", "Bakery TV")
        cls.pinterest = cls.connect(
            "PINTEREST",
            "Bakery pins",
            details={
                "defaultBoardId": "101",
                "boards": [{"id": "101", "name": "Breads"}, {"id": "102", "name": "Cakes"}],
            },
        )
        cls.linkedin = cls.connect("LINKEDIN", "Bakery Ltd")
        Connection.objects.filter(pk=cls.linkedin.pk).update(
            status=Connection.Status.EXPIRED, status_detail="LinkedIn said the token was revoked"
        )
        cls.elsewhere = Team.objects.create(name="Tokyo tea")

    @classmethod
    def connect(cls, platform: str, name: str, details: dict | None = None) -> Connection:
        return Connection.objects.create(
            team=cls.team,
            platform=platform,
            account_id=f"{platform.lower()}-1",
            name=name,
            access_token="token",
            details=details or {},
        )

    def setUp(self):
        self.client.force_login(self.olga)

    @property
    def compose_url(self) -> str:
        return f"/app/{self.team.pk}/compose/"

    def form(self, **given) -> dict:
        """A composer form's fields: the main text for X and Facebook unless told otherwise."""
        data = {"content": "Fresh bread at 7.", "channels": [self.x.pk, self.facebook.pk], "media_urls": ""}
        data.update(given)
        return data

    def requires_approval(self) -> None:
        Team.objects.filter(pk=self.team.pk).update(requires_approval=True)
        self.team.refresh_from_db()

    def later(self, days: int = 30) -> datetime:
        return (timezone.now() + timedelta(days=days)).replace(second=0, microsecond=0)

    def local(self, moment: datetime) -> str:
        return moment.astimezone(self.team.zone).strftime("%Y-%m-%dT%H:%M")


class ComposerPageTests(ComposerTestCase):
    def test_it_offers_the_teams_channels_and_says_why_an_expired_one_cannot_be_chosen(self):
        page = self.client.get(self.compose_url)
        self.assertContains(page, "@bakery")
        self.assertContains(page, "Paris Bakery page")
        html = page.content.decode()
        expired = re.search(rf'<input[^>]*value="{self.linkedin.pk}"[^>]*>', html).group()
        self.assertIn("disabled", expired)
        self.assertContains(page, "LinkedIn said the token was revoked")
        self.assertContains(page, "Reconnect")  # an owner reconnects
        # Each channel's options, as its adapter declares them: Pinterest's boards to pick from.
        self.assertContains(page, f'name="v-{self.pinterest.pk}-opt-boardId"')
        self.assertContains(page, '<option value="102">Cakes</option>', html=True)
        self.assertContains(page, f'name="v-{self.youtube.pk}-opt-title"')

    def test_every_control_has_a_label(self):
        from html.parser import HTMLParser

        class Controls(HTMLParser):
            def __init__(self):
                super().__init__()
                self.controls, self.labelled = [], set()

            def handle_starttag(self, tag, attrs):
                attrs = dict(attrs)
                if tag == "label" and attrs.get("for"):
                    self.labelled.add(attrs["for"])
                if tag in ("input", "select", "textarea") and attrs.get("type") not in ("hidden",):
                    self.controls.append(attrs.get("id") or attrs.get("name"))

        post = services.post_create(
            team=self.team,
            content="Bread.",
            channels=[self.x.pk, self.youtube.pk],
            thread=[{"content": "2/2"}],
            variants={str(self.youtube.pk): {"media_urls": [VIDEO], "thread": []}},
            role="OWNER",
        )
        for url in (self.compose_url, f"/app/{self.team.pk}/posts/{post.pk}/edit/"):
            with self.subTest(url):
                found = Controls()
                found.feed(self.client.get(url).content.decode())
                self.assertGreater(len(found.controls), 20)
                self.assertEqual([c for c in found.controls if c not in found.labelled], [])

    def test_a_member_is_told_to_ask_and_another_team_is_not_found(self):
        self.client.force_login(self.mia)
        page = self.client.get(self.compose_url)
        self.assertContains(page, "Ask an admin or owner of the team to reconnect it.")
        self.assertEqual(self.client.get(f"/app/{self.elsewhere.pk}/compose/").status_code, 404)

    def test_another_teams_post_is_not_found(self):
        outsider = Connection.objects.create(
            team=self.elsewhere, platform="TWITTER", account_id="t", name="@tea", access_token="token"
        )
        theirs = services.post_create(team=self.elsewhere, content="Matcha", channels=[outsider.pk])
        self.assertEqual(self.client.get(f"/app/{self.team.pk}/posts/{theirs.pk}/edit/").status_code, 404)
        response = self.client.post(f"/app/{self.team.pk}/posts/{theirs.pk}/edit/", {**self.form(), "action": "save"})
        self.assertEqual(response.status_code, 404)
        # Nor can a post of ours be sent to their channel.
        refused = self.client.post(self.compose_url, {**self.form(channels=[outsider.pk]), "action": "draft"})
        self.assertContains(refused, f"Channel {outsider.pk} is not one of your team")
        self.assertFalse(Post.objects.filter(team=self.team).exists())


class ComposerActionTests(ComposerTestCase):
    def test_it_schedules_at_the_local_time_typed_in_the_persons_zone(self):
        response = self.client.post(
            self.compose_url, {**self.form(), "when": "2031-01-14T09:30", "action": "schedule"}, follow=True
        )
        post = Post.objects.get()
        self.assertEqual(post.status, Post.Status.SCHEDULED)
        self.assertEqual(post.scheduled_at, datetime(2031, 1, 14, 8, 30, tzinfo=UTC))
        self.assertEqual(post.channels, [self.x.pk, self.facebook.pk])
        self.assertEqual(post.author, self.olga)
        self.assertContains(response, "Scheduled for Tue 14 Jan 2031, 09:30 Europe/Paris")
        # Summer time: the same wall clock is an hour earlier in UTC.
        self.client.post(self.compose_url, {**self.form(), "when": "2031-07-14T09:30", "action": "schedule"})
        self.assertEqual(Post.objects.latest("pk").scheduled_at, datetime(2031, 7, 14, 7, 30, tzinfo=UTC))

    def test_a_time_the_clocks_skip_is_refused_saying_so(self):
        page = self.client.post(self.compose_url, {**self.form(), "when": "2031-03-30T02:30", "action": "schedule"})
        self.assertContains(page, "2031-03-30 02:30 does not exist in Europe/Paris")
        self.assertFalse(Post.objects.exists())
        page = self.client.post(self.compose_url, {**self.form(), "action": "schedule"})
        self.assertContains(page, "Pick a date and time to schedule at, or save a draft.")

    def test_each_channels_own_text_media_and_options_are_its_variant(self):
        page = self.client.post(
            self.compose_url,
            {
                "content": "Our new sourdough, baked at dawn.",
                "media_urls": IMAGE,
                "channels": [self.x.pk, self.instagram.pk, self.youtube.pk, self.pinterest.pk],
                f"v-{self.x.pk}-own-text": "on",
                f"v-{self.x.pk}-content": "New sourdough!",
                f"v-{self.youtube.pk}-own-media": "on",
                f"v-{self.youtube.pk}-media_urls": VIDEO,
                f"v-{self.youtube.pk}-opt-title": "Sourdough at dawn",
                f"v-{self.youtube.pk}-opt-privacyStatus": "unlisted",
                f"v-{self.youtube.pk}-opt-madeForKids": "false",
                f"v-{self.youtube.pk}-opt-tags": "bread, sourdough",
                f"v-{self.pinterest.pk}-opt-boardId": "102",
                f"v-{self.instagram.pk}-opt-shareToFeed": "",
                # Typed in a tab and then unticked: not part of the post.
                f"v-{self.instagram.pk}-content": "not kept",
                "action": "draft",
            },
        )
        self.assertEqual(page.status_code, 302, page.context and page.context["slots"])
        post = Post.objects.get()
        self.assertEqual(post.status, Post.Status.DRAFT)
        self.assertEqual(post.media_urls, [IMAGE])
        self.assertEqual(
            post.variants,
            {
                str(self.x.pk): {"content": "New sourdough!"},
                str(self.youtube.pk): {
                    "media_urls": [VIDEO],
                    "options": {
                        "title": "Sourdough at dawn",
                        "privacyStatus": "unlisted",
                        "madeForKids": False,
                        "tags": ["bread", "sourdough"],
                    },
                },
                str(self.pinterest.pk): {"options": {"boardId": "102"}},
            },
        )
        # The edit page shows it all back, each in its channel's tab.
        page = self.client.get(f"/app/{self.team.pk}/posts/{post.pk}/edit/")
        self.assertContains(page, "New sourdough!")
        self.assertContains(page, '<option value="102" selected>Cakes</option>', html=True)
        self.assertContains(page, '<option value="unlisted" selected>Unlisted</option>', html=True)
        self.assertContains(page, "bread, sourdough")

    def test_a_thread_goes_to_the_channels_that_have_threads_only(self):
        self.client.post(
            self.compose_url,
            {
                **self.form(channels=[self.x.pk, self.facebook.pk]),
                "thread": ["2/3 The starter is 40 years old.", "3/3 Come early.", ""],
                "thread_media": ["", IMAGE, ""],
                "first_comment": "Opening hours on our site.",
                "action": "draft",
            },
        )
        post = Post.objects.get()
        self.assertEqual(
            post.thread,
            [{"content": "2/3 The starter is 40 years old."}, {"content": "3/3 Come early.", "media_urls": [IMAGE]}],
        )
        self.assertEqual(post.variants, {str(self.facebook.pk): {"thread": []}})
        self.assertEqual(post.first_comment, "Opening hours on our site.")

    def test_a_refusal_is_said_next_to_the_field_it_names_and_nothing_is_saved(self):
        page = self.client.post(
            self.compose_url,
            {
                **self.form(channels=[self.x.pk, self.instagram.pk]),
                "content": "x" * 300,
                f"v-{self.x.pk}-own-text": "on",
                f"v-{self.x.pk}-content": "y" * 290,
                "when": self.local(self.later()),
                "action": "schedule",
            },
        )
        self.assertEqual(page.status_code, 200)
        self.assertFalse(Post.objects.exists())
        html = page.content.decode()
        x_slot = re.search(rf'id="err-v-{self.x.pk}-content"[^>]*>(.*?)</div>', html, re.S).group(1)
        self.assertIn("X allows at most 280 characters; this post has 290. Shorten it by 10.", x_slot)
        media_slot = re.search(r'id="err-media_urls"[^>]*>(.*?)</div>', html, re.S).group(1)
        self.assertIn("Instagram needs at least one image or video", media_slot)
        # What was typed stays.
        self.assertContains(page, "y" * 290)

    def test_a_member_of_a_team_that_requires_approval_submits_and_cannot_publish(self):
        self.requires_approval()
        self.client.force_login(self.mia)
        page = self.client.get(self.compose_url)
        self.assertContains(page, "Submit for approval")
        self.assertContains(page, "Your team requires approval")
        for absent in ('value="schedule"', 'value="publish_now"', 'value="queue"'):
            self.assertNotContains(page, absent)
        when = self.later()
        self.client.post(self.compose_url, {**self.form(), "when": self.local(when), "action": "submit"})
        post = Post.objects.get()
        self.assertEqual(post.status, Post.Status.IN_REVIEW)
        self.assertEqual(post.scheduled_at, when)
        # A button the page does not offer is refused as the API refuses it, and leaves nothing.
        refused = self.client.post(self.compose_url, {**self.form(), "action": "publish_now"})
        self.assertContains(refused, "is not something you can do here")
        self.assertEqual(Post.objects.count(), 1)

    def test_an_approver_publishes_now(self):
        response = self.client.post(self.compose_url, {**self.form(), "action": "publish_now"}, follow=True)
        post = Post.objects.get()
        self.assertEqual(post.status, Post.Status.SCHEDULED)
        self.assertLessEqual(post.scheduled_at, timezone.now())
        self.assertContains(response, "Publishing now")

    def test_add_to_queue_takes_each_channels_next_slot_or_says_why_and_keeps_nothing(self):
        refused = self.client.post(self.compose_url, {**self.form(channels=[self.x.pk]), "action": "queue"})
        self.assertContains(refused, "has no posting slots")
        self.assertFalse(Post.objects.exists())
        services.channel_slots_set(channel=self.x, slots=[(weekday, "09:00") for weekday in range(7)])
        self.client.post(self.compose_url, {**self.form(channels=[self.x.pk]), "action": "queue"})
        post = Post.objects.get()
        self.assertEqual(post.status, Post.Status.SCHEDULED)
        slot = post.publications.get().scheduled_at.astimezone(self.team.zone)
        self.assertEqual((slot.hour, slot.minute), (9, 0))


class ComposerEditTests(ComposerTestCase):
    def test_a_scheduled_post_is_changed_text_channels_and_time(self):
        when = self.later()
        post = services.post_create(
            team=self.team, content="Fresh bread at 7.", channels=[self.x.pk], scheduled_at=when, role="OWNER"
        )
        edit = f"/app/{self.team.pk}/posts/{post.pk}/edit/"
        page = self.client.get(edit)
        self.assertContains(page, f'value="{self.local(when)}"')
        self.assertContains(page, "Save changes")
        later = when + timedelta(hours=2)
        response = self.client.post(
            edit,
            {
                **self.form(content="Fresh bread at 9.", channels=[self.x.pk, self.bluesky.pk]),
                "when": self.local(later),
                "action": "save",
            },
            follow=True,
        )
        post.refresh_from_db()
        self.assertEqual(post.content, "Fresh bread at 9.")
        self.assertEqual(post.channels, [self.x.pk, self.bluesky.pk])
        self.assertEqual(post.scheduled_at, later)
        self.assertEqual(post.status, Post.Status.SCHEDULED)
        self.assertEqual(post.publications.count(), 2)
        self.assertContains(response, "Scheduled for")

    def test_a_post_left_at_its_time_keeps_it(self):
        when = self.later() + timedelta(seconds=42)  # a time set through the API, to the second
        post = services.post_create(
            team=self.team, content="Bread.", channels=[self.x.pk], scheduled_at=when, role="OWNER"
        )
        self.client.post(
            f"/app/{self.team.pk}/posts/{post.pk}/edit/",
            {**self.form(content="Bread!", channels=[self.x.pk]), "when": self.local(when), "action": "save"},
        )
        post.refresh_from_db()
        self.assertEqual((post.content, post.scheduled_at), ("Bread!", when))

    def test_a_member_editing_an_approved_post_sends_it_back_to_review_and_the_button_says_so(self):
        self.requires_approval()
        post = services.post_create(
            team=self.team, content="Bread.", channels=[self.x.pk], scheduled_at=self.later(), role="OWNER"
        )
        self.client.force_login(self.mia)
        edit = f"/app/{self.team.pk}/posts/{post.pk}/edit/"
        self.assertContains(self.client.get(edit), "Save and send for approval again")
        self.client.post(edit, {**self.form(content="Bread?", channels=[self.x.pk]), "action": "save"})
        post.refresh_from_db()
        self.assertEqual((post.content, post.status), ("Bread?", Post.Status.IN_REVIEW))

    def test_a_channels_own_thread_given_through_the_api_is_kept(self):
        own = [{"content": "Only on X: 2/2"}]
        post = services.post_create(
            team=self.team,
            content="Bread.",
            channels=[self.x.pk, self.bluesky.pk],
            thread=[{"content": "For Bluesky: 2/2"}],
            variants={str(self.x.pk): {"thread": own}},
            role="OWNER",
        )
        edit = f"/app/{self.team.pk}/posts/{post.pk}/edit/"
        page = self.client.get(edit)
        self.assertContains(page, "has a thread of its own (given through the API), kept as it is")
        data = {
            **self.form(content="Bread!", channels=[self.x.pk, self.bluesky.pk]),
            "thread": ["For Bluesky: 2/2"],
            f"v-{self.x.pk}-thread": re.search(rf'name="v-{self.x.pk}-thread" value="([^"]*)"', page.content.decode())
            .group(1)
            .replace("&quot;", '"'),
            "action": "draft",
        }
        self.client.post(edit, data)
        post.refresh_from_db()
        self.assertEqual(post.content, "Bread!")
        self.assertEqual(post.variants, {str(self.x.pk): {"thread": own}})
        self.assertEqual(post.thread, [{"content": "For Bluesky: 2/2"}])

    def test_a_post_that_started_publishing_cannot_be_changed_and_the_page_says_so(self):
        post = services.post_create(team=self.team, content="Bread.", channels=[self.x.pk], role="OWNER")
        Post.objects.filter(pk=post.pk).update(status=Post.Status.PUBLISHED)
        edit = f"/app/{self.team.pk}/posts/{post.pk}/edit/"
        page = self.client.get(edit)
        self.assertContains(page, "is published: only drafts, posts in review and scheduled posts can be changed")
        self.assertNotContains(page, 'id="composer"')
        response = self.client.post(edit, {**self.form(content="Changed"), "action": "save"}, follow=True)
        self.assertContains(response, "is published")
        post.refresh_from_db()
        self.assertEqual(post.content, "Bread.")

    def test_a_rejected_draft_shows_the_reviewers_note(self):
        self.requires_approval()
        post = services.post_create(
            team=self.team, content="Bread.", channels=[self.x.pk], scheduled_at=self.later(), role="MEMBER"
        )
        services.post_submit(post=post)
        services.post_reject(post=post, role="OWNER", note="Say which bread.", user=self.olga)
        self.client.force_login(self.mia)
        self.assertContains(
            self.client.get(f"/app/{self.team.pk}/posts/{post.pk}/edit/"), "Rejected by olga:</strong> Say which bread."
        )


class ComposerCheckTests(ComposerTestCase):
    """The check the page asks as the person types is the door's: the same inputs, the same
    answer as post_create (and the counters count as the adapters do)."""

    def workspace(self, user=None, role="OWNER") -> Workspace:
        return Workspace(team=self.team, role=role, user=user or self.olga, zone=self.team.zone)

    def door(self, composition: Composition) -> dict:
        fields = composition.fields({c.pk: c for c in Connection.objects.filter(team=self.team)})
        try:
            services.post_create(
                team=self.team, role="OWNER", scheduled_at=composition.scheduled_at(self.team.zone), **fields
            )
        except ValidationError as err:
            return err.message_dict
        return {}

    def test_the_composers_check_answers_what_post_create_answers(self):
        when = self.local(self.later())
        cases = {
            "fits": self.form(when=when),
            "too long for X only": self.form(content="é" * 281, when=when),
            "X counts a link as 23": self.form(content="a" * 256 + " https://example.org/" + "p" * 300, when=when),
            "Bluesky counts graphemes": {"content": "👨‍👩‍👧" * 300, "channels": [self.bluesky.pk], "when": when},
            "Bluesky one grapheme over": {"content": "👨‍👩‍👧" * 301, "channels": [self.bluesky.pk], "when": when},
            "Instagram needs media": self.form(channels=[self.instagram.pk]),
            "five images on X": self.form(media_urls="\n".join([IMAGE] * 5)),
            "a video on Pinterest beside two": {
                "content": "Pin",
                "channels": [self.pinterest.pk],
                "media_urls": f"{VIDEO}\n{VIDEO}",
            },
            "empty": self.form(content="  \u200b "),
            "no channel": self.form(channels=[]),
            "expired channel": self.form(channels=[self.linkedin.pk]),
            "in the past": self.form(when="2020-01-01T09:00"),
            "bad option": {
                "content": "Video",
                "channels": [self.youtube.pk],
                "media_urls": VIDEO,
                f"v-{self.youtube.pk}-opt-privacyStatus": "friends",
            },
            "thread too long on X": self.form(thread=["ok", "z" * 281]),
            "empty part between": self.form(thread=["ok", " ", "three"]),
            "first comment too long for X": self.form(first_comment="c" * 281),
            "channel's own text empty": self.form(**{f"v-{self.x.pk}-own-text": "on", f"v-{self.x.pk}-content": ""}),
        }
        for name, data in cases.items():
            with self.subTest(name):
                composition = from_post_data(self.querydict(data))
                expected = self.door(from_post_data(self.querydict(data)))
                self.assertEqual(composer_problems(self.workspace(), composition, None), expected)
                Post.objects.all().delete()
                # The page's check shows each of them.
                html = self.client.post(f"/app/{self.team.pk}/compose/check/", data).content.decode()
                for messages in expected.values():
                    for message in messages:
                        self.assertIn(str(message).replace("'", "&#x27;").replace('"', "&quot;"), html)
                self.assertEqual("Every channel takes this post as it is." in html, not expected)
        self.assertEqual(self.door(from_post_data(self.querydict(cases["fits"]))), {})

    @override_settings(YOUTUBE_DAILY_QUOTA_UNITS=2, YOUTUBE_UPLOAD_COST_UNITS=1)
    def test_the_check_says_a_full_quota_as_the_door_does(self):
        when = self.later()
        data = {"content": "Video", "channels": [self.youtube.pk], "media_urls": VIDEO, "when": self.local(when)}
        for _ in range(2):
            services.post_create(
                team=self.team, content="Video", channels=[self.youtube.pk], media_urls=[VIDEO], scheduled_at=when
            )
        expected = self.door(from_post_data(self.querydict(data)))
        self.assertIn("YouTube takes at most 2 posts a day", expected["scheduled_at"][0])
        self.assertEqual(composer_problems(self.workspace(), from_post_data(self.querydict(data)), None), expected)
        html = self.client.post(f"/app/{self.team.pk}/compose/check/", data).content.decode()
        self.assertIn("YouTube takes at most 2 posts a day", html)

    def test_an_edits_check_answers_what_post_update_answers(self):
        post = services.post_create(team=self.team, content="Bread.", channels=[self.x.pk], role="OWNER")
        data = self.form(content="b" * 281, channels=[self.x.pk])
        composition = from_post_data(self.querydict(data))
        fields = composition.fields({c.pk: c for c in Connection.objects.filter(team=self.team)})
        with self.assertRaises(ValidationError) as refused:
            services.post_update(post=post, role="OWNER", **fields)
        self.assertEqual(composer_problems(self.workspace(), composition, post), refused.exception.message_dict)
        html = self.client.post(f"/app/{self.team.pk}/posts/{post.pk}/edit/check/", data).content.decode()
        self.assertIn("X allows at most 280 characters; this post has 281", html)

    def test_a_check_after_the_session_ended_sends_the_page_to_the_login(self):
        self.client.logout()
        url = f"http://testserver/app/{self.team.pk}/compose/"
        answer = self.client.post(
            f"/app/{self.team.pk}/compose/check/", self.form(), headers={"HX-Request": "true", "HX-Current-URL": url}
        )
        self.assertEqual(answer.status_code, 200)
        self.assertEqual(answer["HX-Redirect"], f"/app/login/?next=%2Fapp%2F{self.team.pk}%2Fcompose%2F")

    def test_the_counters_count_as_each_network_does(self):
        data = {
            "content": "Hello 👋 https://example.org/" + "p" * 100,
            "channels": [self.x.pk, self.bluesky.pk, self.youtube.pk],
            "first_comment": "Thanks!",
        }
        html = self.client.post(f"/app/{self.team.pk}/compose/check/", data).content.decode()
        # X: 7 + an emoji counted 2 + a link counted 23; Bluesky: graphemes; YouTube: bytes.
        self.assertIn("X · @bakery: 32/280", html)
        link = "https://example.org/" + "p" * 100
        self.assertIn(f"Bluesky · bakery.bsky.social: {8 + len(link)}/300", html)
        self.assertIn(f"YouTube · Bakery TV: {11 + len(link)}/5000", html)
        self.assertIn("First comment: <strong>7</strong>/280", html)
        # The counters line under the text, swapped in by htmx, and each field's place.
        self.assertIn('id="counters"', html)
        self.assertIn('id="err-content"', html)

    def test_a_stored_post_has_the_same_previews_for_other_pages(self):
        from workspace.composer.preview import channel_preview, post_previews

        post = services.post_create(
            team=self.team,
            content="Bread. https://bakery.example/",
            channels=[self.x.pk, self.facebook.pk],
            variants={str(self.x.pk): {"content": "X bread."}},
            first_comment="Hours on the site.",
        )
        previews = post_previews(post)
        self.assertEqual([p.account for p in previews], [self.x, self.facebook])
        self.assertEqual((previews[0].text, previews[1].text), ("X bread.", "Bread. https://bakery.example/"))
        self.assertEqual(previews[1].link["host"], "bakery.example")
        fields = {"content": post.content, "variants": post.variants, "first_comment": post.first_comment}
        self.assertEqual(channel_preview(self.x, fields).counters, previews[0].counters)

    def test_the_preview_folds_links_and_crops_as_the_network_does(self):
        text = "Our croissants are back. " * 10 + "https://bakery.example/menu"
        data = {"content": text, "channels": [self.instagram.pk, self.facebook.pk, self.x.pk], "media_urls": ""}
        html = self.client.post(f"/app/{self.team.pk}/compose/check/", data).content.decode()
        # Instagram folds at about 125 characters ("… more"); Facebook shows it all here.
        self.assertIn("… more", html)
        self.assertIn("No image yet: Instagram needs one.", html)
        # X and Facebook show a card for the first link of a post without media.
        self.assertEqual(html.count('class="pv-link-host">bakery.example<'), 2)
        data["media_urls"] = "\n".join([IMAGE] * 3)
        html = self.client.post(f"/app/{self.team.pk}/compose/check/", data).content.decode()
        self.assertIn("pv-grid pv-grid-3", html)
        self.assertNotIn("pv-link-host", html)
        self.assertIn('class="pv-count">1/3<', html)  # Instagram's carousel

    def querydict(self, data: dict):
        from django.http import QueryDict

        query = QueryDict(mutable=True)
        for key, value in data.items():
            if isinstance(value, list):
                query.setlist(key, [str(v) for v in value])
            else:
                query[key] = str(value)
        return query
