from django import forms

from planrrr import timezones
from planrrr.models import Team


class TeamForm(forms.ModelForm):
    """The team's time zone is picked from the IANA list (planrrr.timezones), not typed."""

    class Meta:
        model = Team
        fields = ["name", "timezone", "requires_approval"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields.get("timezone")
        if field is None:
            return  # shown read-only (a member's view of the team)
        self.fields["timezone"] = forms.ChoiceField(
            choices=timezones.choices(current=self.instance.timezone if self.instance.pk else ""),
            initial=field.initial or "UTC",
            label=field.label,
            help_text=field.help_text,
        )
