"""Publications in the admin, read-only (written by the workers; retried by an action), and the
job metrics (the operators')."""

from datetime import datetime

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from planrrr.teamadmin import OperatorsOnlyAdmin, TeamScopedAdmin, TeamScopedInline
from planrrr.timezones import labelled
from publishing import metadata as keys
from publishing.admin.actions import post_name, retry_post
from publishing.models import JobMetric, Publication


def live_post(obj: Publication) -> str:
    """The post on the platform, where the platform gave its address."""
    url = (obj.metadata or {}).get(keys.URL) if isinstance(obj.metadata, dict) else None
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return obj.external_id or "-"
    return format_html('<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>', url, "view the post")


def attempts_told(obj: Publication) -> str:
    """Each attempt's end in words, oldest first (metadata.history), in the team's zone."""
    history = (obj.metadata or {}).get(keys.HISTORY) if isinstance(obj.metadata, dict) else None
    if not isinstance(history, list) or not history:
        return "-"
    zone = obj.post.team.zone
    lines = []
    for entry in history:
        if not isinstance(entry, dict):
            continue
        try:
            at = labelled(datetime.fromisoformat(str(entry.get("at"))), zone)
        except ValueError:
            at = "?"
        lines.append(
            (
                entry.get("attempt", "?"),
                at,
                str(entry.get("outcome", "")).lower().replace("_", " "),
                entry.get("error") or entry.get("note") or "",
            )
        )
    return format_html_join(mark_safe("<br>"), "attempt {} · {} · {} {}", lines)


class PublicationInline(TeamScopedInline, admin.TabularInline):
    model = Publication
    extra = 0
    can_delete = False
    fields = [
        "platform",
        "connection",
        "status",
        "live_post",
        "error",
        "attempts",
        "next_attempt",
        "published",
    ]
    readonly_fields = fields

    @admin.display(description="on the platform")
    def live_post(self, obj: Publication) -> str:
        return live_post(obj)

    @admin.display(description="attempts")
    def attempts(self, obj: Publication) -> str:
        return attempts_told(obj)

    @admin.display(description="next attempt")
    def next_attempt(self, obj: Publication) -> str:
        return labelled(obj.next_attempt_at, obj.post.team.zone) if obj.next_attempt_at else "-"

    @admin.display(description="published at")
    def published(self, obj: Publication) -> str:
        return labelled(obj.published_at, obj.post.team.zone) if obj.published_at else "-"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("post__team", "connection")

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


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
    # The lease and stage tokens are the workers' fences, not something a person reads or acts on.
    readonly_fields = [
        "post_link",
        "job_link",
        "live",
        "attempt_history",
        *(f.name for f in Publication._meta.fields if f.name not in ("job_id", "lease_token", "stage_token")),
    ]
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
        return format_html('<a href="{}">{}</a>', url, post_name(obj.post))

    @admin.display(description="on the platform")
    def live(self, obj: Publication) -> str:
        return live_post(obj)

    @admin.display(description="attempts, oldest first")
    def attempt_history(self, obj: Publication) -> str:
        return attempts_told(obj)

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
