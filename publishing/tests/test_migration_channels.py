"""The migration to channels (publishing 0012): existing posts keep publishing where they did."""

from datetime import timedelta

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import TransactionTestCase
from django.utils import timezone

BEFORE = [("publishing", "0011_thread_help_text_names_no_platform"), ("connections", "0006_connection_queue_paused")]
AFTER = [("publishing", "0012_post_channels"), ("connections", "0007_connection_avatar_url")]


class PostChannelsMigrationTests(TransactionTestCase):
    def migrate(self, targets):
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(targets)
        return executor.loader.project_state(targets).apps

    def tearDown(self):
        # Back to the latest state for the tests that follow (TransactionTestCase flushes rows).
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    def test_it_gives_every_post_the_accounts_it_was_publishing_to(self):
        apps = self.migrate(BEFORE)
        Team = apps.get_model("planrrr", "Team")
        Connection = apps.get_model("connections", "Connection")
        Post = apps.get_model("publishing", "Post")
        Publication = apps.get_model("publishing", "Publication")
        team = Team.objects.create(name="Acme")
        other = Team.objects.create(name="Other")
        now = timezone.now()

        def account(team, platform, account_id, *, status="ACTIVE", age_days=0):
            made = Connection.objects.create(
                team=team, platform=platform, account_id=account_id, access_token="t", status=status
            )
            Connection.objects.filter(pk=made.pk).update(created_at=now - timedelta(days=age_days))
            return made

        fb_old = account(team, "FACEBOOK", "p1", age_days=3)
        fb_new = account(team, "FACEBOOK", "p2", age_days=1)
        x_revoked = account(team, "TWITTER", "x0", status="REVOKED", age_days=9)
        x_active = account(team, "TWITTER", "x1", age_days=2)
        linkedin = account(team, "LINKEDIN", "urn:li:person:1")
        account(other, "BLUESKY", "did:plc:other")

        def post(platforms, status="SCHEDULED"):
            return Post.objects.create(team=team, content="hi", platforms=platforms, status=status, scheduled_at=now)

        # Publications made under the old rules: the account each went to is its channel, in
        # the order of the post's platforms (not of the rows).
        published = post(["TWITTER", "FACEBOOK"], status="PUBLISHED")
        Publication.objects.create(post=published, platform="FACEBOOK", connection=fb_new, status="PUBLISHED")
        Publication.objects.create(post=published, platform="TWITTER", connection=x_active, status="PUBLISHED")
        # A publication that had no account (failed: "connect one") gives none.
        partly = post(["FACEBOOK", "BLUESKY"], status="PARTIAL")
        Publication.objects.create(post=partly, platform="FACEBOOK", connection=fb_old, status="PUBLISHED")
        Publication.objects.create(post=partly, platform="BLUESKY", connection=None, status="FAILED")
        # No publication yet (a draft, a row by SQL): the oldest active account per platform,
        # what the platforms resolved to until now; a platform with none stays unresolved.
        draft = post(["LINKEDIN", "TWITTER", "FACEBOOK", "BLUESKY"], status="DRAFT")
        by_sql = post(["FACEBOOK", "FACEBOOK"])

        apps = self.migrate(AFTER)
        Post = apps.get_model("publishing", "Post")
        Publication = apps.get_model("publishing", "Publication")
        channels = dict(Post.objects.values_list("pk", "channels"))
        self.assertEqual(channels[published.pk], [x_active.pk, fb_new.pk])
        self.assertEqual(channels[partly.pk], [fb_old.pk])
        self.assertEqual(channels[draft.pk], [linkedin.pk, x_active.pk, fb_old.pk])
        self.assertNotIn(x_revoked.pk, channels[draft.pk])
        self.assertEqual(channels[by_sql.pk], [fb_old.pk])
        # Nothing else changed: the platforms and the publications are as they were.
        self.assertEqual(Post.objects.get(pk=draft.pk).platforms, ["LINKEDIN", "TWITTER", "FACEBOOK", "BLUESKY"])
        self.assertEqual(Publication.objects.count(), 4)
        # A post may now go to two accounts of one platform.
        two_pages = Post.objects.create(team_id=team.pk, content="both", platforms=["FACEBOOK"], status="DRAFT")
        Publication.objects.create(post=two_pages, platform="FACEBOOK", connection_id=fb_old.pk)
        Publication.objects.create(post=two_pages, platform="FACEBOOK", connection_id=fb_new.pk)
        self.assertEqual(Publication.objects.filter(post=two_pages).count(), 2)
        # A new row written by SQL without channels gets an empty list (the database's default).
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO publishing_post (team_id, content, platforms, media_urls, status, created_at, updated_at)"
                " VALUES (%s, 'sql', '{FACEBOOK}', '{}', 'DRAFT', now(), now()) RETURNING id",
                [team.pk],
            )
            (row,) = cursor.fetchone()
        self.assertEqual(Post.objects.get(pk=row).channels, [])
