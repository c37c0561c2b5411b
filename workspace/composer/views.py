"""The composer: a new post at /app/<team>/compose/, a post not yet publishing at
/app/<team>/posts/<id>/edit/, and the check both ask as the person types (docs/workspace.md).

Every write is a service of publishing.services with the person's role, in one transaction per
action: a post created then queued, submitted or published now is kept only if the whole action
went through, so a refusal leaves nothing behind and the form shows the door's words next to the
fields they name."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from connections.models import Connection
from connections.platforms import DECLARATIONS, get_adapter
from publishing import rules, services
from publishing.models import Post
from publishing.services.checks import NEEDS_REVIEW, needs_review
from publishing.services.editing import EDITABLE
from workspace.access import team_view
from workspace.composer import library
from workspace.composer.composition import Composition, from_post, from_post_data
from workspace.composer.preview import channel_preview
from workspace.templatetags.workspace import label as time_label


@dataclass
class OptionField:
    name: str
    kind: str
    help: str
    choices: list[tuple[str, str]]
    value: str
    field_id: str

    @property
    def label(self) -> str:
        """ "privacyStatus" -> "Privacy status", "boardId" -> "Board": the option's name in words."""
        words = re.sub(r"([A-Z])", r" \1", self.name.removesuffix("Id")).strip()
        return words[:1].upper() + words[1:].lower()


@dataclass
class ChannelChoice:
    """One of the team's accounts in the picker: selectable, or why not."""

    account: Connection
    selectable: bool
    why: str
    options: list[OptionField]

    @property
    def label(self) -> str:
        return rules.label(self.account.platform)

    @property
    def name(self) -> str:
        return self.account.name or self.account.account_id

    @property
    def supports_threads(self) -> bool:
        return get_adapter(self.account.platform).supports_threads


def _order(platform: str) -> int:
    return next((i for i, d in enumerate(DECLARATIONS) if d.name == platform), len(DECLARATIONS))


def channel_choices(team, composition: Composition, *, chosen_before: list[int] = ()) -> list[ChannelChoice]:
    """The team's accounts, in the platforms' order: the active ones to choose from; an expired
    or revoked one shown with why (and still choosable on a post that has it, so that the person
    sees the door's refusal and decides, rather than lose it unseen)."""
    accounts = sorted(
        Connection.objects.filter(team=team), key=lambda a: (_order(a.platform), (a.name or a.account_id).lower(), a.pk)
    )
    choices = []
    for account in accounts:
        problem = rules.connection_problem(team.pk, account.platform, account)
        adapter = get_adapter(account.platform)
        details = account.details if isinstance(account.details, dict) else {}
        state = composition.per_channel.get(account.pk)
        typed = state.options if state else {}
        options = [
            OptionField(
                name=name,
                kind=adapter.option_kinds.get(name, "text"),
                help=help_text,
                choices=adapter.option_choices(name, details=details),
                value=typed.get(name, ""),
                field_id=f"v-{account.pk}-opt-{name}",
            )
            for name, help_text in adapter.options.items()
        ]
        choices.append(
            ChannelChoice(
                account=account,
                selectable=problem is None or account.pk in chosen_before,
                why=problem or "",
                options=options,
            )
        )
    return choices


def _accounts(team) -> dict[int, Connection]:
    return {account.pk: account for account in Connection.objects.filter(team=team)}


def post_page_url(team_id: int, post: Post) -> str:
    """The post's own page where the workspace has one, else its edit page, else the composer."""
    try:
        return reverse("workspace:post", kwargs={"team_id": team_id, "post_id": post.pk})
    except NoReverseMatch:
        pass
    if post.status in EDITABLE:
        return reverse("workspace:post_edit", kwargs={"team_id": team_id, "post_id": post.pk})
    return reverse("workspace:compose", kwargs={"team_id": team_id})


# --- the pages -------------------------------------------------------------------------------


@team_view
def compose(request: HttpRequest) -> HttpResponse:
    return _composer(request, post=None)


