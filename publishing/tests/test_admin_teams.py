"""The admin keeps teams apart: each role of team A walks every admin page it can reach, and
nothing of team B appears anywhere, B's rows are 404s and come out of it unchanged, while A's
own rows are there and workable. Superusers, the operators, see everything."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from io import StringIO

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import get_fields_from_path, quote
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import RequestFactory, TestCase
from django.urls import reverse
from django.utils import timezone

from api import services as api_services
from api.models import ApiKey
from connections.models import Connection
from devtools.testing import flush_redis
from planrrr import teamadmin
from planrrr.models import Membership, Team
from publishing.admin.posts import POST_ACTIONS
from publishing.models import JobMetric, Post, Publication
from webhooks.models import Delivery, DeliveryAttempt, Endpoint, Event

OWNER, ADMIN, MEMBER = Membership.Role.OWNER, Membership.Role.ADMIN, Membership.Role.MEMBER

# Whatever of team B a page could show: its name, contents, account names and ids, its zone,
# its member, its endpoint's URL; compared case-insensitively with every body. (Key prefixes
# and event ids are added per row.) The searches below use other words of B's rows, which
# the search box echoes.
# Team B's time zone is one the admin's list leaves out (planrrr.timezones: "Factory", a name
# zoneinfo knows): every IANA region's name is on every team's page, so only a zone off the list
# tells team B's row apart.
B_WORDS = ["blackwood", "rival-7731", "factory", "bertrand"]
B_SEARCHES = ["zephyr", "7731", "hooks", "cms"]


class World:
    """Team A (Acme Studio) and team B (Blackwood Rival), each with every kind of row."""

    @classmethod
    def build(cls) -> None:
        User = get_user_model()
        cls.a = Team.objects.create(name="Acme Studio", timezone="Europe/Paris", requires_approval=True)
        cls.b = Team.objects.create(name="Blackwood Rival", timezone="Factory", requires_approval=True)
        group = Group.objects.get(name=teamadmin.TEAM_GROUP)
        cls.users = {}
        for role in (OWNER, ADMIN, MEMBER):
            user = User.objects.create_user(f"{role.lower()}_of_acme", password="password", is_staff=True)
            user.groups.add(group)
            Membership.objects.create(user=user, team=cls.a, role=role)
            cls.users[role] = user
        cls.bertrand = User.objects.create_user("bertrand", password="password", is_staff=True)
        cls.bertrand.groups.add(group)
        Membership.objects.create(user=cls.bertrand, team=cls.b, role=OWNER)
        cls.root = User.objects.create_superuser("root", "root@example.org", "password")
        cls.rows = {
            "a": cls.team_rows(cls.a, "Acme", "acme-4410"),
            "b": cls.team_rows(cls.b, "Blackwood", "rival-7731"),
        }

    @classmethod
    def team_rows(cls, team: Team, name: str, tag: str) -> dict:
        now = timezone.now()
        page = Connection.objects.create(
            team=team, platform="FACEBOOK", account_id=f"{tag}-page", name=f"{name} Page", access_token=f"tok-{tag}"
        )
        # A token that cannot be renewed and expires soon: the connections list warns about it.
        expiring = Connection.objects.create(
            team=team,
            platform="TWITTER",
            account_id=f"{tag}-x",
            name=f"{name} on X",
            access_token=f"tok-x-{tag}",
            expires_at=now + timedelta(days=2),
        )
        draft = Post.objects.create(team=team, content=f"{name} draft: zephyr numbers", platforms=["FACEBOOK"])
        review = Post.objects.create(
            team=team,
            content=f"{name} in review",
            platforms=["FACEBOOK"],
            status=Post.Status.IN_REVIEW,
            scheduled_at=now + timedelta(days=3),
        )
        failed_post = Post.objects.create(
            team=team, content=f"{name} failed post", platforms=["FACEBOOK"], status=Post.Status.FAILED
        )
        failed = Publication.objects.create(
            post=failed_post,
            connection=page,
            platform="FACEBOOK",
            status=Publication.Status.FAILED,
            error=f"{name} page refused the token",
            attempt_count=1,
            metadata={"failedBecause": "token"},
            job_id=f"{tag}-job",
        )
        Publication.objects.create(post=draft, connection=page, platform="FACEBOOK")
        Publication.objects.create(post=review, connection=page, platform="FACEBOOK")
        endpoint = Endpoint.objects.create(
            team=team, url=f"https://hooks.{tag}.example/in", description=f"{name} ops hook"
        )
        event = Event.objects.create(
            id=f"msg_{tag.replace('-', '')}",
            team=team,
            type="post.failed",
            payload=json.dumps({"data": {"postId": failed_post.pk, "error": f"{name} failure"}}).encode(),
        )
        delivery = Delivery.objects.create(
            event=event, endpoint=endpoint, status=Delivery.Status.FAILED, attempt_count=1, last_error=f"{name} 500"
        )
        DeliveryAttempt.objects.create(delivery=delivery, number=1, status_code=500, error=f"{name} receiver said 500")
        key, _ = api_services.api_key_create(team=team, name=f"{name} CMS key", role="write")
        JobMetric.objects.create(
            kind="publish", platform="FACEBOOK", outcome="FAILED", publication_id=failed.pk, duration_ms=12
        )
        return {
            "page": page,
            "expiring": expiring,
            "draft": draft,
            "review": review,
            "failed_post": failed_post,
            "failed": failed,
            "endpoint": endpoint,
            "event": event,
            "delivery": delivery,
            "key": key,
        }


def b_rows(b: Team) -> dict:
    """Every row of team B, by model."""
    return {
        Team: Team.objects.filter(pk=b.pk),
        Membership: Membership.objects.filter(team=b),
        Post: Post.objects.filter(team=b),
        Publication: Publication.objects.filter(post__team=b),
        Connection: Connection.objects.filter(team=b),
        Endpoint: Endpoint.objects.filter(team=b),
        Event: Event.objects.filter(team=b),
        Delivery: Delivery.objects.filter(endpoint__team=b),
        DeliveryAttempt: DeliveryAttempt.objects.filter(delivery__endpoint__team=b),
        ApiKey: ApiKey.objects.filter(team=b),
        JobMetric: JobMetric.objects.filter(publication_id__in=Publication.objects.filter(post__team=b).values("pk")),
    }


class TeamWalk(World, TestCase):
    """Signed in as one of team A's people, visit everything; every answer is checked."""

    @classmethod
    def setUpTestData(cls):
        cls.build()

    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)
        b = self.rows["b"]
        self.b_words = [*B_WORDS, b["key"].prefix.lower(), b["event"].id.lower()]

    # --- every answer -----------------------------------------------------------------------

    def visit(self, url: str, data: dict | None = None, *, method: str = "get", expect: set[int] | None = None):
        response = getattr(self.client, method)(url, data or {})
        body = b"".join(response) if response.streaming else response.content
        text = (body.decode(errors="replace") + " " + response.get("Location", "")).lower()
        leaked = [word for word in self.b_words if word in text]
        self.assertEqual(leaked, [], f"{method.upper()} {url} {data or ''} showed team B's {leaked}")
        self.assertNotEqual(response.status_code, 500, f"{method.upper()} {url}")
        if expect is not None:
            self.assertIn(response.status_code, expect, f"{method.upper()} {url} {data or ''}")
        return response

    def snapshot(self) -> dict:
        return {model.__name__: list(rows.order_by("pk").values()) for model, rows in b_rows(self.b).items()}

    # --- the walk ---------------------------------------------------------------------------

    def walk(self, user) -> None:
        """Everything a person can reach in the admin, with B's ids wherever an id goes."""
        before = self.snapshot()
        self.client.force_login(user)
        self.visit(reverse("admin:index"), expect={200})
        for label in sorted({model._meta.app_label for model in admin.site._registry}):
            self.visit(reverse("admin:app_list", args=[label]), expect={200, 403, 404})
        for model, model_admin in admin.site._registry.items():
            self.walk_changelist(model, model_admin)
            self.walk_rows_of_b(model, model_admin)
            self.walk_add(model, model_admin)
            self.walk_autocomplete(model)
            self.walk_actions(model, model_admin)
        self.walk_custom_views()
        self.walk_connect()
        self.assertEqual(self.snapshot(), before, "team B's rows changed")

    def walk_changelist(self, model, model_admin) -> None:
        meta = model._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        page = self.visit(url, expect={200, 403})
        if page.status_code != 200:
            return
        for term in B_SEARCHES:
            self.visit(url, {"q": term}, expect={200})
        self.visit(url, {"_facets": "1"}, expect={200})
        # Every filter link on the page (choices included), followed.
        for href in sorted(set(_filter_links(page.content.decode()))):
            self.visit(url + href, expect={200})
        for path in _team_lookups(model):
            self.visit(url, {path: self.b.pk}, expect={200})

    def walk_rows_of_b(self, model, model_admin) -> None:
        meta = model._meta
        rows = b_rows(self.b).get(model)
        if rows is None:
            return
        operators_only = isinstance(model_admin, teamadmin.OperatorsOnlyAdmin)
        expect = {403} if operators_only else {404}
        for pk in rows.values_list("pk", flat=True):
            for name in ("change", "history", "delete"):
                url = reverse(f"admin:{meta.app_label}_{meta.model_name}_{name}", args=[quote(pk)])
                self.visit(url, expect=expect)
                self.visit(url, {"post": "yes", "name": "x"}, method="post", expect=expect)

    def walk_add(self, model, model_admin) -> None:
        meta = model._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_add")
        if self.visit(url, {"team": self.b.pk}, expect={200, 403}).status_code != 200:
            return
        # A row for team B, as a forged form would ask.
        self.visit(
            url,
            {
                "team": self.b.pk,
                "content": "Injected into the other team",
                "platforms": "FACEBOOK",
                "platform": "FACEBOOK",
                "account_id": "injected",
                "access_token": "injected",
                "status": "ACTIVE",
                "url": "https://injected.example/in",
                "name": "Injected",
                "role": "read",
                "publications-TOTAL_FORMS": "0",
                "publications-INITIAL_FORMS": "0",
            },
            method="post",
            expect={200, 403},
        )

    def walk_autocomplete(self, model) -> None:
        for field in model._meta.get_fields():
            if field.is_relation and field.concrete and (field.many_to_one or field.many_to_many):
                params = {"app_label": model._meta.app_label, "model_name": model._meta.model_name}
                self.visit(reverse("admin:autocomplete"), {**params, "field_name": field.name, "term": ""})

    def walk_actions(self, model, model_admin) -> None:
        """Every action the operators have, on B's ids (with every confirmation it may ask)."""
        rows = b_rows(self.b).get(model)
        if rows is None:
            return
        meta = model._meta
        request = RequestFactory().get("/")
        request.user = self.root
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        for action in model_admin.get_actions(request):
            self.visit(
                url,
                {
                    "action": action,
                    ACTION_CHECKBOX_NAME: [str(pk) for pk in rows.values_list("pk", flat=True)],
                    "index": "0",
                    "post": "yes",
                    "confirm": "publish_now",
                    "review_note": "Not yours",
                },
                method="post",
                expect={200, 302, 403},
            )

    def walk_custom_views(self) -> None:
        b = self.rows["b"]
        for action in POST_ACTIONS:
            self.visit(
                reverse("admin:publishing_post_act", args=[b["failed_post"].pk, action]), method="post", expect={404}
            )
        self.visit(reverse("admin:publishing_publication_retry", args=[b["failed"].pk]), method="post", expect={404})
        requeue = reverse("admin:connections_connection_requeue", args=[b["page"].pk])
        self.visit(requeue, expect={404})
        self.visit(requeue, method="post", expect={404})
        self.visit(reverse("admin:publishing_post_dashboard"), {"hours": "168"}, expect={200})
        redeliver = reverse("admin:webhooks_delivery_redeliver_failed")
        if self.visit(redeliver, expect={200, 403}).status_code == 200:
            since = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
            self.visit(redeliver, {"since": since, "team": self.b.pk}, method="post", expect={200})
            self.visit(redeliver, {"since": since, "endpoint": b["endpoint"].pk}, method="post", expect={200})
            self.visit(redeliver, {"since": since}, method="post", expect={302})
        # RQ's pages list every team's jobs: the operators' only.
        self.visit("/admin/rq/", expect={403})
        self.visit(reverse("django_rq:jobs", args=[0]), expect={403})
        self.visit(reverse("django_rq:job_detail", args=[0, b["failed"].job_id]), expect={403})
        self.visit(reverse("admin:django_rq_dashboard_changelist"), expect={403})

    def walk_connect(self) -> None:
        self.visit(reverse("connections:connect_teams"), expect={200})
        self.visit(reverse("connections:connect", args=[self.b.pk]), expect={404})
        for platform in ("bluesky", "mastodon", "twitter", "facebook"):
            start = reverse("connections:connect_start", args=[self.b.pk, platform])
            self.visit(
                start,
                {"handle": "x.bsky.social", "app_password": "x", "instance": "https://m.example"},
                method="post",
                expect={404},
            )


