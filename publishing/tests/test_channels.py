"""Channels at the door and after it: where a post goes (its accounts), what each account gets
(variants by channel), and that what follows a post (an edit, a series, an event) keeps them."""

import json

from django.core.exceptions import ValidationError
from django.db import connection as db
from django.test import TestCase, override_settings
from django.utils import timezone

from api.management.commands.import_posts import posts_import
from connections.models import Connection
from devtools.testing import flush_redis
from publishing import rules, services
from publishing.models import Post, Publication
from publishing.tests.base import Actors
from webhooks.models import Event
from webhooks.services import endpoint_create


class ChannelsTestCase(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)
        self.make_actors()
        Connection.objects.filter(pk=self.facebook.pk).update(name="Acme page")
        self.coffee = self.connect("FACEBOOK", "104857600000002", "coffee_token")
        Connection.objects.filter(pk=self.coffee.pk).update(name="Acme Coffee")
        self.facebook.refresh_from_db()
        self.coffee.refresh_from_db()

    def refused(self, **fields) -> dict[str, list[str]]:
        fields = {"team": self.team, "content": "Hello", **fields}
        with self.assertRaises(ValidationError) as caught:
            services.post_create(**fields)
        self.assertFalse(Post.objects.exists())
        return caught.exception.message_dict


class DoorTests(ChannelsTestCase):
    def test_a_platform_with_several_accounts_is_refused_listing_them(self):
        problems = self.refused(platforms=["FACEBOOK", "TWITTER"])
        self.assertEqual(
            problems["platforms"],
            [
                f"FACEBOOK has 2 accounts in this team: #{self.facebook.pk} Acme page and #{self.coffee.pk} Acme "
                "Coffee: choose channels (their ids) instead of FACEBOOK, so that the post goes where you mean."
            ],
        )

    def test_a_platform_with_one_account_still_goes_to_it(self):
        post = services.post_create(team=self.team, content="Hello", platforms=["TWITTER"])
        self.assertEqual((post.channels, post.platforms), ([self.twitter.pk], ["TWITTER"]))
        self.assertEqual(post.publications.get().connection_id, self.twitter.pk)

    def test_channels_are_kept_in_the_order_chosen_with_their_platforms(self):
        post = services.post_create(
            team=self.team, content="Hello", channels=[self.twitter.pk, self.coffee.pk, self.facebook.pk]
        )
        self.assertEqual(post.channels, [self.twitter.pk, self.coffee.pk, self.facebook.pk])
        self.assertEqual(post.platforms, ["TWITTER", "FACEBOOK"])
        self.assertEqual(
            set(post.publications.values_list("connection_id", flat=True)),
            {self.twitter.pk, self.coffee.pk, self.facebook.pk},
        )

    def test_channels_that_are_not_the_teams_active_accounts_are_refused(self):
        theirs = self.connect("TWITTER", "1000000000000000099", "their_token", team=self.outsiders)
        Connection.objects.filter(pk=self.coffee.pk).update(status=Connection.Status.REVOKED)
        problems = self.refused(channels=[theirs.pk, self.coffee.pk, self.twitter.pk, self.twitter.pk, "7"])
        messages = " | ".join(problems["channels"])
        self.assertIn(f"Channel {theirs.pk} is not one of your team's accounts", messages)
        self.assertIn(f"Channel #{self.coffee.pk} Acme Coffee: ", messages)
        self.assertIn("reconnect the Facebook account", messages)
        self.assertIn(f"Channel #{self.twitter.pk} is listed twice", messages)
        self.assertIn("Channel '7' is not one of your team's accounts", messages)
        self.assertEqual(self.refused(channels=[])["channels"], [rules.NO_TARGETS])

    def test_channels_and_platforms_given_together_must_agree(self):
        problems = self.refused(channels=[self.coffee.pk], platforms=["TWITTER"])
        self.assertIn("The channels include Facebook accounts but the platforms (TWITTER)", problems["platforms"][0])
        # A platform listed that no channel is on resolves as if given alone.
        post = services.post_create(
            team=self.team, content="Hello", channels=[self.coffee.pk], platforms=["FACEBOOK", "TWITTER"]
        )
        self.assertEqual(post.channels, [self.coffee.pk, self.twitter.pk])


