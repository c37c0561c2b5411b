"""The admin's first page says what to do next to a user who cannot do anything yet: no team
exists, the user is in none, or a team they manage has no connected account."""

from __future__ import annotations

from dataclasses import dataclass

from django import template
from django.db.models import Count
from django.urls import reverse

from planrrr.models import Membership, Team

register = template.Library()


@dataclass(frozen=True)
class Step:
    text: str
    command: str = ""
    link: str = ""
    link_text: str = ""


def first_steps(user) -> list[Step]:
    if not user.is_authenticated:
        return []
    managed = Membership.objects.filter(user=user, role__in=Membership.APPROVERS).values("team")
    teams = Team.objects.filter(pk__in=managed) if not user.is_superuser else Team.objects.all()
    if not Membership.objects.filter(user=user).exists() and not (user.is_superuser and teams.exists()):
        if not user.is_superuser:
            return [
                Step(
                    "You are not a member of any team yet, so there is nothing to see here. Ask whoever runs "
                    "planrrr (a superuser) to add you to your team, with your role (Teams › the team › Memberships)."
                )
            ]
        return [
            Step(
                "There is no team yet. Every account, post and API key belongs to a team: create the first one "
                "with you as its owner, on the server:",
                command=f'python manage.py team_create "Acme" --owner {user.get_username()} --timezone Europe/Paris',
                link=reverse("admin:planrrr_team_add"),
                link_text="or add it here (then add yourself under Memberships as OWNER)",
            )
        ]
    return [
        Step(
            f"{team.name} has no connected account yet: nothing can be published for it.",
            link=reverse("connections:connect", args=[team.pk]),
            link_text="Connect an account",
        )
        for team in teams.annotate(accounts=Count("connections")).filter(accounts=0).order_by("name")[:5]
    ]


@register.inclusion_tag("planrrr/first_steps.html", takes_context=True)
def planrrr_first_steps(context) -> dict:
    return {"steps": first_steps(context["request"].user)}
