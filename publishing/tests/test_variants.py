"""Per-platform variants: every rule is checked on what each platform will actually get, and
the publish path sends each platform its own text and media."""

from django.core.exceptions import ValidationError
from django.db import connection as db
from django.test import TestCase

from devtools.testing import flush_redis
from publishing import rules, services
from publishing.models import Post, Publication
from publishing.tests.base import INSTAGRAM_USER, Actors

IMAGE = "https://cdn.example.com/1.png"


class VariantRulesTests(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.make_actors()
        self.connect("INSTAGRAM", INSTAGRAM_USER, "ig_token")

    def refused(self, **kwargs) -> dict[str, list[str]]:
        kwargs = {"team": self.team, "content": "Hello", "platforms": ["FACEBOOK", "TWITTER"], **kwargs}
        with self.assertRaises(ValidationError) as caught:
            services.post_create(**kwargs)
        self.assertFalse(Post.objects.exists())
        return caught.exception.message_dict

    def test_it_names_the_platform_and_field_of_a_variant_too_long(self):
        errors = self.refused(variants={"TWITTER": {"content": "x" * 301}})
        self.assertEqual(list(errors), ["variants.TWITTER.content"])
        self.assertIn("X allows at most 280 characters; this post has 301", errors["variants.TWITTER.content"][0])

    def test_it_checks_each_platform_on_its_own_text(self):
        post = services.post_create(
            team=self.team,
            content="y" * 400,
            platforms=["FACEBOOK", "TWITTER"],
            variants={"TWITTER": {"content": "The short one for X"}},
        )
        self.assertEqual(rules.content_for(post, "TWITTER"), ("The short one for X", []))
        self.assertEqual(rules.content_for(post, "FACEBOOK"), ("y" * 400, []))

    def test_it_keeps_main_text_errors_on_content(self):
        errors = self.refused(content="z" * 281)
        self.assertIn("at most 280", errors["content"][0])

    def test_it_checks_variant_media_per_platform(self):
        errors = self.refused(
            platforms=["FACEBOOK", "INSTAGRAM"], media_urls=[IMAGE], variants={"INSTAGRAM": {"media_urls": []}}
        )
        self.assertIn("needs at least one image", errors["variants.INSTAGRAM.media_urls"][0])
        post = services.post_create(
            team=self.team,
            content="Caption",
            platforms=["FACEBOOK", "INSTAGRAM"],
            variants={"INSTAGRAM": {"content": "Caption #coffee", "media_urls": [IMAGE]}},
        )
        self.assertEqual(rules.content_for(post, "INSTAGRAM"), ("Caption #coffee", [IMAGE]))
        self.assertEqual(rules.content_for(post, "FACEBOOK"), ("Caption", []))

    def test_it_refuses_a_variant_for_a_platform_the_post_does_not_list(self):
        errors = self.refused(variants={"INSTAGRAM": {"content": "Not here"}})
        self.assertIn("Instagram is not among this post's platforms", errors["variants.INSTAGRAM"][0])

    def test_it_refuses_unknown_keys_and_platforms(self):
        errors = self.refused(variants={"TWITTER": {"text": "typo"}, "MYSPACE": {"content": "x"}})
        self.assertIn("Unknown key 'text'", errors["variants.TWITTER.text"][0])
        self.assertIn("Unknown platform 'MYSPACE'", errors["variants.MYSPACE"][0])

    def test_it_refuses_an_empty_variant_text_and_a_bad_media_url(self):
        errors = self.refused(variants={"TWITTER": {"content": "  ", "media_urls": ["file:///etc/passwd"]}})
        self.assertIn("The X text is empty", errors["variants.TWITTER.content"][0])
        self.assertIn("file:///etc/passwd", errors["variants.TWITTER.media_urls"][0])

    def test_options_reach_the_target_and_a_channels_own_take_precedence(self):
        fields = {
            "variants": {
                "TWITTER": {"options": {"a": 1, "b": 2}},
                str(self.twitter.pk): {"options": {"b": 3}},
                "FACEBOOK": {"options": "not an object"},
            }
        }
        self.assertEqual(rules.options_for(fields, "TWITTER"), {"a": 1, "b": 2})
        self.assertEqual(rules.options_for(fields, "TWITTER", channel=self.twitter.pk), {"a": 1, "b": 3})
        self.assertEqual(rules.options_for(fields, "FACEBOOK"), {})
        self.assertEqual(rules.options_for({"variants": None}, "FACEBOOK"), {})

    def test_it_refuses_options_a_platform_does_not_take_and_options_that_are_no_object(self):
        errors = self.refused(variants={"TWITTER": {"options": {"title": "Launch"}}, "FACEBOOK": {"options": ["x"]}})
        self.assertEqual(errors["variants.TWITTER.options"], ["X takes no options: remove 'title'."])
        self.assertIn("Give the options as an object", errors["variants.FACEBOOK.options"][0])

    def test_it_refuses_at_publish_time_options_written_past_the_door(self):
        post = services.post_create(team=self.team, content="ok", platforms=["TWITTER"])
        Post.objects.filter(pk=post.pk).update(variants={"TWITTER": {"options": {"board": "1"}}})
        publication = Publication(post=Post.objects.get(pk=post.pk), platform="TWITTER", connection=self.twitter)
        self.assertEqual(rules.publication_refusal(publication), "X takes no options: remove 'board'.")

    def test_it_refuses_at_publish_time_a_variant_written_past_the_door(self):
        with db.cursor() as cursor:
            cursor.execute(
                "INSERT INTO publishing_post (team_id, content, platforms, media_urls, status, created_at, updated_at)"
                " VALUES (%s, 'ok', %s, '{}', 'DRAFT', now(), now()) RETURNING id",
                [self.team.pk, ["TWITTER"]],
            )
            post_id = cursor.fetchone()[0]
        post = Post.objects.get(pk=post_id)
        self.assertEqual(post.variants, {}, "db_default fills rows inserted without it")
        Post.objects.filter(pk=post_id).update(variants={"TWITTER": {"content": "w" * 300}})
        publication = Publication(post=Post.objects.get(pk=post_id), platform="TWITTER", connection=self.twitter)
        self.assertIn("at most 280", rules.publication_refusal(publication))


class PostUpdateTests(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.make_actors()

    def test_it_changes_a_scheduled_post_keeping_the_publication_of_a_kept_account(self):
        post = services.post_create(team=self.team, content="Old", platforms=["FACEBOOK"], scheduled_at=self.soon(600))
        old = post.publications.get()
        Publication.objects.filter(pk=old.pk).update(metadata={"stagedAt": "then", "containerId": "c1"})
        post = services.post_update(post=post, content="New", platforms=["FACEBOOK", "TWITTER"])
        self.assertEqual((post.content, post.status), ("New", Post.Status.SCHEDULED))
        self.assertEqual(post.channels, [self.facebook.pk, self.twitter.pk])
        self.assertEqual(sorted(post.publications.values_list("platform", flat=True)), ["FACEBOOK", "TWITTER"])
        # The same account's publication stays, without what was staged for the old text.
        self.assertEqual(post.publications.get(platform="FACEBOOK").pk, old.pk)
        self.assertEqual(post.publications.get(platform="FACEBOOK").metadata, {})

    def test_it_validates_the_post_as_changed(self):
        post = services.post_create(team=self.team, content="Fine", platforms=["TWITTER"])
        with self.assertRaises(ValidationError) as caught:
            services.post_update(post=post, variants={"TWITTER": {"content": "q" * 290}})
        self.assertIn("variants.TWITTER.content", caught.exception.message_dict)
        post.refresh_from_db()
        self.assertEqual(post.variants, {})

    def test_it_refuses_a_post_that_is_publishing(self):
        post = services.post_create(team=self.team, content="Busy", platforms=["TWITTER"])
        Post.objects.filter(pk=post.pk).update(status=Post.Status.PUBLISHING)
        with self.assertRaisesMessage(ValidationError, "only drafts and scheduled posts can be changed"):
            services.post_update(post=post, content="Too late")

    def test_it_unschedules_with_no_time(self):
        post = services.post_create(team=self.team, content="Later", platforms=["TWITTER"], scheduled_at=self.soon(60))
        post = services.post_update(post=post, scheduled_at=None)
        self.assertEqual(post.status, Post.Status.DRAFT)


class PublicationsRetryTests(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.make_actors()

    def test_it_puts_failed_publications_back_and_leaves_published_ones(self):
        post = services.post_create(team=self.team, content="Retry me", platforms=["FACEBOOK", "TWITTER"])
        Post.objects.filter(pk=post.pk).update(status=Post.Status.PARTIAL)
        post.publications.filter(platform="FACEBOOK").update(status=Publication.Status.PUBLISHED, external_id="1_2")
        post.publications.filter(platform="TWITTER").update(
            status=Publication.Status.FAILED, error="boom", attempt_count=5
        )
        with self.captureOnCommitCallbacks(execute=True):
            retried = services.publications_retry(post=post)
        self.assertEqual([p.platform for p in retried], ["TWITTER"])
        post.refresh_from_db()
        self.assertEqual(post.status, Post.Status.PUBLISHING)
        twitter = post.publications.get(platform="TWITTER")
        self.assertEqual((twitter.status, twitter.attempt_count, twitter.error), ("PENDING", 0, ""))
        self.assertTrue(twitter.outcome_unknown, "an attempted publication is looked up before posting again")
        self.assertTrue(twitter.job_id)
        self.assertEqual(post.publications.get(platform="FACEBOOK").status, Publication.Status.PUBLISHED)

    def test_it_refuses_a_post_with_nothing_failed(self):
        post = services.post_create(team=self.team, content="Fine", platforms=["FACEBOOK"])
        with self.assertRaisesMessage(ValidationError, "only failed and partly published posts can be retried"):
            services.publications_retry(post=post)