@team_view
def post_edit(request: HttpRequest, post_id: int) -> HttpResponse:
    post = _team_post(request, post_id)
    return _composer(request, post=post)


def _page_login(view):
    """For the check htmx asks while the person types: a session that ended sends the whole page
    to the login (and back to the composer after it), rather than the login form into the
    preview."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not request.user.is_authenticated and request.htmx:
            back = request.htmx.current_url_abs_path or "/app/"
            return HttpResponseClientRedirect(f"{reverse(settings.LOGIN_URL)}?{urlencode({'next': back})}")
        return view(request, *args, **kwargs)

    return wrapper


@_page_login
@team_view
@require_POST
def compose_check(request: HttpRequest) -> HttpResponse:
    return _check(request, post=None)


@_page_login
@team_view
@require_POST
def post_edit_check(request: HttpRequest, post_id: int) -> HttpResponse:
    return _check(request, post=_team_post(request, post_id))


def _team_post(request: HttpRequest, post_id: int) -> Post:
    post = Post.objects.select_related("team").filter(pk=post_id, team=request.workspace.team).first()
    if post is None:
        raise Http404("No such post in this team.")
    return post


def _composer(request: HttpRequest, *, post: Post | None) -> HttpResponse:
    workspace = request.workspace
    problems: dict[str, list[str]] = {}
    if request.method == "POST":
        composition = from_post_data(request.POST)
        action = request.POST.get("action", "")
        if post is not None and post.status not in EDITABLE:
            messages.error(request, _not_editable(post))
            return redirect(post_page_url(workspace.team.pk, post))
        if action not in _actions(workspace, post):
            problems = {"": [f"{action!r} is not something you can do here: use one of the buttons."]}
        else:
            composition.media_text = library.with_library(request, composition.media_text)
            done, problems = _act(request, composition, action, post)
            if done is not None:
                return redirect(post_page_url(workspace.team.pk, done))
    elif post is not None:
        composition = from_post(post, workspace.zone)
    else:
        composition = Composition()
    return render(request, "workspace/composer/compose.html", _context(request, composition, post, problems))


def _actions(workspace, post: Post | None) -> list[str]:
    """The buttons this person has here: what the services let their role do to this post."""
    reviewed = needs_review(workspace.team, workspace.role)
    status = post.status if post else Post.Status.DRAFT
    if status not in EDITABLE:
        return []
    if status == Post.Status.SCHEDULED:
        found = ["save", "draft"]
    elif status == Post.Status.IN_REVIEW:
        found = ["save"]
    else:
        found = ["draft", "submit"] if reviewed else ["draft", "schedule", "queue"]
    if not reviewed:
        found.append("publish_now")
    return found


def _not_editable(post: Post) -> str:
    return (
        f"Post #{post.pk} is {post.get_status_display().lower()}: only drafts, posts in review and scheduled posts "
        "can be changed, until they start publishing."
    )


def _act(request: HttpRequest, composition: Composition, action: str, post: Post | None):
    """Do ``action``; (the post, {}) when done, (None, problems by field) when refused."""
    workspace = request.workspace
    team, role = workspace.team, workspace.role
    fields = composition.fields(_accounts(team))
    at = composition.scheduled_at(workspace.zone)
    if action == "schedule" and at is None and "scheduled_at" not in composition.problems:
        composition.problems["scheduled_at"] = ["Pick a date and time to schedule at, or save a draft."]
    if composition.problems:
        return None, composition.problems
    reviewed = needs_review(team, role)
    try:
        with transaction.atomic():
            if post is None:
                # A draft keeps its time only for its review (an approver schedules it as it is).
                when = at if action == "schedule" or (reviewed and action in ("draft", "submit")) else None
                done = services.post_create(team=team, author=request.user, role=role, scheduled_at=when, **fields)
            else:
                given = _time_given(post, action, at, reviewed)
                done = services.post_update(post=post, role=role, **fields, **given)
            if action == "queue":
                done = services.post_queue(post=done, role=role)
            elif action == "submit" and done.status == Post.Status.DRAFT:
                done = services.post_submit(post=done, user=request.user)
            elif action == "publish_now":
                done = services.post_schedule(post=done, publish_now=True, role=role)
    except ValidationError as err:
        return None, _by_field(err)
    except PermissionDenied as err:
        return None, {"": [str(err) or NEEDS_REVIEW]}
    _said(request, done, action)
    return done, {}


def _time_given(post: Post, action: str, at, reviewed: bool) -> dict:
    """The time ``post_update`` is given, as keyword arguments: none when it is left as it was
    (a queued post keeps its place), None for a draft an approver saves (a draft has no time
    but for its review)."""
    if action == "draft":
        return {"scheduled_at": at if reviewed else None}
    if action in ("queue", "publish_now") or at is None or _same_minute(at, post.scheduled_at):
        return {}
    return {"scheduled_at": at}


def _same_minute(at, stored) -> bool:
    """The form shows and sends times to the minute: a stored time shown and sent back is no change."""
    return stored is not None and at == stored.replace(second=0, microsecond=0)


def _by_field(err: ValidationError) -> dict[str, list[str]]:
    if hasattr(err, "error_dict"):
        return err.message_dict
    return {"": err.messages}


def _said(request: HttpRequest, post: Post, action: str) -> None:
    """What happened, in the person's zone, and what they should know (tokens ending before the
    post, a platform's notice, a review the post waits for)."""
    zone = request.workspace.zone
    post.refresh_from_db()
    if action == "publish_now" and post.status in (Post.Status.SCHEDULED, Post.Status.PUBLISHING):
        said = "Publishing now: the post's page follows it on each channel."
    elif post.status == Post.Status.SCHEDULED and post.scheduled_at:
        said = f"Scheduled for {time_label(post.scheduled_at, zone)}."
        if action == "queue":
            said = f"Added to the queue: first out at {time_label(post.scheduled_at, zone)}."
    elif post.status == Post.Status.SCHEDULED:
        said = "Added to the queue: it waits for a slot (a paused queue holds it)."
    elif post.status == Post.Status.PUBLISHING:
        said = "Publishing now."
    elif post.status == Post.Status.IN_REVIEW:
        said = "Submitted for approval: an admin or owner of the team schedules it by approving it."
    else:
        said = "Saved as a draft."
    messages.success(request, f"Post #{post.pk}: {said}")
    for warning in getattr(post, "warnings", []) or []:
        if warning != NEEDS_REVIEW:
            messages.warning(request, warning)
    for notice in rules.post_notices(post):
        messages.warning(request, f"{rules.label(notice['platform'])}: {notice['message']}")


