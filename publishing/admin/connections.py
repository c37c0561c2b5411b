"""The connections admin, with what publishing knows after a reconnect (the connections app
imports nothing of publishing, so publishing extends its admin)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from connections.admin import ConnectionAdmin
from connections.models import Connection
from publishing import services


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
