import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from planrrr.models import Team
from planrrr.teamadmin import MANAGERS, TeamScopedAdmin, TeamScopedInline, team_ids
from webhooks import services
from webhooks.models import EVENT_TYPES, Delivery, DeliveryAttempt, Endpoint, Event


def _changelist(model: str, **filters) -> str:
    query = "&".join(f"{key}={value}" for key, value in filters.items())
    return reverse(f"admin:webhooks_{model}_changelist") + (f"?{query}" if query else "")


def _body(event: Event) -> str:
    """The event's body, indented; a stored payload that is not JSON is said so, not a 500."""
    try:
        return format_html("<pre>{}</pre>", json.dumps(json.loads(event.body), indent=2))
    except ValueError:
        return f"(not valid JSON, {len(event.body)} bytes: this event cannot be sent)"


def _endpoints() -> QuerySet[Endpoint]:
    """Endpoints to list by URL: their secrets are not read (one that cannot be decrypted breaks nothing)."""
    return Endpoint.objects.defer("secret", "previous_secret")


class EndpointFilter(admin.RelatedOnlyFieldListFilter):
    """The endpoints of the deliveries listed (so only the user's teams'), named by URL."""

    def field_choices(self, field, request: HttpRequest, model_admin) -> list[tuple[int, str]]:
        ordering = self.field_admin_ordering(field, request, model_admin)
        shown = _endpoints().filter(pk__in=model_admin.get_queryset(request).values("endpoint_id"))
        return [(endpoint.pk, str(endpoint)) for endpoint in shown.order_by(*ordering)]


class EndpointForm(forms.ModelForm):
    """Validated by Endpoint.clean, like every other way in (the URL must be public)."""

    events = forms.MultipleChoiceField(
        choices=[(name, f"{name}: {meaning}") for name, meaning in EVENT_TYPES.items()],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None chosen means all events, including those added later.",
    )

    class Meta:
        model = Endpoint
        fields = ["team", "url", "description", "events"]


