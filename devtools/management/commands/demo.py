"""`manage.py demo` (what `make run` runs): the whole loop, end to end, on real parts.

It migrates, starts the stand-in APIs (`run_mock_apis`) and a pool of four workers (`planrrr_workers`), creates a demo
team, connects its X, Facebook (with Instagram), LinkedIn and Mastodon accounts through the
platforms' OAuth flows (the stand-in plays each platform's consent page and token endpoint) and
its Bluesky account with an app password (one session), adds a
webhook endpoint (a local receiver that verifies every
signature), schedules a few posts a few seconds ahead (among them a thread on X, Bluesky and
Mastodon, a post with a first comment on Facebook, LinkedIn and Mastodon, and a post a member
submits for review that an admin approves), waits until they are done, prints what happened,
stops everything and exits 0 only if every post was PUBLISHED.

It runs on a database and a Redis database of its own (``devtools.stack.isolated``:
``<database>_demo``, Redis database ``--redis-db``), so a worker already running on this
machine neither takes its posts nor is given them; its teams stay there to look at
(``DATABASE_NAME_OVERRIDE=planrrr_demo manage.py runserver`` with the embedded PostgreSQL).

``--stand-in URL --fleet`` (what compose's ``demo`` service runs) uses what is already running
instead: the stand-in at URL, the workers registered on this database's Redis, this database; the
webhook receiver listens on every interface and is reached by ``--receiver-host``. It refuses to
run unless this process's platform settings (the same as the fleet's) point at the stand-in.
"""

from __future__ import annotations

import secrets
import socket
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import redis
import requests
import rq
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection as db
from django.test.utils import override_settings
from django.utils import timezone

from connections.platforms import get_client, setting_value
from connections.services import connection_connect
from devtools import stack
from devtools.processes import ManagedProcess
from devtools.receiver import Receiver
from mockapis.client import MockApis
from planrrr.models import Membership, Team
from publishing import services
from publishing.models import Post
from webhooks.services import endpoint_create

# Bluesky: the handle and app password typed into the connect form.
BLUESKY_LOGIN = ("acmecoffee.bsky.social", "demo-app-password")


