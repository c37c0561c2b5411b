from django import forms
from django.contrib import admin

from connections.models import Connection


class ConnectionForm(forms.ModelForm):
    """The token is write-only: never rendered back, kept unchanged when left blank."""

    access_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Paste a new token to replace the stored one; leave blank to keep it. Stored encrypted.",
    )

    class Meta:
        model = Connection
        fields = ["team", "platform", "account_id", "name", "access_token", "status", "status_detail"]

    def clean_access_token(self) -> str:
        token = self.cleaned_data["access_token"]
        if not token and not self.instance.pk:
            raise forms.ValidationError("A new connection needs its access token.")
        return token or self.instance.access_token


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    form = ConnectionForm
    list_display = ["__str__", "team", "platform", "account_id", "status", "masked_token", "rate_limited_until"]
    list_filter = ["platform", "status", "team"]
    search_fields = ["name", "account_id", "team__name"]
    readonly_fields = ["masked_token", "rate_limited_until", "created_at", "updated_at"]

    @admin.display(description="access token")
    def masked_token(self, obj: Connection) -> str:
        return obj.masked_token