def _filter_links(page: str) -> list[str]:
    """The filter sidebar's links ("?status__exact=FAILED"), unescaped."""
    sidebar = page.partition('id="changelist-filter"')[2]
    return [html.unescape(href) for href in re.findall(r'href="(\?[^"]*)"', sidebar)]


def _team_lookups(model) -> list[str]:
    """URL lookups naming a team by id ("team__id__exact", "post__team__id__exact")."""
    path = {
        Team: None,
        Post: "team",
        Publication: "post__team",
        Connection: "team",
        Endpoint: "team",
        Event: "team",
        Delivery: "endpoint__team",
        ApiKey: "team",
    }.get(model)
    return [f"{path}__id__exact"] if path else []


def changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def change(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[quote(obj.pk)])


class OwnRows:
    """What each role of team A sees of its own team and may do with it."""

    role: str

    def test_it_shows_nothing_of_another_team_anywhere(self):
        self.walk(self.users[self.role])

    def test_it_shows_its_own_teams_rows_and_works_them_as_its_role_allows(self):
        a, manager = self.rows["a"], self.role in teamadmin.MANAGERS
        self.client.force_login(self.users[self.role])
        self.assertContains(self.visit(changelist(Post)), "Acme draft")
        connections = self.visit(changelist(Connection))
        self.assertContains(connections, "Acme Page")
        self.assertContains(connections, "1 connection(s) expire within")  # A's own, not B's
        self.assertEqual("Connect an account" in connections.content.decode(), manager)
        for model, word in (
            (Endpoint, "hooks.acme-4410"),
            (Delivery, "hooks.acme-4410"),
            (Event, a["event"].id),
            (ApiKey, "Acme CMS key"),
        ):
            page = self.visit(changelist(model), expect={200 if manager else 403})
            if manager:
                self.assertContains(page, word)
        self.assertContains(self.visit(change(a["draft"]), expect={200}), "Acme draft")
        self.visit(reverse("admin:publishing_post_history", args=[a["draft"].pk]), expect={200})
        publication = self.visit(change(a["failed"]), expect={200}).content.decode()
        self.assertIn("acme-4410-job", publication)
        self.assertNotIn("/admin/rq/", publication)  # RQ's pages are the operators'
        # Connections and the team: ADMIN and OWNER change them, a MEMBER reads them.
        self.assertEqual('name="_save"' in self.visit(change(a["page"]), expect={200}).content.decode(), manager)
        team = self.visit(change(self.a), expect={200}).content.decode()
        self.assertEqual('name="_save"' in team, manager)
        self.assertIn("member_of_acme", team)
        self.assertNotIn('name="memberships-0-role"', team)  # memberships are the operators'
        if not manager:
            self.visit(change(a["page"]), {"name": "Renamed"}, method="post", expect={403})
            self.visit(reverse("admin:connections_connection_add"), expect={403})
            self.visit(reverse("connections:connect", args=[self.a.pk]), expect={403})
        else:
            self.assertContains(self.visit(reverse("admin:connections_connection_add"), expect={200}), "Acme Studio")
            self.visit(reverse("connections:connect", args=[self.a.pk]), expect={200})
        self.assertContains(self.visit(reverse("admin:publishing_post_add"), expect={200}), "Acme Studio")
        # Actions: anybody cancels and retries; only ADMIN and OWNER approve.
        self.act(Post, "cancel", a["draft"])
        self.act(Post, "approve", a["review"], confirm="publish_now")
        self.visit(reverse("admin:publishing_publication_retry", args=[a["failed"].pk]), method="post", expect={302})
        a["draft"].refresh_from_db()
        a["review"].refresh_from_db()
        a["failed"].refresh_from_db()
        self.assertEqual(a["draft"].status, Post.Status.CANCELLED)
        self.assertEqual(a["review"].status, Post.Status.SCHEDULED if manager else Post.Status.IN_REVIEW)
        self.assertNotEqual(a["failed"].status, Publication.Status.FAILED)
        self.assertContains(self.visit(reverse("admin:publishing_post_dashboard"), expect={200}), "Acme Page")
        if manager:
            since = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
            redeliver = reverse("admin:webhooks_delivery_redeliver_failed")
            self.visit(redeliver, {"since": since}, method="post", expect={302})
            self.assertEqual(Delivery.objects.filter(redelivery_of=a["delivery"]).count(), 1)
        # Deleting: an endpoint with its delivery log, a connection (ADMIN and OWNER only; the
        # endpoints are not even there for a MEMBER).
        for obj, refused in ((a["endpoint"], 404), (a["expiring"], 403)):
            url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_delete", args=[obj.pk])
            self.visit(url, {"post": "yes"}, method="post", expect={302 if manager else refused})
            self.assertEqual(type(obj).objects.filter(pk=obj.pk).exists(), not manager)

    def act(self, model, action: str, obj, **extra) -> None:
        data = {"action": action, ACTION_CHECKBOX_NAME: [str(obj.pk)], "index": "0", **extra}
        self.visit(changelist(model), data, method="post", expect={200, 302})