class Command(BaseCommand):
    help = "Run the publishing loop end to end against the stand-in APIs and print what happened."

    def add_arguments(self, parser):
        parser.add_argument("--workers", type=int, default=4, help="Workers of the pool (default 4).")
        parser.add_argument("--delay", type=float, default=3.0, help="Seconds ahead the posts are scheduled.")
        parser.add_argument("--timeout", type=float, default=90.0)
        # Tests use database 15 and below, the bench 1, `manage.py rqworker` 0 (the settings').
        parser.add_argument("--redis-db", type=int, default=2, help="Redis database of the demo (default 2).")
        parser.add_argument(
            "--stand-in",
            metavar="URL",
            help="The stand-in APIs already serving at URL (compose: http://mock-apis:8080).",
        )
        parser.add_argument(
            "--fleet",
            action="store_true",
            help="Publish with the workers already running on this database and Redis (compose's worker service) "
            "instead of starting a pool on a database of its own.",
        )
        parser.add_argument(
            "--receiver-host",
            default=None,
            help="With --fleet: the name the workers reach this process by, for the webhook receiver "
            "(default: this host's name).",
        )

    def handle(self, *args, **options):
        if options["fleet"]:
            if not options["stand_in"]:
                raise CommandError("--fleet needs --stand-in URL: the stand-in the running workers publish to.")
            self.stdout.write(f"on the database {db.settings_dict['NAME']!r}, with the running workers")
            posts = self.run(options)
        else:
            with stack.isolated("demo", redis_db=options["redis_db"]) as database:
                self.stdout.write(f"on the database {database!r} and Redis database {options['redis_db']}")
                posts = self.run(options)
        if any(post.status != Post.Status.PUBLISHED for post in posts):
            raise CommandError("some posts were not published (see above)")

    def run(self, options) -> list[Post]:
        mock = None if options["stand_in"] else stack.StandInProcess().start()
        workers: list[ManagedProcess] = []
        receiver = None
        try:
            base = self.stand_in(mock, options["stand_in"])
            self.stdout.write(f"stand-in platform APIs on {base}")
            env = {**stack.stand_in_env(base), **stack.OAUTH_APP}
            if options["fleet"]:
                self.fleet_check(env, timeout=options["timeout"])
                receiver = Receiver(host="0.0.0.0", url_host=options["receiver_host"] or socket.gethostname())
            else:
                receiver = Receiver()
                workers = [stack.workers_start(options["workers"], env)]
                self.stdout.write(
                    f"{options['workers']} workers started (planrrr_workers: forked from one preloaded parent; "
                    "default webhooks)"
                )
            with override_settings(
                **{k: v for k, v in env.items() if k.endswith(("_URL", "_ID", "_SECRET", "_CLIENT_KEY"))},
                INSTANCE_ALLOW_PRIVATE_URLS=True,
            ):
                posts = self.create_posts(base, receiver, options["delay"])
            self.wait(posts, options["timeout"], workers)
            self.report(posts, receiver)
        finally:
            for worker in workers:
                worker.stop(timeout=10)
            if mock is not None:
                mock.stop()
            if receiver is not None:
                receiver.close()
        return posts

    def stand_in(self, process: stack.StandInProcess | None, url: str | None) -> str:
        """The stand-in's base URL: the process just started, once it answers, or ``url``'s."""
        if process is not None:
            try:
                process.wait_ready()
            except RuntimeError as error:
                raise CommandError(str(error)) from error
            return process.base_url
        base = url.rstrip("/")
        deadline = time.monotonic() + 30
        while True:
            try:
                MockApis(base).config()
                return base
            except (requests.RequestException, ValueError) as error:
                if time.monotonic() > deadline:
                    raise CommandError(f"no stand-in APIs answer at {base}: {error}") from error
            time.sleep(0.5)

    def fleet_check(self, env: dict[str, str], *, timeout: float) -> None:
        """The running workers publish where their settings say, which are this process's (one
        environment in compose): refuse unless those name the stand-in, then wait for a worker."""
        wrong = [
            f"{name}={setting_value(name)!r}"
            for name, value in env.items()
            if name.endswith("_URL") and name != "BLUESKY_PDS_URL" and setting_value(name) != value
        ]
        if wrong:
            raise CommandError(
                "--fleet publishes with the running workers, which would not publish to the stand-in: "
                + ", ".join(wrong)
                + f". Point them at it ({', '.join(f'{k}={v}' for k, v in env.items() if k.endswith('_URL'))})."
            )
        client = redis.Redis.from_url(settings.REDIS_URL)
        deadline = time.monotonic() + timeout
        while not (found := rq.Worker.all(connection=client)):
            if time.monotonic() > deadline:
                raise CommandError(f"no worker is registered on {settings.REDIS_URL} after {timeout:.0f}s: start them.")
            time.sleep(0.5)
        self.stdout.write(f"{len(found)} workers running on this Redis")

    def create_posts(self, base: str, receiver: Receiver, delay: float) -> list[Post]:
        team = Team.objects.create(name=f"Demo team {timezone.now():%Y-%m-%d %H:%M:%S}")
        for platform in (
            "TWITTER",
            "FACEBOOK",
            "LINKEDIN",
            "MASTODON",
            "BLUESKY",
            "THREADS",
            "YOUTUBE",
            "GOOGLE_BUSINESS",
            "TIKTOK",
            "PINTEREST",
        ):
            for connection in self.connect(MockApis(base), team, platform):
                renewal = (
                    f"renewed before {connection.expires_at:%Y-%m-%d %H:%M} UTC"
                    if connection.refreshable
                    else (f"expires {connection.expires_at:%Y-%m-%d}" if connection.expires_at else "does not expire")
                )
                label = get_client(platform).label
                how = "an app-password session" if platform == "BLUESKY" else f"{label}'s OAuth flow"
                self.stdout.write(f"connected {connection} through {how} (token {renewal})")
        # The receiver, like the stand-in, is on this machine: allowed for the demo only.
        with override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=True):
            endpoint = endpoint_create(team=team, url=receiver.url)
        receiver.secrets.append(endpoint.secret)
        self.stdout.write(
            f"team {team.name!r}: {team.connections.count()} connections, webhook endpoint {endpoint.url}"
        )
        at = timezone.now() + timedelta(seconds=delay)
        images = [f"{base}/media/latte-{i}.png" for i in (1, 2)]
        drafts = [
            ("Our autumn menu is here: pumpkin spice is back.", ["FACEBOOK", "TWITTER"], []),
            ("Open late on Fridays from next week.", ["FACEBOOK", "TWITTER", "LINKEDIN", "GOOGLE_BUSINESS"], []),
            ("Latte art, two ways.", ["FACEBOOK", "TWITTER", "INSTAGRAM", "LINKEDIN", "THREADS", "PINTEREST"], images),
            ("We are hiring baristas in Leeds.", ["LINKEDIN", "FACEBOOK", "GOOGLE_BUSINESS"], images[:1]),
            # A video, uploaded in resumable chunks, processed, then PUBLISHED.
            (
                "Roasting day\nFrom green beans to your cup, in three seconds.",
                ["YOUTUBE"],
                [f"{base}/media/roast-big.mp4"],
            ),
            (
                "Now on the open networks too: say hi to @acmecoffee.bsky.social #coffee https://acme.example/menu",
                ["BLUESKY", "MASTODON", "FACEBOOK", "TWITTER", "INSTAGRAM", "LINKEDIN", "THREADS", "PINTEREST"],
                images[:1],
            ),
            # A video pin: registered, uploaded, processed, pinned with its cover (the image).
            ("Pouring a flat white, in three seconds.", ["PINTEREST"], [images[0], f"{base}/media/pour.mp4"]),
            # A video, uploaded to TikTok in chunks (FILE_UPLOAD) and published once processed.
            ("Latte art, poured in 3 seconds.", ["TIKTOK"], [f"{base}/media/latte-pour.mp4"]),
            # A video: a Facebook Page video, an Instagram Reel, a Threads video, each published once
            # Meta's stand-in has processed it.
            (
                "Roasting day, in three seconds.",
                ["FACEBOOK", "INSTAGRAM", "THREADS"],
                [f"{base}/media/roasting-day.mp4"],
            ),
        ]
        with override_settings(MEDIA_ALLOW_PRIVATE_URLS=True):
            posts = [
                services.post_create(team=team, content=text, platforms=platforms, media_urls=media, scheduled_at=at)
                for text, platforms, media in drafts
            ]
        posts.append(
            services.post_create(
                team=team,
                content="1/3 How we roast: a thread.",
                thread=[
                    {"content": "2/3 Green beans in, 12 minutes at 200 °C."},
                    {"content": "3/3 Rested for two days, then ground to order."},
                ],
                platforms=["TWITTER", "BLUESKY", "MASTODON", "THREADS"],
                scheduled_at=at,
            )
        )
        posts.append(
            services.post_create(
                team=team,
                content="New single origin from Huila, Colombia.",
                first_comment="Order it here: https://acme.example/huila #coffee",
                platforms=["FACEBOOK", "LINKEDIN", "MASTODON"],
                scheduled_at=at,
            )
        )
        posts.append(self.reviewed(team, at))
        self.stdout.write(f"scheduled {len(posts)} posts for {at:%H:%M:%S} UTC; waiting for the workers…")
        return posts

    def reviewed(self, team: Team, at) -> Post:
        """Approval: the team requires it from now on; a member's post is a draft until submitted,
        then waits IN_REVIEW (never published) until an admin approves it."""
        Team.objects.filter(pk=team.pk).update(requires_approval=True)
        team.refresh_from_db()
        post = services.post_create(
            team=team,
            content="Barista championship this Saturday: come and cheer.",
            platforms=["FACEBOOK", "TWITTER"],
            scheduled_at=at,
            role=Membership.Role.MEMBER,
        )
        post = services.post_submit(post=post)
        self.stdout.write(f"post #{post.pk} written by a member: {post.status} (waiting for an admin)")
        post = services.post_approve(post=post, role=Membership.Role.ADMIN)
        self.stdout.write(f"post #{post.pk} approved by an admin: {post.status} for {post.scheduled_at:%H:%M:%S} UTC")
        return post

    def connect(self, mock: MockApis, team: Team, platform: str) -> list:
        """What a person does on the connect page: to the platform's consent page (the stand-in's),
        approve, back with a code; exchanged for tokens, the demo accounts picked, stored."""
        client = get_client(platform)
        if platform == "BLUESKY":
            handle, password = BLUESKY_LOGIN
            choice = client.create_session(base_url=mock.bluesky_url, identifier=handle, password=password)
            return [connection_connect(team=team, choice=choice)[0]]
        if platform == "MASTODON":
            # The person names their instance; planrrr registers its app there on first use.
            client = client.for_instance(mock.mastodon_url)
        verifier = secrets.token_urlsafe(64)
        redirect_uri = f"{mock.base_url}/demo/{platform.lower()}/callback"
        url = client.authorization_url(
            redirect_uri=redirect_uri, state=secrets.token_urlsafe(16), code_verifier=verifier
        )
        code = parse_qs(urlsplit(mock.approve(url)).query)["code"][0]
        grant = client.exchange(code=code, redirect_uri=redirect_uri, code_verifier=verifier)
        wanted = set(stack.ACCOUNTS.values())
        picked: dict[tuple[str, str], object] = {}
        for choice in client.accounts(grant):
            if choice.account_id in wanted or platform == "MASTODON":
                # One choice per account: a Pinterest account offers one per board, its first the default.
                picked.setdefault((choice.platform, choice.account_id), choice)
        return [connection_connect(team=team, choice=choice)[0] for choice in picked.values()]

    def wait(self, posts: list[Post], timeout: float, workers: list[ManagedProcess]) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not Post.objects.filter(pk__in=[p.pk for p in posts]).exclude(status__in=Post.FINAL).exists():
                return
            if workers and not any(w.alive() for w in workers):
                raise CommandError("every worker died:\n" + workers[0].output()[-3000:])
            time.sleep(0.2)
        self.stderr.write(f"timed out after {timeout:.0f}s")

    def report(self, posts: list[Post], receiver: Receiver) -> None:
        self.stdout.write("")
        rows = [("post", "status", "platform", "publication", "attempts", "external id / error")]
        for post in posts:
            post.refresh_from_db()
            for publication in post.publications.order_by("platform"):
                rows.append(
                    (
                        f"#{post.pk} {post.content[:32]}",
                        post.status,
                        publication.platform,
                        publication.status,
                        str(publication.attempt_count),
                        publication.external_id or publication.error[:60],
                    )
                )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)))
        self.report_steps(posts)
        lag = [(p.published_at - p.scheduled_at).total_seconds() for p in posts if p.published_at and p.scheduled_at]
        if lag:
            self.stdout.write(f"\nscheduled -> published: max {max(lag):.2f}s")
        # Webhook deliveries go out after the posts settle; give them a moment (+2: the reviewed
        # post's post.submitted and post.approved).
        expected = sum(p.publications.count() + 1 for p in posts) + 2
        deadline = time.monotonic() + 15
        while len(receiver.received) < expected and time.monotonic() < deadline:
            time.sleep(0.1)
        verified = [r for r in receiver.received if r.verified_with]
        self.stdout.write(
            f"\nwebhooks received: {len(receiver.received)} "
            f"({len(verified)} verified with standardwebhooks.Webhook(secret).verify)"
        )
        for delivery in receiver.received:
            payload = delivery.json
            data = payload.get("data", {})
            detail = data.get("externalId") or data.get("status") or data.get("error") or ""
            self.stdout.write(
                f"  {delivery.webhook_id}  {payload.get('event'):<15} "
                f"post #{data.get('postId')} {data.get('platform', '')} {detail}"
            )
        self.stdout.write("")
        call_command("metrics", stdout=self.stdout)

    def report_steps(self, posts: list[Post]) -> None:
        """Threads (metadata.parts) and first comments (metadata.firstComment, posted on their
        own job just after the post: waited for a moment)."""
        deadline = time.monotonic() + 15
        for post in posts:
            for publication in post.publications.order_by("platform"):
                if len(publication.metadata.get("parts", [])) > 1:
                    parts = publication.metadata["parts"]
                    self.stdout.write(f"\nthread #{post.pk} on {publication.platform}: {len(parts)} parts {parts}")
                if not post.first_comment or publication.status != publication.Status.PUBLISHED:
                    continue
                state = {}
                while time.monotonic() < deadline:
                    publication.refresh_from_db()
                    state = publication.metadata.get("firstComment", {})
                    if state.get("id") or state.get("gaveUp"):
                        break
                    time.sleep(0.2)
                self.stdout.write(f"first comment #{post.pk} on {publication.platform}: {state}")
