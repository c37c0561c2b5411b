"""The connect flow, started from the admin: team page -> start -> the platform's consent page ->
callback -> (pick the pages or authors) -> connections stored, back to the admin.

The views only check, call and render: the state's rules live in ``connections.connect``, the
platforms' in ``connections.oauth``, the writes in ``connections.services``.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from connections.connect import (
    Refused,
    may_connect,
    picks_offer,
    picks_read,
    state_consume,
    state_instance,
    state_issue,
)
from connections.oauth import OAuthClient, OAuthFailure
from connections.platforms import connectable, connected_with, declaration, get_client
from connections.platforms.instance import base_url_problem, normalized_base_url
from connections.services import connection_connect
from planrrr.models import Team
from planrrr.teamadmin import MANAGERS, teams_for
from planrrr.text import safe_text

logger = logging.getLogger("planrrr.connections")

LOGIN_URL = "admin:login"


def _client(slug: str) -> OAuthClient | None:
    """The client whose connect flow this URL names; None for a platform without one of its own
    (Instagram's accounts are connected with Facebook's)."""
    platform = slug.upper()
    return get_client(platform) if platform in {declared.name for declared in connectable()} else None


def redirect_uri(request: HttpRequest, client: OAuthClient) -> str:
    """The callback URL registered with the platform's app (identical at start and exchange)."""
    path = reverse("connections:connect_callback", args=[client.platform.lower()])
    base = settings.OAUTH_REDIRECT_BASE_URL.rstrip("/")
    return f"{base}{path}" if base else request.build_absolute_uri(path)


def refused(request: HttpRequest, message: str, *, status: int = 400, team: Team | None = None) -> HttpResponse:
    return render(
        request,
        "connections/refused.html",
        {"title": "Could not connect the account", "message": message, "team": team},
        status=status,
    )


def _team(request: HttpRequest, team_id: int) -> Team:
    """The team, if the user belongs to it (or is a superuser): another team is a 404, as in
    the admin, so that its existence is not told; its members who may not connect get a 403."""
    return get_object_or_404(teams_for(request.user), pk=team_id)


@login_required(login_url=LOGIN_URL)
@require_GET
def connect_teams(request: HttpRequest) -> HttpResponse:
    """The teams this user may connect accounts for."""
    teams = list(teams_for(request.user, MANAGERS).order_by("name"))
    return render(
        request,
        "connections/teams.html",
        {"title": "Connect an account", "teams": teams, "no_team_exists": not Team.objects.exists()},
    )


@login_required(login_url=LOGIN_URL)
@require_GET
def connect_team(request: HttpRequest, team_id: int) -> HttpResponse:
    """A button per platform, or what to configure."""
    team = _team(request, team_id)
    if not may_connect(request.user, team):
        return refused(request, "Only the team's admins and owners may connect accounts for it.", status=403)
    platforms = [
        {
            "slug": client.platform.lower(),
            "label": " and ".join(declared.label for declared in connected_with(client.platform)),
            "configured": client.configured,
            "not_configured": client.not_configured_message,
            "form": client.connect_form,
            # The server an app-password form offers (Bluesky: the PDS a connection uses by default).
            "server": client.api_url if client.connect_form == "app_password" else "",
        }
        for client in (get_client(declared.name) for declared in connectable())
    ]
    return render(
        request,
        "connections/connect.html",
        {
            "title": f"Connect an account to {team}",
            "team": team,
            "platforms": platforms,
        },
    )


@login_required(login_url=LOGIN_URL)
@require_POST
def connect_start(request: HttpRequest, team_id: int, platform: str) -> HttpResponse:
    team = _team(request, team_id)
    client = _client(platform)
    if client is None:
        return refused(request, f"planrrr cannot connect {platform!r} accounts.", status=404, team=team)
    if not may_connect(request.user, team):
        return refused(request, "Only the team's admins and owners may connect accounts for it.", status=403)
    if not client.configured:
        return refused(request, f"{client.label} is {client.not_configured_message}.", team=team)
    if client.connect_form == "app_password":
        return _connect_with_app_password(request, team, client)
    instance = ""
    if client.connect_form == "instance":
        # Mastodon: OAuth on the server the person names, with planrrr's app registered there.
        instance = normalized_base_url(request.POST.get("instance", ""))
        if problem := base_url_problem(instance):
            return refused(request, problem, team=team)
        client = client.for_instance(instance)
    state, verifier = state_issue(request, team=team, platform=client.platform, instance=instance)
    try:
        url = client.authorization_url(redirect_uri=redirect_uri(request, client), state=state, code_verifier=verifier)
    except OAuthFailure as err:
        return refused(request, err.message, status=502, team=team)
    return HttpResponseRedirect(url)


