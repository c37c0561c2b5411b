from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from api import services
from api.models import ApiKey
from planrrr.teamadmin import MANAGERS, TeamScopedAdmin


@admin.register(ApiKey)
class ApiKeyAdmin(TeamScopedAdmin):
    """Keys are made here and shown once; only their hash is kept. Revoke, don't edit. A team's
    ADMINs and OWNERs see and manage its keys; its MEMBERs do not see them."""

    view_roles = manage_roles = MANAGERS

    list_display = ["name", "team", "role", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["role", "team", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None:
            return form

        class KeyForm(form):
            def clean(self):
                data = super().clean()
                try:
                    services.api_key_may_create(team=data.get("team"), role=data.get("role"), user=request.user)
                except PermissionDenied as err:
                    raise ValidationError({"role": str(err)}) from err
                return data

        return KeyForm

    def get_readonly_fields(self, request, obj=None):
        # A key's team and role are what it was given to do: make a new key instead.
        return [*self.readonly_fields, "team", "role"] if obj else self.readonly_fields

    def save_model(self, request, obj: ApiKey, form, change: bool) -> None:
        if change:
            obj.save(update_fields=["name"])
            return
        created, raw = services.api_key_create(team=obj.team, name=obj.name, role=obj.role, created_by=request.user)
        obj.pk, obj.prefix, obj.key_hash = created.pk, created.prefix, created.key_hash
        request._api_key_shown_once = raw  # the only copy, for response_add's page

    def response_add(self, request, obj, post_url_continue=None):
        return TemplateResponse(
            request,
            "admin/api/apikey/created.html",
            {
                **self.admin_site.each_context(request),
                "title": "API key created",
                "api_key": obj,
                "raw_key": request._api_key_shown_once,
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        done = sum(services.api_key_revoke(api_key=key) for key in queryset)
        self.message_user(request, f"Revoked {done} of {queryset.count()} keys.", messages.SUCCESS)