class VariantTests(ChannelsTestCase):
    def test_a_channels_variant_overrides_its_platforms_which_overrides_the_post(self):
        variants = {
            "FACEBOOK": {"content": "For the pages", "media_urls": ["https://example.org/a.jpg"]},
            str(self.coffee.pk): {"content": "For the coffee page"},
        }
        post = services.post_create(
            team=self.team,
            content="For everyone",
            channels=[self.facebook.pk, self.coffee.pk, self.twitter.pk],
            variants=variants,
        )
        self.assertEqual(
            rules.content_for(post, "FACEBOOK", channel=self.coffee.pk),
            ("For the coffee page", ["https://example.org/a.jpg"]),
        )
        self.assertEqual(
            rules.content_for(post, "FACEBOOK", channel=self.facebook.pk),
            ("For the pages", ["https://example.org/a.jpg"]),
        )
        self.assertEqual(rules.content_for(post, "TWITTER", channel=self.twitter.pk), ("For everyone", []))
        self.assertTrue(rules.has_media(post))

    def test_each_account_is_checked_on_what_it_gets(self):
        second_x = self.connect("TWITTER", "1000000000000000042", "x2_token")
        problems = self.refused(
            channels=[self.twitter.pk, second_x.pk],
            variants={str(second_x.pk): {"content": "x" * 281}, "999999": {"content": "Nobody"}},
        )
        self.assertIn("at most 280", problems[f"variants.{second_x.pk}.content"][0])
        self.assertEqual(
            problems["variants.999999"],
            ["Channel #999999 is not among this post's channels: add it to them, or remove its variant."],
        )
        self.assertNotIn("content", problems)  # the other account's text is fine

    def test_the_sql_twin_of_has_media_sees_a_channels_media(self):
        post = services.post_create(
            team=self.team,
            content="Text only, but a picture on the coffee page",
            channels=[self.facebook.pk, self.coffee.pk],
            variants={str(self.coffee.pk): {"media_urls": ["https://example.org/a.jpg"]}},
        )
        plain = services.post_create(team=self.team, content="Text", channels=[self.coffee.pk])
        self.assertTrue(rules.has_media(post))
        self.assertFalse(rules.has_media(plain))
        with db.cursor() as cursor:
            cursor.execute(f"SELECT id FROM publishing_post WHERE {rules.HAS_MEDIA_SQL}")
            self.assertEqual([row[0] for row in cursor.fetchall()], [post.pk])


class EditTests(ChannelsTestCase):
    def test_publications_of_removed_channels_go_and_of_added_ones_are_made(self):
        post = services.post_create(
            team=self.team, content="Hello", channels=[self.facebook.pk, self.twitter.pk], scheduled_at=self.soon(600)
        )
        twitter = post.publications.get(connection=self.twitter)
        Publication.objects.filter(pk=twitter.pk).update(metadata={"mediaIds": ["m1"], "stagedAt": "then"})
        post = services.post_update(post=post, channels=[self.twitter.pk, self.coffee.pk])
        self.assertEqual((post.channels, post.platforms), ([self.twitter.pk, self.coffee.pk], ["TWITTER", "FACEBOOK"]))
        self.assertEqual(
            set(post.publications.values_list("connection_id", flat=True)), {self.twitter.pk, self.coffee.pk}
        )
        # The kept account's text did not change: what was staged for it stays.
        self.assertEqual(Publication.objects.get(pk=twitter.pk).metadata, {"mediaIds": ["m1"], "stagedAt": "then"})

    def test_staged_media_go_when_what_they_were_made_from_changes(self):
        post = services.post_create(
            team=self.team,
            content="Hello",
            channels=[self.coffee.pk],
            media_urls=["https://example.org/a.jpg"],
            scheduled_at=self.soon(600),
        )
        staged = post.publications.get()
        Publication.objects.filter(pk=staged.pk).update(
            metadata={"photoIds": ["p1"], "stagedAt": "then"}, stage_token="7f1c6a3e-0000-4000-8000-000000000001"
        )
        services.post_update(post=post, media_urls=["https://example.org/b.jpg"])
        staged.refresh_from_db()
        self.assertEqual((staged.metadata, staged.stage_token), ({}, None))

    def test_an_edit_is_refused_once_publishing_has_started(self):
        post = services.post_create(team=self.team, content="Hello", channels=[self.coffee.pk])
        Post.objects.filter(pk=post.pk).update(status=Post.Status.PUBLISHING)
        with self.assertRaisesMessage(ValidationError, "until they start publishing"):
            services.post_update(post=post, channels=[self.facebook.pk])
        self.assertEqual(Post.objects.get(pk=post.pk).channels, [self.coffee.pk])


