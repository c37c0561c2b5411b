"""Named actors and helpers shared by the publishing tests (healthchecks' BaseTestCase style)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from connections.models import Connection
from devtools.stack import ACCOUNTS
from devtools.testing import LiveWorkerTestCase, wait_for
from planrrr.models import Membership, Team
from publishing.models import Post, Publication

# Account ids in the shapes the platforms use: the stand-in's, as the demo and bench connect.
FACEBOOK_PAGE = ACCOUNTS["FACEBOOK"]
INSTAGRAM_USER = ACCOUNTS["INSTAGRAM"]
TWITTER_USER = ACCOUNTS["TWITTER"]
LINKEDIN_ORG = ACCOUNTS["LINKEDIN"]


class Actors:
    """A team with an owner and one connection per platform, plus an outsider team."""

    def make_actors(self) -> None:
        User = get_user_model()
        self.team = Team.objects.create(name="Acme")
        self.owner = User.objects.create_user("alice", "alice@example.org", "password")
        Membership.objects.create(user=self.owner, team=self.team, role=Membership.Role.OWNER)
        self.facebook = self.connect("FACEBOOK", FACEBOOK_PAGE, "mock_fb_token")
        self.twitter = self.connect("TWITTER", TWITTER_USER, "mock_twitter_token")
        self.outsiders = Team.objects.create(name="Outsiders")

    def connect(self, platform: str, account_id: str, token: str, team: Team | None = None) -> Connection:
        return Connection.objects.create(
            team=team or self.team, platform=platform, account_id=account_id, name=platform.title(), access_token=token
        )

    def soon(self, seconds: float = 1.0):
        return timezone.now() + timedelta(seconds=seconds)


class PublishingLiveTestCase(Actors, LiveWorkerTestCase):
    """Real workers publishing over HTTP to the stand-in served by the live server."""

    def setUp(self) -> None:
        super().setUp()
        self.mock = self.stand_in()
        self.mock.reset()
        self.make_actors()
        # X tokens carry no account: tell the stand-in whose token this is, as X knows.
        self.mock.bind_token("mock_twitter_token", TWITTER_USER)

    def wait_until_final(self, post: Post, timeout: float = 20.0) -> Post:
        def final():
            post.refresh_from_db()
            return post.status in Post.FINAL

        wait_for(final, timeout=timeout, message=lambda: f"post #{post.pk} to finish\n{self.diagnosis(post)}")
        return post

    def worker_logs(self) -> str:
        return "\n".join(w.output()[-8000:] for w in self.workers)

    def diagnosis(self, post: Post) -> str:
        """What a test that timed out on a post shows: its publications' rows, where their jobs
        are in Redis, the workers' logs and what each of their threads is doing."""
        import django_rq
        from rq.exceptions import NoSuchJobError
        from rq.job import Job

        lines = [f"post #{post.pk}: {post.status}, scheduled {post.scheduled_at}, now {timezone.now()}"]
        queue = django_rq.get_queue("default")
        for p in post.publications.all():
            try:
                where = Job.fetch(p.job_id, connection=queue.connection).get_status(refresh=False)
            except NoSuchJobError:
                where = "not in Redis"
            lines.append(
                f"  {p.platform}: {p.status} attempts {p.attempt_count} next {p.next_attempt_at}"
                f" job {p.job_id or '-'} ({where}) error {p.error[:200]!r}"
            )
        lines.append(
            f"redis: queued {queue.job_ids[:10]} scheduled {queue.scheduled_job_registry.get_job_ids()[:10]}"
            f" started {queue.started_job_registry.get_job_ids()[:10]}"
        )
        for worker in self.workers:
            lines.append(f"--- worker {worker.pid} (forked beside the threads {worker.forked_beside}) log ---")
            lines.append(worker.output()[-8000:])
            lines.append(f"--- worker {worker.pid} stacks ---\n{worker.stacks()[-12000:]}")
        return "\n".join(lines)

    def publication(self, post: Post, platform: str) -> Publication:
        return post.publications.get(platform=platform)
