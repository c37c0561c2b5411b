"""The workspace's frame: the way in (log in, pick a team) and the person's own preferences.
Each area (calendar, composer, media, approvals, a post's page) has its own module."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse

from planrrr import timezones
from workspace.access import my_teams, team_view
from workspace.models import Preference


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """One team: straight to it. Several: pick one. None: say how to get in."""
    teams = list(my_teams(request.user)[:200])
    if len(teams) == 1:
        return redirect("workspace:team", team_id=teams[0].pk)
    return render(request, "workspace/home.html", {"teams": teams})


@team_view
def team_home(request: HttpRequest) -> HttpResponse:
    """A team's workspace opens on its calendar once there is one; its preferences until then."""
    try:
        return redirect(reverse("workspace:calendar", kwargs={"team_id": request.workspace.team.pk}))
    except NoReverseMatch:  # no calendar installed
        return redirect("workspace:preferences", team_id=request.workspace.team.pk)


class PreferenceForm(forms.ModelForm):
    timezone = forms.ChoiceField(
        required=False,
        label="Your time zone",
        help_text="Every time in the workspace is shown in this zone and says so. Leave it on "
        "“The team's zone” to see each team's own.",
    )

    class Meta:
        model = Preference
        fields = ["timezone"]

    def __init__(self, *args, team_zone: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = [
            ("", f"The team's zone ({team_zone})"),
            *timezones.choices(current=self.instance.timezone),
        ]


@team_view
def preferences(request: HttpRequest) -> HttpResponse:
    preference, _ = Preference.objects.get_or_create(user=request.user)
    form = PreferenceForm(request.POST or None, instance=preference, team_zone=request.workspace.team.timezone)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(
            request, "Saved: times are now shown in " + (form.instance.timezone or "the team's zone") + "."
        )
        return redirect("workspace:preferences", team_id=request.workspace.team.pk)
    return render(request, "workspace/preferences.html", {"form": form})
