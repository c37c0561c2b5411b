"""manage.py import_posts: a CSV through the same door, with a report per row."""

import tempfile
from datetime import UTC, datetime
from io import StringIO

from django.core.management import call_command
from django.test import TestCase

from api.management.commands.import_posts import posts_import
from devtools.testing import flush_redis
from publishing.models import Post
from publishing.tests.base import Actors

CSV = (
    """content,platforms,media_urls,scheduled_at,TWITTER.content
Morning in Paris,FACEBOOK TWITTER,,2030-01-15 09:30,Short for X
Too long for X,TWITTER,,,"""
    + "x" * 281
    + """
A draft,FACEBOOK,,,
"""
)


class ImportPostsTests(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.make_actors()
        self.team.timezone = "Europe/Paris"
        self.team.save()

    def test_it_imports_each_row_on_its_own_and_reports_it(self):
        with tempfile.NamedTemporaryFile("w", suffix=".csv") as file:
            file.write(CSV)
            file.flush()
            out, err = StringIO(), StringIO()
            with self.assertRaises(SystemExit) as exited, self.captureOnCommitCallbacks(execute=True):
                call_command("import_posts", file.name, team=self.team.pk, stdout=out, stderr=err)
        self.assertEqual(exited.exception.code, 1)
        report = out.getvalue()
        self.assertIn("row 3: refused: variants.TWITTER.content: X allows at most 280", report)
        self.assertIn("2 created, 1 refused, of 3 rows.", report)
        self.assertIn("3/3", err.getvalue())
        morning = Post.objects.get(content="Morning in Paris")
        self.assertEqual(morning.scheduled_at, datetime(2030, 1, 15, 8, 30, tzinfo=UTC), "naive = the team's zone")
        self.assertEqual(morning.variants, {"TWITTER": {"content": "Short for X"}})
        self.assertIn(f"post #{morning.pk} SCHEDULED for 2030-01-15 09:30 Europe/Paris", report)
        self.assertEqual(Post.objects.get(content="A draft").status, Post.Status.DRAFT)

    def test_it_refuses_a_row_past_the_year_9999_and_keeps_any_offset(self):
        rows = [
            {"content": "Far", "platforms": "FACEBOOK", "scheduled_at": "9999-12-31T23:30:00-01:00"},
            {"content": "East", "platforms": "FACEBOOK", "scheduled_at": "2030-01-15T09:30:00+18:00"},
        ]
        report = posts_import(team=self.team, rows=rows)
        self.assertIn("outside the years 1 to 9999 in UTC", report[0][1]["scheduled_at"][0])
        self.assertEqual(report[1][1].scheduled_at, datetime(2030, 1, 14, 15, 30, tzinfo=UTC))
        self.assertEqual(Post.objects.get().content, "East")