class OwnerWalkTests(OwnRows, TeamWalk):
    role = OWNER


class AdminWalkTests(OwnRows, TeamWalk):
    role = ADMIN


class MemberWalkTests(OwnRows, TeamWalk):
    role = MEMBER


class OperatorTests(World, TestCase):
    """Superusers, the installation's operators, see every team."""

    @classmethod
    def setUpTestData(cls):
        cls.build()

    def test_a_superuser_sees_every_team(self):
        b = self.rows["b"]
        self.client.force_login(self.root)
        self.assertContains(self.client.get(changelist(Post)), "Blackwood draft")
        self.assertContains(self.client.get(changelist(Post)), "Acme draft")
        self.assertContains(self.client.get(change(b["draft"])), "Blackwood draft")
        self.assertContains(self.client.get(changelist(Connection)), "Blackwood Rival")  # the team filter
        self.assertContains(self.client.get(change(b["endpoint"])), "hooks.rival-7731")
        self.assertContains(self.client.get(reverse("admin:publishing_post_dashboard")), "Blackwood Page")
        self.assertContains(self.client.get(change(b["failed"])), "/admin/rq/")
        self.assertEqual(self.client.get("/admin/rq/").status_code, 200)
        self.assertContains(self.client.get(reverse("connections:connect", args=[self.b.pk])), "Blackwood Rival")


