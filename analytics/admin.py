"""The analytics in the admin (read-only): each published post's figures with its curve, each
channel's followers and why its figures wait, and the week's top posts (``…/tracking/week/``).
The charts are inline SVG drawn by analytics.charts."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from analytics import charts, selectors
from analytics.models import ChannelDay, ChannelSync, ExternalPost, Snapshot, Tracking
from planrrr.teamadmin import TeamScopedAdmin, team_ids

CURVE = ("views", "likes", "comments", "shares")


class ReadOnly(TeamScopedAdmin):
    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Tracking)
class TrackingAdmin(ReadOnly):
    list_display = [
        "publication",
        "platform",
        "connection",
        "published_at",
        "captured_at",
        "next_sync_at",
        "views",
        "likes",
        "comments",
        "shares",
        "error",
    ]
    list_filter = ["platform"]
    list_select_related = ["publication", "connection"]
    search_fields = ["external_id", "publication__post__content"]
    date_hierarchy = "published_at"
    fields = [
        "curve",
        "publication",
        "platform",
        "connection",
        "external_id",
        "published_at",
        "captured_at",
        "next_sync_at",
        "syncs",
        "views",
        "reach",
        "likes",
        "comments",
        "shares",
        "saves",
        "clicks",
        "video_views",
        "watch_seconds",
        "raw",
        "unavailable",
        "error",
    ]
    readonly_fields = fields
    change_list_template = "admin/analytics/tracking/change_list.html"

    @admin.display(description="Curve")
    def curve(self, obj: Tracking):
        readings = list(
            Snapshot.objects.filter(
                publication_id=obj.publication_id,
                captured_at__gte=obj.published_at,
                captured_at__lt=obj.published_at + selectors.LIFE,
            ).order_by("captured_at")
        )
        series = {name: [(r.captured_at, getattr(r, name)) for r in readings] for name in CURVE}
        return charts.line_chart(series, title=f"Figures of publication #{obj.publication_id} over time")

    def get_urls(self):
        from django.urls import path

        view = self.admin_site.admin_view(self.week_view)
        return [path("week/", view, name="analytics_tracking_week"), *super().get_urls()]

    def week_view(self, request: HttpRequest) -> HttpResponse:
        """The week's top posts by engagement (likes, comments, shares, saves) of the user's teams."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        now = timezone.now()
        teams = None if request.user.is_superuser else team_ids(request, self.view_roles)
        top = selectors.top_posts_this_week(team_ids=teams, now=now)
        bars = [(f"{t.get_platform_display()}: {t.publication.post.content[:60]}", t.engagement) for t in top]
        context = {
            **self.admin_site.each_context(request),
            "title": "The week's top posts",
            "opts": self.model._meta,
            "chart": charts.bar_chart(bars, title="Engagement of the week's top posts"),
            "top": top,
            "since": now - timedelta(days=7),
        }
        return TemplateResponse(request, "admin/analytics/tracking/week.html", context)


@admin.register(ChannelSync)
class ChannelSyncAdmin(ReadOnly):
    list_display = ["connection", "status_detail", "waits_until", "last_synced_at", "budget_used", "calls"]
    list_select_related = ["connection"]
    fields = [
        "followers_chart",
        "connection",
        "status_detail",
        "waits_until",
        "last_synced_at",
        "next_account_sync_at",
        "claimed_until",
        "budget_window_start",
        "budget_used",
        "calls",
        "backfill_detail",
        "backfill_since",
        "backfill_done_at",
        "backfill_found",
    ]
    readonly_fields = fields

    @admin.display(description="Followers")
    def followers_chart(self, obj: ChannelSync):
        days = ChannelDay.objects.filter(connection_id=obj.connection_id).order_by("day")[:366]
        series = {"followers": [(day.captured_at, day.followers) for day in days]}
        return charts.line_chart(series, title=f"Followers of {obj.connection}", empty="No day read yet.")


@admin.register(ExternalPost)
class ExternalPostAdmin(ReadOnly):
    """A channel's posts made outside planrrr (its backfill), read like planrrr's own: not published by planrrr."""

    list_display = ["external_id", "platform", "connection", "published_at", "captured_at", "next_sync_at", "views"]
    list_display += ["likes", "comments", "shares", "error"]
    list_filter = ["platform"]
    list_select_related = ["connection"]
    search_fields = ["external_id", "text"]
    date_hierarchy = "published_at"
    readonly_fields = [field.name for field in ExternalPost._meta.fields]