# --- what the page shows ---------------------------------------------------------------------

BUTTONS = {
    "save": "Save changes",
    "draft": "Save draft",
    "schedule": "Schedule",
    "queue": "Add to queue",
    "submit": "Submit for approval",
    "publish_now": "Publish now",
}

# The fields the door names that the page has a place for; the rest are said at the top.
_FIELDS = ("content", "channels", "media_urls", "scheduled_at", "first_comment", "thread")


def slot_of(key: str, accounts: dict[int, Connection], chosen: list[int]) -> list[str]:
    """Where on the page a problem the door keys ``key`` is said: next to the field it names
    (``variants.7.content``: channel 7's own text; ``thread.1.content``: the thread's second
    box), or at the top ("general")."""
    if key == "platforms":
        return ["channels"]
    if key in _FIELDS:
        return [key]
    head, _, rest = key.partition(".")
    if head == "thread":
        index = rest.partition(".")[0]
        return [f"thread-{index}"] if index.isdigit() else ["thread"]
    if head == "variants":
        ident, _, sub = rest.partition(".")
        sub = sub.partition(".")[0]
        sub = sub if sub in ("content", "media_urls", "options") else "channel"
        if ident.isdigit():
            return [f"v-{ident}-{sub}"]
        # A platform's entry: said on each chosen channel of that platform.
        found = [f"v-{c}-{sub}" for c in chosen if c in accounts and accounts[c].platform == ident]
        return found or ["general"]
    return ["general"]


