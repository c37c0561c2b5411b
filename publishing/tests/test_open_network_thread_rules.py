"""Bluesky and Mastodon threads and first comments at the door: taken, and every part and the
comment checked with the platform's own limits (300 graphemes, 500 characters)."""

from django.core.exceptions import ValidationError
from django.test import TestCase

from devtools.testing import flush_redis
from publishing import services
from publishing.models import Post
from publishing.tests.base import LINKEDIN_ORG, Actors

# 👍🏽: two code points, one grapheme.
THUMBS = "\U0001f44d\U0001f3fd"


class OpenNetworkThreadRuleTests(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)
        self.make_actors()
        self.connect("BLUESKY", "did:plc:ewvi7nxzyoun6zhxrhs64oiz", "bsky_token")
        self.connect("MASTODON", "109302316291234567@mastodon.test", "masto_token")
        self.connect("LINKEDIN", LINKEDIN_ORG, "li_token")

    def refused(self, **kwargs) -> dict[str, list[str]]:
        with self.assertRaises(ValidationError) as caught:
            services.post_create(team=self.team, content="1/3 Hello", **kwargs)
        self.assertFalse(Post.objects.exists())
        return caught.exception.message_dict

    def test_it_takes_a_thread_and_a_first_comment_for_bluesky_and_mastodon(self):
        post = services.post_create(
            team=self.team,
            content="1/3 Hello",
            platforms=["BLUESKY", "MASTODON"],
            thread=[{"content": "2/3 " + THUMBS * 296}, {"content": "3/3 " + "m" * 496}],
            variants={"BLUESKY": {"thread": [{"content": "2/2 " + THUMBS * 296}]}},
            first_comment="c" * 300,
        )
        self.assertEqual(len(post.thread), 2)

    def test_it_names_the_bluesky_part_over_300_graphemes(self):
        errors = self.refused(
            platforms=["BLUESKY"], thread=[{"content": "2/3 fine"}, {"content": "3/3 " + THUMBS * 297}]
        )
        self.assertEqual(list(errors), ["thread.1.content"])
        self.assertIn(
            "Part 3 of the thread: Bluesky allows at most 300 characters; this post has 301",
            errors["thread.1.content"][0],
        )

    def test_it_names_the_mastodon_part_over_500_characters(self):
        errors = self.refused(platforms=["MASTODON"], thread=[{"content": "m" * 501}])
        self.assertEqual(list(errors), ["thread.0.content"])
        self.assertIn(
            "Part 2 of the thread: Mastodon allows at most 500 characters; this post has 501",
            errors["thread.0.content"][0],
        )

    def test_it_checks_the_first_comment_with_each_open_networks_limit(self):
        errors = self.refused(platforms=["BLUESKY", "MASTODON"], first_comment=THUMBS * 301)
        self.assertEqual(
            errors["first_comment"],
            ["Bluesky comments take at most 300 characters; the first comment has 301. Shorten it by 1."],
        )
        errors = self.refused(platforms=["MASTODON"], first_comment="m" * 501)
        self.assertIn(
            "Mastodon comments take at most 500 characters; the first comment has 501", errors["first_comment"][0]
        )

    def test_a_platform_without_threads_is_told_which_have_them(self):
        errors = self.refused(platforms=["BLUESKY", "LINKEDIN"], thread=[{"content": "2/2"}])
        self.assertIn("LinkedIn has no threads (only X, Bluesky, Mastodon and Threads have)", errors["thread"][0])
