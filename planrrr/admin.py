from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth.models import Group, User
from django.db.models import BooleanField, CharField, Exists, OuterRef, QuerySet, Subquery, Value
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django_rq import admin as rq_admin
from django_rq.models import Dashboard

from planrrr.forms import TeamForm
from planrrr.models import Membership, Team
from planrrr.teamadmin import (
    MANAGERS,
    OperatorsOnlyAdmin,
    TeamScopedAdmin,
    TeamScopedInline,
    operators_only,
)


class MembershipInline(TeamScopedInline, admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    # Who belongs to a team is the operators' business: choosing a user would show the
    # installation's every user. Members see their team's members, read-only.
    manage_roles = ()


@admin.register(Team)
class TeamAdmin(TeamScopedAdmin):
    form = TeamForm
    team_path = "pk"
    manage_roles = MANAGERS  # ADMIN and OWNER change the team's settings
    list_display = ["name", "timezone", "requires_approval", "your_role", "created_at", "connect"]
    search_fields = ["name"]
    ordering = ["name"]
    inlines = [MembershipInline]
    readonly_fields = ["connect"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        # What the list says per team: the user's role there, and whether they may connect.
        role = Membership.objects.filter(team=OuterRef("pk"), user_id=request.user.pk).values("role")[:1]
        queryset = super().get_queryset(request).annotate(user_role=Subquery(role, output_field=CharField()))
        if request.user.is_superuser:
            return queryset.annotate(may_connect=Value(True, output_field=BooleanField()))
        may = Membership.objects.filter(team=OuterRef("pk"), user_id=request.user.pk, role__in=MANAGERS)
        return queryset.annotate(may_connect=Exists(may))

    # Teams are made and removed by the operators, who then give people their memberships.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    @admin.display(description="your role")
    def your_role(self, obj: Team) -> str:
        return getattr(obj, "user_role", None) or "-"

    @admin.display(description="accounts")
    def connect(self, obj: Team) -> str:
        # By URL name: the core imports nothing from the connections app.
        if not obj.pk or not getattr(obj, "may_connect", False):
            return "-"
        return format_html('<a href="{}">Connect an account</a>', reverse("connections:connect", args=[obj.pk]))


# Installation-wide admins: the operators' only, whatever permissions a staff user is given.
# Users above all: a user list is every team's people (and their permissions to change).
class UserAdmin(OperatorsOnlyAdmin, auth_admin.UserAdmin):
    pass


class GroupAdmin(OperatorsOnlyAdmin, auth_admin.GroupAdmin):
    pass


class QueueAdmin(OperatorsOnlyAdmin, rq_admin.QueueAdmin):
    """django-rq's dashboard lists every team's jobs, their arguments and tracebacks."""

    def get_urls(self):
        urls = super().get_urls()
        for url in urls:
            url.callback = operators_only(url.callback)
        return urls


for model, model_admin in ((User, UserAdmin), (Group, GroupAdmin), (Dashboard, QueueAdmin)):
    if admin.site.is_registered(model):  # django-rq's only with RQ_SHOW_ADMIN_LINK
        admin.site.unregister(model)
        admin.site.register(model, model_admin)

# "View site": planrrr has no public site of its own; its HTTP API's documentation is the page
# an operator (or a team's developer) looks for.
admin.site.site_url = "/api/v1/docs"
# The first page tells a user who cannot do anything yet what to do (planrrr.templatetags.planrrr_admin).
admin.site.index_template = "planrrr/admin_index.html"