def _slots(problems: dict[str, list[str]], accounts, chosen) -> dict[str, list[str]]:
    slots: dict[str, list[str]] = {}
    for key, found in problems.items():
        for slot in slot_of(key, accounts, chosen):
            for message in found:
                if message not in slots.setdefault(slot, []):
                    slots[slot].append(message)
    return slots


def _context(request: HttpRequest, composition: Composition, post: Post | None, problems: dict) -> dict:
    workspace = request.workspace
    team = workspace.team
    accounts = _accounts(team)
    fields = composition.fields(accounts)
    chosen = [c for c in composition.channels if c in accounts]
    slots = _slots(problems, accounts, chosen)
    channels = channel_choices(team, composition, chosen_before=list(post.channels or []) if post else [])
    actions = _actions(workspace, post)
    reviewed = needs_review(team, workspace.role)
    buttons = [(action, BUTTONS[action]) for action in actions]
    if reviewed and post is not None and post.status == Post.Status.SCHEDULED:
        buttons = [(a, "Save and send for approval again" if a == "save" else text) for a, text in buttons]
    if post is not None and post.status == Post.Status.SCHEDULED:
        buttons = [(a, "Back to draft" if a == "draft" else text) for a, text in buttons]
    if post is not None and post.status == Post.Status.IN_REVIEW and not reviewed and post.scheduled_at:
        # An approver's change of a post in review schedules it (post_update), as the API's PATCH does.
        buttons = [(a, "Save and schedule" if a == "save" else text) for a, text in buttons]
    if post is None:
        check_url = reverse("workspace:compose_check", kwargs={"team_id": team.pk})
    else:
        check_url = reverse("workspace:post_edit_check", kwargs={"team_id": team.pk, "post_id": post.pk})
    thread_slots = [f"thread-{i}" for i in range(len(composition.thread_parts) + 1)]
    return {
        "composition": composition,
        "post": post,
        "editable": post is None or post.status in EDITABLE,
        "not_editable": _not_editable(post) if post is not None and post.status not in EDITABLE else "",
        "channels": channels,
        "chosen": set(chosen),
        "previews": [channel_preview(accounts[c], fields) for c in chosen],
        "slots": slots,
        "slot_names": ["general", *_FIELDS, *thread_slots]
        + [f"v-{a.account.pk}-{sub}" for a in channels for sub in ("content", "media_urls", "options", "channel")],
        "buttons": buttons,
        "reviewed": reviewed,
        "check_url": check_url,
        "library": library.items(team),
        "thread_platforms": rules.THREAD_PLATFORMS,
        "max_thread_parts": rules.MAX_THREAD_PARTS,
        "has_problems": bool(problems),
    }


# --- the check, as the person types -----------------------------------------------------------


def composer_problems(workspace, composition: Composition, post: Post | None) -> dict[str, list[str]]:
    """What the door would refuse in this composition (by field), asked of the door itself:
    ``post_create_problems`` for a new post, ``post_update_problems`` for a stored one, with the
    arguments a save passes (the composer's own problems, a time the clocks skip, first: they
    stop a save before the door)."""
    fields = composition.fields(_accounts(workspace.team))
    at = composition.scheduled_at(workspace.zone)
    if composition.problems:
        return dict(composition.problems)
    if post is None:
        return services.post_create_problems(team=workspace.team, scheduled_at=at, **fields)
    given = {} if at is None or _same_minute(at, post.scheduled_at) else {"scheduled_at": at}
    return services.post_update_problems(post=post, **fields, **given)


def _check(request: HttpRequest, *, post: Post | None) -> HttpResponse:
    composition = from_post_data(request.POST)
    composition.media_text = library.with_library(request, composition.media_text)
    problems = composer_problems(request.workspace, composition, post)
    return render(request, "workspace/composer/_check.html", _context(request, composition, post, problems))