def unscoped_admins(site: admin.AdminSite) -> list[str]:
    """Registered admins that could show one team another's rows: an admin of a team's rows
    that is not a TeamScopedAdmin (or whose team_path does not lead to the team), an inline that
    is not a TeamScopedInline, an admin of other rows that is not the operators' only."""
    problems = []
    for model, model_admin in site._registry.items():
        name = f"{type(model_admin).__name__} ({model._meta.label})"
        if teamadmin.team_path(model) is None:
            if not isinstance(model_admin, teamadmin.OperatorsOnlyAdmin):
                problems.append(f"{name}: rows of no team, but not OperatorsOnlyAdmin")
            continue
        if not isinstance(model_admin, teamadmin.TeamScopedAdmin):
            problems.append(f"{name}: a team's rows, but not TeamScopedAdmin")
            continue
        if (
            model_admin.team_path != "pk"
            and get_fields_from_path(model, model_admin.team_path)[-1].related_model is not Team
        ):
            problems.append(f"{name}: team_path {model_admin.team_path!r} does not lead to Team")
        problems += [
            f"{name}: inline {inline.__name__} is not TeamScopedInline"
            for inline in model_admin.inlines
            if not issubclass(inline, teamadmin.TeamScopedInline)
        ]
    return problems


class EveryAdminIsScopedTests(TestCase):
    def test_every_registered_admin_keeps_teams_apart(self):
        self.assertEqual(unscoped_admins(admin.site), [])

    def test_it_tells_an_admin_that_forgot(self):
        site = admin.AdminSite(name="forgetful")

        class Inline(admin.TabularInline):
            model = Publication

        site.register(Post, admin.ModelAdmin)
        site.register(Connection, type("ConnectionAdmin", (teamadmin.TeamScopedAdmin,), {"inlines": [Inline]}))
        site.register(JobMetric, admin.ModelAdmin)
        self.assertEqual(
            unscoped_admins(site),
            [
                "ModelAdmin (publishing.Post): a team's rows, but not TeamScopedAdmin",
                "ConnectionAdmin (connections.Connection): inline Inline is not TeamScopedInline",
                "ModelAdmin (publishing.JobMetric): rows of no team, but not OperatorsOnlyAdmin",
            ],
        )

    def test_it_finds_each_models_team(self):
        self.assertEqual(
            {model.__name__: teamadmin.team_path(model) for model in (Team, Post, Publication, Delivery, ApiKey)},
            {"Team": "pk", "Post": "team", "Publication": "post__team", "Delivery": "event__team", "ApiKey": "team"},
        )
        self.assertIsNone(teamadmin.team_path(JobMetric))


