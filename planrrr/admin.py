from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from planrrr.models import Membership, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "timezone", "created_at", "connect"]
    search_fields = ["name"]
    inlines = [MembershipInline]
    readonly_fields = ["connect"]

    @admin.display(description="accounts")
    def connect(self, obj: Team) -> str:
        # By URL name: the core imports nothing from the connections app.
        if not obj.pk:
            return "-"
        return format_html('<a href="{}">Connect an account</a>', reverse("connections:connect", args=[obj.pk]))


# "View site": planrrr has no public site of its own; its HTTP API's documentation is the page
# an operator (or a team's developer) looks for.
admin.site.site_url = "/api/v1/docs"