class DeletedAccountTests(ChannelsTestCase):
    def test_deleting_two_accounts_a_post_went_to_keeps_both_publications(self):
        post = services.post_create(team=self.team, content="Hello", channels=[self.facebook.pk, self.coffee.pk])
        Publication.objects.filter(post=post).update(status="PUBLISHED", external_id="x")
        Connection.objects.filter(pk__in=[self.facebook.pk, self.coffee.pk]).delete()
        self.assertEqual(list(post.publications.values_list("platform", "connection_id")), [("FACEBOOK", None)] * 2)


class FollowingTests(ChannelsTestCase):
    def test_a_series_next_occurrence_keeps_the_channels(self):
        post = services.post_create(
            team=self.team,
            content="Weekly",
            channels=[self.coffee.pk],
            scheduled_at=self.soon(3600).replace(microsecond=0),
            repeat="FREQ=WEEKLY;COUNT=3",
        )
        Post.objects.filter(pk=post.pk).update(status=Post.Status.PUBLISHING)
        Publication.objects.filter(post=post).update(status="PUBLISHED", published_at=timezone.now())
        services.post_finalize(post_id=post.pk)
        occurrence = Post.objects.get(series=post)
        self.assertEqual(occurrence.channels, [self.coffee.pk])
        self.assertEqual(occurrence.publications.get().connection_id, self.coffee.pk)

    @override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=True)
    def test_events_name_the_channel_beside_the_platform(self):
        endpoint_create(team=self.team, url="http://127.0.0.1:9/hooks")
        post = services.post_create(team=self.team, content="Hello", channels=[self.coffee.pk])
        Post.objects.filter(pk=post.pk).update(status=Post.Status.PUBLISHING)
        Publication.objects.filter(post=post).update(status="FAILED", error="No.")
        publication = post.publications.select_related("connection").get()
        services.signals.emit_failed(publication, post)
        services.post_finalize(post_id=post.pk)
        failed = json.loads(Event.objects.get(type="post.failed").body)["data"]
        self.assertEqual(
            (failed["platform"], failed["channelId"], failed["channelName"]),
            ("FACEBOOK", self.coffee.pk, "Acme Coffee"),
        )
        (told,) = json.loads(Event.objects.get(type="post.completed").body)["data"]["publications"]
        self.assertEqual((told["channelId"], told["channelName"]), (self.coffee.pk, "Acme Coffee"))

    def test_the_csv_import_takes_channels_and_their_variants(self):
        rows = [
            {
                "content": "From the CSV",
                "channels": f"{self.coffee.pk} {self.twitter.pk}",
                f"{self.coffee.pk}.content": "Coffee",
            },
            {"content": "Where?", "platforms": "FACEBOOK"},
        ]
        (first, post), (second, refused) = posts_import(team=self.team, rows=rows)
        self.assertEqual(post.channels, [self.coffee.pk, self.twitter.pk])
        self.assertEqual(post.variants, {str(self.coffee.pk): {"content": "Coffee"}})
        self.assertIn("FACEBOOK has 2 accounts in this team", refused["platforms"][0])