class TeamGroupTests(TestCase):
    def permissions(self) -> set[str]:
        group = Group.objects.get(name=teamadmin.TEAM_GROUP)
        return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}

    def test_migrate_keeps_the_group_with_exactly_its_permissions(self):
        self.assertEqual(self.permissions(), set(teamadmin.TEAM_GROUP_PERMISSIONS))
        group = Group.objects.get(name=teamadmin.TEAM_GROUP)
        group.permissions.set(group.permissions.filter(codename="view_team"))
        teamadmin.team_group_sync()
        self.assertEqual(self.permissions(), set(teamadmin.TEAM_GROUP_PERMISSIONS))

    def test_admin_access_lets_a_member_in_and_out(self):
        user = get_user_model().objects.create_user("carol", password="password")
        team = Team.objects.create(name="Acme")
        Membership.objects.create(user=user, team=team, role=ADMIN)
        out = StringIO()
        call_command("admin_access", "carol", stdout=out)
        self.assertIn("Acme (ADMIN)", out.getvalue())
        user.refresh_from_db()
        self.assertTrue(user.is_staff)
        self.assertTrue(user.groups.filter(name=teamadmin.TEAM_GROUP).exists())
        self.client.force_login(user)
        self.assertEqual(self.client.get(changelist(Connection)).status_code, 200)
        call_command("admin_access", "carol", "--revoke", stdout=StringIO())
        user.refresh_from_db()
        self.assertFalse(user.is_staff)
        self.assertFalse(user.groups.exists())
