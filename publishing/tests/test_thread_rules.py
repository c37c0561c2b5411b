"""Threads and first comments at the door: every part by the platform's rules."""

from django.core.exceptions import ValidationError
from django.test import TestCase

from devtools.testing import flush_redis
from publishing import services
from publishing.models import Post
from publishing.tests.base import LINKEDIN_ORG, Actors


class ThreadRuleTests(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)
        self.make_actors()
        self.connect("LINKEDIN", LINKEDIN_ORG, "li_token")

    def refused(self, **kwargs) -> dict[str, list[str]]:
        kwargs = {"team": self.team, "content": "1/3 Hello", "platforms": ["TWITTER"], **kwargs}
        with self.assertRaises(ValidationError) as caught:
            services.post_create(**kwargs)
        self.assertFalse(Post.objects.exists())
        return caught.exception.message_dict

    def test_it_checks_every_part_with_the_platforms_rules(self):
        errors = self.refused(thread=[{"content": "2/3 fine"}, {"content": "x" * 281}])
        self.assertEqual(list(errors), ["thread.1.content"])
        self.assertIn("Part 3 of the thread: X allows at most 280 characters", errors["thread.1.content"][0])

    def test_it_refuses_an_empty_or_malformed_part(self):
        errors = self.refused(thread=[{"content": "  "}, "text", {"content": "ok", "link": "x"}])
        self.assertIn("Part 2 of the thread is empty", errors["thread.0.content"][0])
        self.assertIn("Give a thread part as an object", errors["thread.1"][0])
        self.assertIn("Unknown key 'link'", errors["thread.2.link"][0])

    def test_it_refuses_a_thread_where_the_platform_has_none(self):
        errors = self.refused(platforms=["TWITTER", "LINKEDIN"], thread=[{"content": "2/2"}])
        self.assertIn("LinkedIn has no threads", errors["thread"][0])

    def test_a_variant_without_a_thread_lets_the_others_thread(self):
        post = services.post_create(
            team=self.team,
            content="1/2 Hello",
            platforms=["TWITTER", "LINKEDIN"],
            thread=[{"content": "2/2 and more"}],
            variants={"LINKEDIN": {"content": "All in one", "thread": []}},
        )
        self.assertEqual(post.thread, [{"content": "2/2 and more"}])

    def test_it_checks_the_first_comment_on_every_platform(self):
        errors = self.refused(first_comment="y" * 281)
        self.assertIn("X comments take at most 280 characters", errors["first_comment"][0])