def _connect_with_app_password(request: HttpRequest, team: Team, client) -> HttpResponse:
    """Bluesky: a session created once from the handle and app password (no redirect)."""
    handle, password = request.POST.get("handle", "").strip(), request.POST.get("app_password", "")
    server = normalized_base_url(request.POST.get("pds_url", "") or client.api_url)
    if not handle or not password:
        return refused(request, "Give the Bluesky handle and an app password (Settings > App passwords).", team=team)
    if problem := base_url_problem(server):
        return refused(request, problem, team=team)
    try:
        choice = client.create_session(base_url=server, identifier=handle, password=password)
    except OAuthFailure as err:
        logger.warning("Connecting a Bluesky account for team %s failed: %s", team.pk, err.message)
        return refused(request, err.message, status=502, team=team)
    return _connected(request, team, [connection_connect(team=team, choice=choice)])


@login_required(login_url=LOGIN_URL)
@require_GET
def connect_callback(request: HttpRequest, platform: str) -> HttpResponse:
    client = _client(platform)
    if client is None:
        return refused(request, f"planrrr cannot connect {platform!r} accounts.", status=404)
    instance = state_instance(request.GET.get("state", ""))
    try:
        team, verifier = state_consume(request, state=request.GET.get("state", ""), platform=client.platform)
    except Refused as err:
        return refused(request, err.message)
    if client.connect_form == "instance":
        client = client.for_instance(instance)
    if request.GET.get("error"):
        # RFC 6749 section 4.1.2.1: the person declined, or the platform refused the request.
        words = safe_text(request.GET.get("error_description") or request.GET["error"], limit=300)
        return refused(request, f"{client.label} did not grant access: {words}", team=team)
    code = request.GET.get("code", "")
    if not code:
        return refused(request, f"{client.label} sent no authorization code: start again.", team=team)
    try:
        grant = client.exchange(code=code, redirect_uri=redirect_uri(request, client), code_verifier=verifier)
        choices = client.accounts(grant)
    except OAuthFailure as err:
        logger.warning("Connecting a %s account for team %s failed: %s", client.label, team.pk, err.message)
        return refused(request, err.message, status=502, team=team)
    if client.picks_accounts:
        pick_id = picks_offer(request, team=team, platform=client.platform, choices=choices)
        return HttpResponseRedirect(reverse("connections:connect_pick", args=[pick_id]))
    return _connected(request, team, [connection_connect(team=team, choice=choice) for choice in choices])


@login_required(login_url=LOGIN_URL)
@require_http_methods(["GET", "POST"])
def connect_pick(request: HttpRequest, pick_id: str) -> HttpResponse:
    """Which pages (and their Instagram accounts) or LinkedIn authors to connect."""
    try:
        team, platform, choices = picks_read(request, pick_id, take=request.method == "POST")
    except Refused as err:
        return refused(request, err.message)
    if request.method == "POST":
        picked = set(request.POST.getlist("account"))
        chosen = [choice for choice in choices if choice.key in picked]
        if not chosen:
            # The offer was spent by this POST: nothing picked means start again, nothing stored.
            return refused(request, "No account was picked, so nothing was connected: start again.", team=team)
        accounts = [(choice.platform, choice.account_id) for choice in chosen]
        if len(set(accounts)) < len(accounts):
            # Several choices of one account (Pinterest boards): one is its default, so one is picked.
            twice = next(choice for choice in chosen if accounts.count((choice.platform, choice.account_id)) > 1)
            return refused(
                request,
                f"Pick one choice for {twice.name}, not several: nothing was connected, start again.",
                team=team,
            )
        return _connected(request, team, [connection_connect(team=team, choice=choice) for choice in chosen])
    return render(
        request,
        "connections/pick.html",
        {
            "title": f"Pick the {declaration(platform).label} accounts to connect to {team}",
            "team": team,
            "pick_id": pick_id,
            "choices": choices,
        },
    )


def _connected(request: HttpRequest, team: Team, results: list) -> HttpResponse:
    for connection, created in results:
        verb = "Connected" if created else "Reconnected"
        messages.success(request, f"{verb} {connection} to {team}.")
    return HttpResponseRedirect(reverse("admin:connections_connection_changelist") + f"?team__id__exact={team.pk}")
