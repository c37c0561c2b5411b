"""The connections admin, with what publishing knows after a reconnect (the connections app
imports nothing of publishing, so publishing extends its admin)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from connections.admin import ConnectionAdmin
from connections.models import Connection
from planrrr.teamadmin import TeamScopedInline
from publishing import services
from publishing.models import PostingSlot

# The queue's buttons on a channel's page: action -> (label, service).
QUEUE_ACTIONS = {
    "pause": ("Pause the queue", services.channel_queue_pause),
    "resume": ("Resume the queue", services.channel_queue_resume),
    "shuffle": ("Shuffle the queue", services.channel_queue_shuffle),
}


class PostingSlotInline(TeamScopedInline, admin.TabularInline):
    """The channel's weekly slots (wall-clock times in the team's zone). Saved through
    services.channel_slots_set, which gives the queue its new slots."""

    model = PostingSlot
    extra = 1
    fields = ["weekday", "time"]
    verbose_name = "posting slot (local time, team's zone)"


class ReconnectConnectionAdmin(ConnectionAdmin):
    """The connections admin, plus what publishing knows after a reconnect: how many
    publications failed only because the token had expired, and a way to re-queue them (the
    connections app imports nothing of publishing, so publishing extends its admin); and the
    channel's posting slots and queue (pause, resume, shuffle)."""

    inlines = [PostingSlotInline]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "queue"]

    def get_urls(self):
        from django.urls import path

        view = self.admin_site.admin_view(self.requeue_view)
        act = self.admin_site.admin_view(self.queue_view)
        return [
            path("<int:pk>/requeue/", view, name="connections_connection_requeue"),
            path("<int:pk>/queue/<slug:action>/", act, name="connections_connection_queue"),
            *super().get_urls(),
        ]

    def save_formset(self, request, form, formset, change):
        if formset.model is not PostingSlot:
            return super().save_formset(request, form, formset, change)
        slots = [
            {"weekday": int(f.cleaned_data["weekday"]), "time": f.cleaned_data["time"]}
            for f in formset.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE") and f.cleaned_data.get("time") is not None
        ]
        # What the admin's history says of the formset (construct_change_message reads these).
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        try:
            services.channel_slots_set(channel=form.instance, slots=slots)
        except ValidationError as err:
            self.message_user(request, f"Slots not saved: {' '.join(err.messages)}", messages.ERROR)
        return None

    @admin.display(description="queue")
    def queue(self, obj: Connection) -> str:
        """The queued posts in order with their times (team's zone), the next free slots, and the
        queue's buttons (they post the page's form to the queue's own URL)."""
        if obj is None or obj.pk is None:
            return "-"
        view = services.channel_queue(channel=obj, free=5)
        zone = obj.team.zone
        rows = format_html_join(
            "",
            "<li>{}. <a href='{}'>Post #{}</a> {} — {}</li>",
            (
                (
                    t.queue_position,
                    reverse("admin:publishing_post_change", args=[t.post_id]),
                    t.post_id,
                    t.post.content[:60],
                    t.scheduled_at.astimezone(zone).strftime("%a %Y-%m-%d %H:%M") if t.scheduled_at else "held",
                )
                for t in view.targets
            ),
        )
        free = ", ".join(at.astimezone(zone).strftime("%a %d %b %H:%M") for at in view.free) or "none (add slots)"
        buttons = format_html_join(
            " ",
            "<button type='submit' class='button' formaction='{}' formnovalidate>{}</button>",
            (
                (reverse("admin:connections_connection_queue", args=[obj.pk, action]), label)
                for action, (label, _) in QUEUE_ACTIONS.items()
                if (action != "pause" or not obj.queue_paused) and (action != "resume" or obj.queue_paused)
            ),
        )
        state = "paused: nothing of it is published" if obj.queue_paused else "running"
        return format_html(
            "<p>{} ({}; times in {})</p><ol style='margin-left:1em'>{}</ol><p>Next free slots: {}</p><p>{}</p>",
            f"{len(view.targets)} queued post(s)",
            state,
            obj.team.timezone,
            rows or format_html("<li>{}</li>", "empty"),
            free,
            buttons,
        )

    def queue_view(self, request: HttpRequest, pk: int, action: str):
        connection = get_object_or_404(self.get_queryset(request), pk=pk)
        if request.method != "POST" or action not in QUEUE_ACTIONS:
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request, connection):
            raise PermissionDenied
        label, move = QUEUE_ACTIONS[action]
        move(channel=connection)
        self.message_user(request, f"{connection}: {label.lower()} done.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:connections_connection_change", args=[connection.pk]))

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
