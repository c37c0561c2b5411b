from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone

from connections.models import Connection
from connections.platforms.instance import base_url_problem, normalized_base_url
from connections.services import connection_expiry_note, unrenewable_before_q
from planrrr.teamadmin import MANAGERS, TeamScopedAdmin
from planrrr.timezones import labelled


class ConnectionForm(forms.ModelForm):
    """The tokens are write-only: never rendered back, kept unchanged when left blank. Pasting a
    token by hand stays possible next to the connect flow."""

    access_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Paste a new token to replace the stored one; leave blank to keep it. Stored encrypted.",
    )

    refresh_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Optional: paste a refresh token to let planrrr renew the access token; blank keeps the stored one.",
    )

    class Meta:
        model = Connection
        fields = [
            "team",
            "platform",
            "account_id",
            "name",
            "access_token",
            "refresh_token",
            "expires_at",
            "refresh_expires_at",
            "scopes",
            "base_url",
            "status",
            "status_detail",
        ]

    def clean_access_token(self) -> str:
        token = self.cleaned_data["access_token"]
        if not token and not self.instance.pk:
            raise forms.ValidationError("A new connection needs its access token.")
        return token or self.instance.access_token

    def clean_refresh_token(self) -> str:
        return self.cleaned_data["refresh_token"] or self.instance.refresh_token

    def clean_base_url(self) -> str:
        # A server a token is sent to: checked like the connect forms check it.
        value = normalized_base_url(self.cleaned_data["base_url"])
        if value and (problem := base_url_problem(value)):
            raise forms.ValidationError(problem)
        return value


@admin.register(Connection)
class ConnectionAdmin(TeamScopedAdmin):
    # Every member sees the team's accounts (where posts go); ADMIN and OWNER manage them.
    manage_roles = MANAGERS
    form = ConnectionForm
    change_list_template = "admin/connections/connection/change_list.html"
    list_display = [
        "__str__",
        "team",
        "platform",
        "account_id",
        "status",
        "masked_token",
        "expires_local",
        "expiry",
        "slowed_until",
    ]
    list_filter = ["platform", "status", "team"]
    list_select_related = ["team"]
    search_fields = ["name", "account_id", "team__name"]
    readonly_fields = [
        "masked_token",
        "expiry",
        "refreshed_at",
        "refresh_failures",
        "next_refresh_at",
        "refresh_error",
        "expiry_warned_at",
        "slowed_until",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="access token")
    def masked_token(self, obj: Connection) -> str:
        return obj.masked_token

    @admin.display(description="token expires", ordering="expires_at")
    def expires_local(self, obj: Connection) -> str:
        return labelled(obj.expires_at, obj.team.zone) if obj.expires_at else "-"

    @admin.display(description="rate limited until", ordering="rate_limited_until")
    def slowed_until(self, obj: Connection) -> str:
        """Only a wait still running: a past one says nothing about the account now."""
        if obj.rate_limited_until is None or obj.rate_limited_until <= timezone.now():
            return "-"
        return labelled(obj.rate_limited_until, obj.team.zone)

    @admin.display(description="renewal")
    def expiry(self, obj: Connection) -> str:
        """Tokens that cannot be renewed and expire soon, or a renewal that keeps failing."""
        return connection_expiry_note(obj) or "-"

    def changelist_view(self, request, extra_context=None):
        # The warning people must not miss: accounts that will stop publishing unless reconnected.
        horizon = timezone.now() + timedelta(days=settings.CONNECTION_EXPIRY_WARNING_DAYS)
        expiring = (
            self.get_queryset(request).filter(unrenewable_before_q(horizon), status=Connection.Status.ACTIVE).count()
        )
        if expiring:
            messages.warning(
                request,
                f"{expiring} connection(s) expire within {settings.CONNECTION_EXPIRY_WARNING_DAYS} days and cannot "
                "be renewed automatically: reconnect them (see the renewal column).",
            )
        # Who may add a connection (ADMIN, OWNER) may connect one.
        connect_url = reverse("connections:connect_teams") if self.has_add_permission(request) else ""
        extra_context = {**(extra_context or {}), "connect_url": connect_url}
        return super().changelist_view(request, extra_context=extra_context)