@admin.register(Endpoint)
class EndpointAdmin(TeamScopedAdmin):
    # A team's ADMINs and OWNERs see and manage its endpoints (a URL may carry a receiver's token).
    view_roles = manage_roles = MANAGERS
    form = EndpointForm
    list_display = ["url", "team", "description", "event_list", "active", "failing_since", "deliveries"]
    list_filter = ["active", "team"]
    search_fields = ["url", "description", "team__name"]
    list_select_related = ["team"]
    actions = ["send_test_event", "rotate_secret", "enable", "disable"]
    change_readonly = [
        "masked_secret",
        "previous_secret_expires_at",
        "active",
        "disabled_reason",
        "failing_since",
        "deliveries",
        "created_at",
        "updated_at",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Endpoint]:
        # Decrypted only where shown (masked): a secret that cannot be decrypted breaks no page.
        return super().get_queryset(request).defer("secret", "previous_secret")

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return self.change_readonly if obj is not None else []

    def get_deleted_objects(self, objs, request: HttpRequest):
        # An endpoint's delivery log goes with it: who may delete the endpoint needs no
        # permission to delete deliveries one by one (which the log does not offer).
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, perms_needed - {Delivery._meta.verbose_name}, protected

    def save_model(self, request: HttpRequest, obj: Endpoint, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            # The one time the secret is shown in clear; afterwards only masked.
            messages.warning(
                request,
                format_html(
                    "Signing secret of this endpoint: <code>{}</code> Copy it now into the receiver's "
                    "configuration: it will not be shown again.",
                    obj.secret,
                ),
            )

    @admin.display(description="events")
    def event_list(self, obj: Endpoint) -> str:
        return ", ".join(obj.events) or "all"

    @admin.display(description="secret")
    def masked_secret(self, obj: Endpoint) -> str:
        return obj.masked_secret

    @admin.display(description="deliveries")
    def deliveries(self, obj: Endpoint) -> str:
        return format_html('<a href="{}">deliveries</a>', _changelist("delivery", endpoint__id__exact=obj.id))

    @admin.action(description="Send a test event", permissions=["change"])
    def send_test_event(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        for endpoint in queryset:
            delivery = services.endpoint_send_test_event(endpoint=endpoint)
            url = reverse("admin:webhooks_delivery_change", args=[delivery.id])
            messages.info(request, format_html('Test event sent to {}: <a href="{}">its delivery</a>.', endpoint, url))

    @admin.action(description="Rotate the signing secret", permissions=["change"])
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        for endpoint in queryset:
            secret = services.endpoint_rotate_secret(endpoint=endpoint)
            expires = endpoint.previous_secret_expires_at
            overlap = (
                f"Until {expires:%Y-%m-%d %H:%M} UTC deliveries are signed with both the old and the new secret."
                if expires
                else "The old secret could not be read: only the new one signs, from now on."
            )
            messages.warning(
                request,
                format_html(
                    "New signing secret of {}: <code>{}</code> Copy it now: it will not be shown again. {}",
                    endpoint,
                    secret,
                    overlap,
                ),
            )

    @admin.action(description="Enable (and forget past failures)", permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        for endpoint in queryset:
            services.endpoint_enable(endpoint=endpoint)
        messages.info(request, f"{len(queryset)} endpoint(s) enabled. Redeliver what failed meanwhile if needed.")

    @admin.action(description="Disable", permissions=["change"])
    def disable(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        reason = f"Disabled by {request.user} on {timezone.now():%Y-%m-%d %H:%M} UTC."
        for endpoint in queryset:
            services.endpoint_disable(endpoint=endpoint, reason=reason)
        messages.info(request, f"{len(queryset)} endpoint(s) disabled.")


class DeliveryAttemptInline(TeamScopedInline, admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["number", "created_at", "succeeded", "status_code", "latency_ms", "error", "response_excerpt"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class RedeliverFailedForm(forms.Form):
    since = forms.DateTimeField(help_text="Failed deliveries created at or after this time (UTC).")
    endpoint = forms.ModelChoiceField(_endpoints(), required=False, help_text="Only this endpoint.")
    team = forms.ModelChoiceField(Team.objects.all(), required=False, help_text="Only this team's endpoints.")

    def __init__(self, *args, teams: list[int] | None = None, **kwargs):
        """``teams``: the teams whose endpoints may be chosen (None: every team)."""
        super().__init__(*args, **kwargs)
        if teams is not None:
            self.fields["endpoint"].queryset = _endpoints().filter(team_id__in=teams)
            self.fields["team"].queryset = Team.objects.filter(pk__in=teams)


@admin.register(Delivery)
class DeliveryAdmin(TeamScopedAdmin):
    team_path = "endpoint__team"
    view_roles = manage_roles = MANAGERS
    list_display = [
        "id",
        "event_type",
        "endpoint_link",
        "team",
        "status",
        "attempt_count",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = ["status", "event__type", ("endpoint", EndpointFilter), "endpoint__team", "created_at"]
    search_fields = ["event__id", "endpoint__url"]
    date_hierarchy = "created_at"
    list_select_related = ["event", "endpoint", "endpoint__team"]
    fields = [
        "event_link",
        "endpoint_link",
        "status",
        "attempt_count",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "job_id",
        "redelivery_of",
        "created_at",
        "updated_at",
        "body",
    ]
    readonly_fields = fields
    inlines = [DeliveryAttemptInline]
    actions = ["redeliver"]
    change_list_template = "admin/webhooks/delivery/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Delivery]:
        # The secrets are not needed here, and one that cannot be decrypted must not break the page.
        return super().get_queryset(request).defer("event__payload", "endpoint__secret", "endpoint__previous_secret")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # the log is read-only; redelivery makes a new delivery

    def has_redeliver_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm("webhooks.change_delivery") and self.in_teams(request, self.manage_roles, obj)

    @admin.display(description="event", ordering="event__type")
    def event_type(self, obj: Delivery) -> str:
        return obj.event.type

    @admin.display(description="team", ordering="endpoint__team__name")
    def team(self, obj: Delivery) -> Team:
        return obj.endpoint.team

    @admin.display(description="event")
    def event_link(self, obj: Delivery) -> str:
        # quote(): the admin escapes "_" in primary keys, and event ids are "msg_…".
        url = reverse("admin:webhooks_event_change", args=[quote(obj.event_id)])
        return format_html('<a href="{}">{} {}</a>', url, obj.event.type, obj.event_id)

    @admin.display(description="endpoint", ordering="endpoint__url")
    def endpoint_link(self, obj: Delivery) -> str:
        url = reverse("admin:webhooks_endpoint_change", args=[obj.endpoint_id])
        return format_html('<a href="{}">{}</a>', url, obj.endpoint.url)

    @admin.display(description="body sent (webhook-id = event id)")
    def body(self, obj: Delivery) -> str:
        return _body(obj.event)

    @admin.action(description="Redeliver", permissions=["redeliver"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        again = [services.delivery_redeliver(delivery=d) for d in queryset]
        messages.info(request, f"{len(again)} delivery(ies) redelivered as new deliveries.")

    def get_urls(self):
        view = self.admin_site.admin_view(self.redeliver_failed_view)
        return [path("redeliver-failed/", view, name="webhooks_delivery_redeliver_failed"), *super().get_urls()]

    def redeliver_failed_view(self, request: HttpRequest):
        if not self.has_redeliver_permission(request):
            raise PermissionDenied
        # Only the teams the user manages: with no team chosen, all of those, never another's.
        teams = None if request.user.is_superuser else team_ids(request, self.manage_roles)
        form = RedeliverFailedForm(request.POST or None, teams=teams)
        if request.method == "POST" and form.is_valid():
            again = services.delivery_redeliver_failed(**form.cleaned_data, teams=teams)
            since = form.cleaned_data["since"]
            messages.info(request, f"{len(again)} failed delivery(ies) since {since:%Y-%m-%d %H:%M} redelivered.")
            return HttpResponseRedirect(_changelist("delivery", status__exact="PENDING"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Redeliver failed deliveries",
            "form": form,
        }
        return TemplateResponse(request, "admin/webhooks/delivery/redeliver_failed.html", context)


@admin.register(Event)
class EventAdmin(TeamScopedAdmin):
    view_roles = manage_roles = MANAGERS
    list_display = ["id", "type", "team", "created_at", "deliveries"]
    list_filter = ["type", "team"]
    search_fields = ["id"]
    date_hierarchy = "created_at"
    list_select_related = ["team"]
    fields = ["id", "type", "team", "created_at", "body", "deliveries"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="body (signed and sent as is)")
    def body(self, obj: Event) -> str:
        return _body(obj)

    @admin.display(description="deliveries")
    def deliveries(self, obj: Event) -> str:
        return format_html('<a href="{}">deliveries</a>', _changelist("delivery", event__id__exact=obj.id))
