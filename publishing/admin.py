from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from connections.admin import ConnectionAdmin
from connections.models import Connection, Platform
from planrrr.models import Team
from planrrr.teamadmin import (
    MANAGERS,
    OperatorsOnlyAdmin,
    TeamScopedAdmin,
    TeamScopedInline,
    team_role,
    teams_for,
)
from publishing import rules, services
from publishing.models import JobMetric, Post, Publication


class PublicationInline(TeamScopedInline, admin.TabularInline):
    model = Publication
    extra = 0
    can_delete = False
    fields = [
        "platform",
        "status",
        "external_id",
        "error",
        "attempt_count",
        "next_attempt_at",
        "published_at",
        "connection",
        "metadata",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class PostForm(forms.ModelForm):
    """Validates with the same rules as every other entry point (publishing.rules)."""

    class Meta:
        model = Post
        fields = [
            "team",
            "author",
            "content",
            "platforms",
            "media_urls",
            "variants",
            "thread",
            "first_comment",
            "scheduled_at",
            "repeat",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "scheduled_at" in self.fields:
            # PostAdmin.changeform_view makes the team's zone the current one for this request.
            zone = timezone.get_current_timezone_name()
            self.fields[
                "scheduled_at"
            ].help_text = (
                f"Date and time in {zone} (the team's time zone; set it on the team). Leave empty for a draft."
            )

    def clean(self):
        data = super().clean()
        for name, empty in (("variants", {}), ("thread", [])):
            if data.get(name) is None and name in self.fields:
                data[name] = empty
        if self.instance.pk or "team" not in data or "platforms" not in data:
            return data
        problems = rules.post_problems(
            team=data["team"],
            content=data.get("content", ""),
            platforms=list(data.get("platforms") or []),
            media_urls=list(data.get("media_urls") or []),
            scheduled_at=data.get("scheduled_at"),
            variants=data.get("variants"),
            thread=data.get("thread"),
            first_comment=data.get("first_comment", ""),
            repeat=data.get("repeat", ""),
        )
        for field, messages_ in problems.items():
            for message in messages_:
                if field.startswith(("variants.", "thread.")):
                    # variants.TWITTER.content: the one JSON box, with the place inside it named.
                    head, _, rest = field.partition(".")
                    self.add_error(head, f"{rest}: {message}")
                else:
                    self.add_error(field if field in self.fields else None, message)
        return data


class PlatformFilter(admin.SimpleListFilter):
    title = "platform"
    parameter_name = "platform"

    def lookups(self, request, model_admin):
        return Platform.choices

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(platforms__contains=[self.value()])
        return queryset


@admin.register(Post)
class PostAdmin(TeamScopedAdmin):
    # Every member writes, submits, cancels and publishes (the services hold a MEMBER's post for
    # review where the team requires it); approving and rejecting is ADMIN's and OWNER's.
    form = PostForm
    list_display = ["__str__", "team", "status", "platform_chips", "scheduled_local", "published_at"]
    list_filter = ["status", PlatformFilter, "team", "scheduled_at"]
    search_fields = ["content"]
    date_hierarchy = "scheduled_at"
    inlines = [PublicationInline]
    actions = ["cancel", "publish_now", "retry_failed", "submit", "approve", "reject"]
    list_select_related = ["team"]
    change_form_template = "admin/publishing/post/change_form.html"

    def get_urls(self):
        from django.urls import path

        from publishing.dashboard import dashboard

        view = self.admin_site.admin_view(lambda request: dashboard(request, self))
        act = self.admin_site.admin_view(self.act_view)
        return [
            path("dashboard/", view, name="publishing_post_dashboard"),
            path("<int:pk>/act/<slug:action>/", act, name="publishing_post_act"),
            *super().get_urls(),
        ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("publications")

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return self.has_change_permission(request) and self.in_teams(request, MANAGERS)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            # A team member writes as themselves: the user list is the operators' only.
            return ["status", "error", "published_at", *([] if request.user.is_superuser else ["author"])]
        # A post that exists changes through its actions, not by editing fields.
        return [
            "team",
            "author",
            "content",
            "platforms",
            "media_urls",
            "variants",
            "thread",
            "first_comment",
            "repeat",
            "series",
            "scheduled_local",
            "status",
            "review_note",
            "reviewed_by",
            "error",
            "published_at",
        ]

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        # The stored UTC time is shown once, in the team's zone (scheduled_local).
        return [f for f in fields if f != "scheduled_at"] if obj is not None else fields

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        """Show and read times in the team's zone: the post's team, or the team being chosen
        (the add form's POST, ``?team=ID``), or the user's only team; else UTC."""
        if object_id:
            # A post that exists is read-only: it changes through its actions (the buttons above).
            extra_context = {
                **(extra_context or {}),
                "show_save": False,
                "show_save_and_continue": False,
                "show_save_and_add_another": False,
                "show_delete": False,
                "post_actions": POST_ACTIONS,
            }
        with timezone.override(self._zone(request, object_id)):
            response = super().changeform_view(request, object_id, form_url, extra_context)
            if hasattr(response, "render"):
                response.render()  # inside the zone: dates are formatted at render time
        return response

    def _zone(self, request: HttpRequest, object_id) -> ZoneInfo:
        # Only the user's teams: another team's zone is not told, even by a help text.
        visible = teams_for(request.user)
        team = None
        if object_id:
            team = visible.filter(posts__pk=object_id).first() if str(object_id).isdigit() else None
        else:
            team_id = request.POST.get("team") or request.GET.get("team")
            if team_id and str(team_id).isdigit():
                team = visible.filter(pk=team_id).first()
            else:
                teams = Team.objects.filter(memberships__user_id=request.user.pk)[:2]
                team = teams[0] if len(teams) == 1 else None
        return team.zone if team else ZoneInfo("UTC")

    @admin.display(description="scheduled at", ordering="scheduled_at")
    def scheduled_local(self, obj: Post) -> str:
        """The time in the team's zone, naming the zone (and UTC beside it when they differ)."""
        if not obj.scheduled_at:
            return "-"
        zone = obj.team.zone
        local = obj.scheduled_at.astimezone(zone)
        text = f"{local:%Y-%m-%d %H:%M} {zone.key}"
        if local.utcoffset():
            text += f" ({obj.scheduled_at.astimezone(ZoneInfo('UTC')):%H:%M} UTC)"
        return text

    @admin.display(description="platforms")
    def platform_chips(self, obj: Post) -> str:
        """A chip per platform, coloured by its publication's status: which one failed, at a glance."""
        by_platform = {p.platform: p for p in obj.publications.all()}
        # A row written by SQL may hold anything (a NULL element): show it, never fail the page.
        names = [str(name) for name in obj.platforms or []] or list(by_platform)
        return format_html_join(
            " ",
            '<span title="{}" style="{}">{} {}</span>',
            (_chip(name, by_platform.get(name)) for name in names),
        )

    def save_model(self, request, obj: Post, form, change: bool) -> None:
        if change:
            return  # read-only once created
        if not request.user.is_superuser:
            obj.author = request.user
        services.post_save_new(post=obj, role=team_role(request, obj.team_id))
        for warning in getattr(obj, "warnings", []):
            self.message_user(request, warning, messages.WARNING)

    @admin.action(description="Cancel selected posts (if not started)", permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Post]) -> None:
        for post in queryset:
            if services.post_cancel(post=post):
                self.message_user(request, f"{_name(post)}: cancelled.", messages.SUCCESS)
            else:
                post.refresh_from_db()
                self.message_user(
                    request,
                    f"{_name(post)}: not cancelled, it is {post.status} (only drafts and scheduled posts can be).",
                    messages.WARNING,
                )

    @admin.action(description="Publish selected drafts or scheduled posts now", permissions=["change"])
    def publish_now(self, request: HttpRequest, queryset: QuerySet[Post]) -> None:
        for post in queryset:
            try:
                services.post_schedule(post=post, publish_now=True, role=team_role(request, post.team_id))
            except (ValidationError, PermissionDenied) as err:
                self.message_user(request, f"{_name(post)}: not published, {_words(err)}", messages.ERROR)
            else:
                self.message_user(
                    request, f"{_name(post)}: publishing now on {', '.join(post.platforms)}.", messages.SUCCESS
                )

    # --- review (Team.requires_approval): roles come from Membership, checked by the services ---

    @admin.action(description="Submit selected drafts for review", permissions=["change"])
    def submit(self, request: HttpRequest, queryset: QuerySet[Post]) -> None:
        done = 0
        for post in queryset:
            try:
                services.post_submit(post=post, user=request.user)
                done += 1
            except ValidationError as err:
                self.message_user(request, f"Post #{post.pk}: {_words(err)}", messages.ERROR)
        self.message_user(request, f"Submitted {done} of {queryset.count()} posts for review.")

    @admin.action(description="Approve selected posts in review (admins and owners)", permissions=["approve"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Post]):
        """Approve; a post whose time has passed is published now only after the approver
        confirms it on a page that lists them."""
        posts = list(queryset.select_related("team"))
        tolerance = timezone.now() - timezone.timedelta(seconds=settings.SCHEDULE_PAST_TOLERANCE_SECONDS)
        late = [p for p in posts if p.status == Post.Status.IN_REVIEW and (p.scheduled_at or tolerance) <= tolerance]
        if late and request.POST.get("confirm") != "publish_now":
            return self._review_page(request, posts, action="approve", late=late)
        done = 0
        for post in posts:
            try:
                services.post_approve(
                    post=post, role=team_role(request, post.team_id), user=request.user, publish_now=post in late
                )
                done += 1
            except (ValidationError, PermissionDenied) as err:
                self.message_user(request, f"Post #{post.pk}: {_words(err)}", messages.ERROR)
        self.message_user(request, f"Approved {done} of {len(posts)} posts.")
        return None

    @admin.action(
        description="Reject selected posts in review, with a note (admins and owners)", permissions=["approve"]
    )
    def reject(self, request: HttpRequest, queryset: QuerySet[Post]):
        posts = list(queryset)
        note = request.POST.get("review_note")
        if note is None:
            return self._review_page(request, posts, action="reject")
        done = 0
        for post in posts:
            try:
                services.post_reject(post=post, role=team_role(request, post.team_id), note=note, user=request.user)
                done += 1
            except (ValidationError, PermissionDenied) as err:
                self.message_user(request, f"Post #{post.pk}: {_words(err)}", messages.ERROR)
        self.message_user(request, f"Rejected {done} of {len(posts)} posts.")
        return None

    def _review_page(self, request: HttpRequest, posts: list[Post], *, action: str, late=()) -> TemplateResponse:
        return TemplateResponse(
            request,
            "admin/publishing/post/review.html",
            {
                **self.admin_site.each_context(request),
                "title": "Approve posts" if action == "approve" else "Reject posts",
                "action": action,
                "posts": posts,
                "late": late,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description="Retry the failed publications of selected posts", permissions=["change"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Post]) -> None:
        for post in queryset:
            retry_post(self, request, post)

    def act_view(self, request: HttpRequest, pk: int, action: str):
        """The buttons of a post's page: one action on this post, then back to it."""
        post = get_object_or_404(self.get_queryset(request), pk=pk)
        if request.method != "POST" or action not in POST_ACTIONS:
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request, post):
            raise PermissionDenied
        getattr(self, action)(request, self.get_queryset(request).filter(pk=post.pk))
        return HttpResponseRedirect(reverse("admin:publishing_post_change", args=[post.pk]))


# The buttons on a post's page: action name -> label.
POST_ACTIONS = {"publish_now": "Publish now", "cancel": "Cancel", "retry_failed": "Retry failed publications"}

CHIP_COLOURS = {
    Publication.Status.PUBLISHED: "#1b7f3b",
    Publication.Status.FAILED: "#b42318",
    Publication.Status.PUBLISHING: "#175cd3",
    Publication.Status.PENDING: "#667085",
}


def _chip(platform: str, publication: Publication | None) -> tuple[str, str, str, str]:
    status = publication.status if publication else "-"
    waiting = publication is not None and status == Publication.Status.PENDING and publication.next_attempt_at
    title = publication.error if publication and publication.error else status
    colour = CHIP_COLOURS.get(status, "#98a2b3")
    if waiting and publication.attempt_count:
        status = "RETRYING"
    style = f"display:inline-block;padding:1px 6px;border-radius:8px;color:#fff;background:{colour};font-size:11px"
    return title, style, platform, status


def _name(post: Post) -> str:
    text = post.content if len(post.content) <= 40 else post.content[:39] + "…"
    return f"Post #{post.pk} “{text}”"


def retry_post(model_admin, request: HttpRequest, post: Post, publications: list[Publication] | None = None) -> None:
    """Retry a post's failed publications (publishing.services.publications_retry: the API's move,
    with its checks), saying which and, when it refuses, why (an account not connected: reconnect
    it first, then its failed publications can be re-queued from the connections page).
    ``publications``: the ones asked for, named in the messages (a retry takes all of the post's)."""
    failed = list(post.publications.filter(status=Publication.Status.FAILED))
    named = publications or failed
    label = ", ".join(f"publication #{p.pk} ({p.platform})" for p in named) or "no publication"
    if not failed:
        model_admin.message_user(
            request,
            f"{_name(post)}: nothing to retry, no publication of it has failed (it is {post.status}).",
            messages.WARNING,
        )
        return
    try:
        retried = services.publications_retry(post=post)
    except ValidationError as err:
        model_admin.message_user(
            request, f"{_name(post)}: {label} not retried. {' '.join(err.messages)}", messages.ERROR
        )
        return
    names = ", ".join(f"#{p.pk} ({p.platform})" for p in retried)
    model_admin.message_user(request, f"{_name(post)}: retrying publication(s) {names}.", messages.SUCCESS)


def _words(err: Exception) -> str:
    return " ".join(err.messages) if isinstance(err, ValidationError) else str(err)


@admin.register(Publication)
class PublicationAdmin(TeamScopedAdmin):
    team_path = "post__team"
    list_display = [
        "__str__",
        "status",
        "platform",
        "external_id",
        "attempt_count",
        "next_attempt_at",
        "short_error",
    ]
    list_filter = ["status", "platform", "post__team", "outcome_unknown"]
    search_fields = ["external_id", "error", "post__content"]
    readonly_fields = ["post_link", "job_link", *(f.name for f in Publication._meta.fields if f.name != "job_id")]
    list_select_related = ["post"]
    actions = ["retry"]
    change_form_template = "admin/publishing/publication/change_form.html"

    def get_fields(self, request, obj=None):
        # RQ's job pages are the operators' (they list every team's jobs): others see the id.
        job = "job_link" if request.user.is_superuser else "job_id"
        return [
            "post_link",
            job,
            *(f for f in self.readonly_fields if f not in ("post", "post_link", "job_link")),
        ]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "job_id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # written by the workers only: the page is read-only (retry is an action)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_retry_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm("publishing.change_publication") and self.in_teams(request, self.manage_roles, obj)

    def get_urls(self):
        from django.urls import path

        view = self.admin_site.admin_view(self.retry_view)
        return [path("<int:pk>/retry/", view, name="publishing_publication_retry"), *super().get_urls()]

    def render_change_form(self, request, context, *args, **kwargs):
        context["can_retry"] = self.has_retry_permission(request, context.get("original"))
        return super().render_change_form(request, context, *args, **kwargs)

    @admin.display(description="error")
    def short_error(self, obj: Publication) -> str:
        return obj.error if len(obj.error) <= 80 else obj.error[:79] + "…"

    @admin.display(description="post")
    def post_link(self, obj: Publication) -> str:
        url = reverse("admin:publishing_post_change", args=[obj.post_id])
        return format_html('<a href="{}">{}</a>', url, _name(obj.post))

    @admin.display(description="RQ job")
    def job_link(self, obj: Publication) -> str:
        """The publication's job on django-rq's job page (gone once RQ has forgotten it)."""
        if not obj.job_id:
            return "-"
        index = list(settings.RQ_QUEUES).index("default")
        url = reverse("django_rq:job_detail", args=[index, obj.job_id])
        return format_html('<a href="{}">{}</a>', url, obj.job_id)

    @admin.action(description="Retry selected failed publications", permissions=["retry"])
    def retry(self, request: HttpRequest, queryset: QuerySet[Publication]) -> None:
        by_post: dict[int, list[Publication]] = {}
        for publication in queryset.select_related("post", "post__team").order_by("post_id", "pk"):
            if publication.status != Publication.Status.FAILED:
                self.message_user(
                    request,
                    f"Publication #{publication.pk} ({publication.platform} of post #{publication.post_id}): "
                    f"not retried, it is {publication.status}; only failed publications are.",
                    messages.WARNING,
                )
                continue
            by_post.setdefault(publication.post_id, []).append(publication)
        for publications in by_post.values():
            retry_post(self, request, publications[0].post, publications)

    def retry_view(self, request: HttpRequest, pk: int):
        publication = get_object_or_404(self.get_queryset(request), pk=pk)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_retry_permission(request, publication):
            raise PermissionDenied
        self.retry(request, self.get_queryset(request).filter(pk=publication.pk))
        return HttpResponseRedirect(reverse("admin:publishing_publication_change", args=[publication.pk]))


@admin.register(JobMetric)
class JobMetricAdmin(OperatorsOnlyAdmin):
    """Every team's jobs, and what they cost the installation: the operators' (the dashboard
    shows a team its own figures)."""

    list_display = ["created_at", "kind", "platform", "outcome", "attempt", "duration_ms", "lag_ms", "peak_rss_bytes"]
    list_filter = ["kind", "platform", "outcome"]
    readonly_fields = [f.name for f in JobMetric._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # a record of what a job did

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # counters are sums of these rows (and their rollups)


class ReconnectConnectionAdmin(ConnectionAdmin):
    """The connections admin, plus what publishing knows after a reconnect: how many
    publications failed only because the token had expired, and a way to re-queue them (the
    connections app imports nothing of publishing, so publishing extends its admin)."""

    def get_urls(self):
        from django.urls import path

        view = self.admin_site.admin_view(self.requeue_view)
        return [path("<int:pk>/requeue/", view, name="connections_connection_requeue"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        active = self.get_queryset(request).filter(status=Connection.Status.ACTIVE)
        counts = services.requeueable(connections=active).values("connection").annotate(n=Count("pk")).order_by()
        for row in counts:
            connection = Connection.objects.get(pk=row["connection"])
            url = reverse("admin:connections_connection_requeue", args=[connection.pk])
            messages.warning(
                request,
                format_html(
                    '{} is connected again: {} publication(s) failed because its token had expired. <a href="{}">'
                    "Re-queue them?</a>",
                    connection,
                    row["n"],
                    url,
                ),
            )
        return super().changelist_view(request, extra_context=extra_context)

    def requeue_view(self, request: HttpRequest, pk: int):
        connection = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_change_permission(request, connection):
            raise PermissionDenied
        back = reverse("admin:connections_connection_changelist")
        if request.method == "POST":
            done = services.publications_requeue_after_reconnect(connection=connection)
            if connection.status != Connection.Status.ACTIVE:
                self.message_user(request, f"{connection} is {connection.status}: reconnect it first.", messages.ERROR)
            else:
                self.message_user(request, f"Re-queued {done} publication(s) of {connection}.", messages.SUCCESS)
            return HttpResponseRedirect(back)
        publications = list(services.requeueable(connection=connection).select_related("post")[:50])
        context = {
            **self.admin_site.each_context(request),
            "title": "Re-queue publications",
            "connection": connection,
            "count": services.requeueable(connection=connection).count(),
            "publications": publications,
            "back": back,
        }
        return TemplateResponse(request, "admin/publishing/requeue_confirm.html", context)


admin.site.unregister(Connection)
admin.site.register(Connection, ReconnectConnectionAdmin)
