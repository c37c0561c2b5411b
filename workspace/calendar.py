"""The team's calendar at /app/<team>/calendar/ (docs/workspace.md, "Calendar"): month, week and
day views of the team's posts in the person's zone, a card per post and channel with its status,
the channels' posting slots (free or taken), filters in the URL's query, and a post moved to
another day or time by dragging its card or with its Move form (the keyboard's way): the move is
``post_update`` with the person's role, as the API's PATCH, so what it refuses is said on the page
and the card stays where it was."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import takewhile
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import DateTimeField, Q
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from connections.models import Connection
from planrrr.models import Membership
from publishing import services
from publishing.models import Post, Publication
from publishing.slots import local_instant, slot_instants
from workspace.access import team_view
from workspace.channels import channel_look
from workspace.templatetags.workspace import label

VIEWS = ("month", "week", "day")
# The post statuses a filter offers; CANCELLED posts are shown only when asked for.
SHOWN_BY_DEFAULT = [s for s in Post.Status.values if s != Post.Status.CANCELLED]
# The days the calendar shows and a post may be moved to: far enough for any plan, and far from
# the ends of Python's dates (a month's grid, a queue's year ahead of a time, must not overflow).
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2999, 12, 31)
# How many free queue slots are asked for at most (a month of hourly slots on a channel).
FREE_SLOTS_LIMIT = 750


@dataclass
class Card:
    """One post on one channel at one instant."""

    post: Post
    publication: Publication | None
    channel: Connection | None
    platform: str
    at: datetime
    status: str
    label: str
    movable: bool
    look: dict = field(default_factory=dict)
    # The day and wall-clock time in the viewer's zone (the Move form's), as the form writes them.
    local_date: str = ""
    local_time: str = ""

    @property
    def dom_id(self) -> str:
        return f"card-{self.post.pk}-{self.publication.pk if self.publication else self.platform}"

    @property
    def move_query(self) -> str:
        """What the card's Move form starts from: the post, the card (the fields' ids), its day and time."""
        return urlencode({"post": self.post.pk, "card": self.dom_id, "date": self.local_date, "time": self.local_time})

    def move_form(self, errors: dict | None = None) -> dict:
        return move_form(post=self.post.pk, card=self.dom_id, day=self.local_date, at=self.local_time, errors=errors)


def move_form(*, post: int, card: str, day: str, at: str, errors: dict | None = None) -> dict:
    """The context of a Move form (workspace/calendar/_move_form.html): the fields' id prefix (a
    card's id), the post, the day and time it shows, and the refusal's errors by field."""
    return {
        "id": card if re.fullmatch(r"[A-Za-z0-9_-]{1,80}", card or "") else "move",
        "post": post,
        "date": day,
        "time": at,
        "errors": errors or {},
    }


@dataclass
class Mark:
    """A channel's posting slot at one instant: free (a post added to the queue may take it) or taken."""

    at: datetime
    channel: Connection
    free: bool
    look: dict


@dataclass
class Cell:
    """A day (month view) or an hour of a day (week and day views): what is in it, and what a
    card dropped on it becomes (its date, and its hour or None to keep the card's time)."""

    day: date
    hour: int | None
    cards: list[Card] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)

    @property
    def drop_time(self) -> str:
        return "" if self.hour is None else f"{self.hour:02d}:00"


@dataclass
class Day:
    day: date
    today: bool
    outside: bool  # a day of another month in the month view
    cells: list[Cell]
    # Where the day sits in the grid (CSS grid column and row; a phone stacks the days instead).
    col: int = 1
    row: int = 1


@dataclass
class Filters:
    channels: list[int]
    statuses: list[str]
    author: int | None
    problems: list[str]

    def query(self) -> list[tuple[str, str]]:
        pairs = [("channel", str(c)) for c in self.channels] + [("status", s) for s in self.statuses]
        return pairs + ([("author", str(self.author))] if self.author else [])


def _filters(params: QueryDict, *, channels: dict[int, Connection], authors: dict[int, object]) -> Filters:
    problems, chosen, statuses, author = [], [], [], None
    for value in params.getlist("channel"):
        if value.isdigit() and int(value) in channels:
            chosen.append(int(value))
        else:
            problems.append(f"There is no channel {value!r} in this team: pick channels from the list.")
    for value in params.getlist("status"):
        if value in Post.Status.values:
            statuses.append(value)
        else:
            problems.append(f"{value!r} is not a status: pick from {', '.join(Post.Status.values)}.")
    if value := params.get("author"):
        if value.isdigit() and int(value) in authors:
            author = int(value)
        else:
            problems.append(f"There is no author {value!r} in this team: pick one from the list.")
    return Filters(channels=chosen, statuses=statuses, author=author, problems=problems)


def _anchor(params: QueryDict, zone) -> tuple[date, str | None]:
    today = timezone.now().astimezone(zone).date()
    value = params.get("date")
    if not value:
        return today, None
    try:
        chosen = date.fromisoformat(value)
    except ValueError:
        return today, f"{value!r} is not a date: use YYYY-MM-DD (e.g. {today.isoformat()}); showing today."
    if not FIRST_DAY <= chosen <= LAST_DAY:
        return today, f"{value} is out of the calendar: pick a day between {FIRST_DAY} and {LAST_DAY}; showing today."
    return chosen, None


def _days(view: str, anchor: date) -> list[date]:
    if view == "day":
        return [anchor]
    if view == "week":
        monday = anchor - timedelta(days=anchor.weekday())
        return [monday + timedelta(days=i) for i in range(7)]
    first = anchor.replace(day=1)
    start = first - timedelta(days=first.weekday())
    following = (first + timedelta(days=32)).replace(day=1)
    end = following + timedelta(days=(6 - (following - timedelta(days=1)).weekday()) % 7)
    return [start + timedelta(days=i) for i in range((end - start).days)]


def _step(view: str, anchor: date, direction: int) -> date:
    if view == "day":
        return anchor + timedelta(days=direction)
    if view == "week":
        return anchor + timedelta(days=7 * direction)
    month = anchor.month - 1 + direction
    return date(anchor.year + month // 12, month % 12 + 1, 1)


def card_status(post: Post, publication: Publication | None) -> tuple[str, str]:
    """(the status's name for CSS, its words) of one post on one channel: the post's while it has
    not started, the publication's after."""
    if post.status == Post.Status.DRAFT:
        return ("REJECTED", "Rejected") if post.review_note else ("DRAFT", "Draft")
    if post.status in (Post.Status.IN_REVIEW, Post.Status.CANCELLED):
        return post.status, post.get_status_display().replace("_", " ").capitalize()
    if post.status == Post.Status.SCHEDULED:
        queued = publication is not None and publication.queue_position is not None
        return ("SCHEDULED", "Queued") if queued else ("SCHEDULED", "Scheduled")
    if publication is None:
        return post.status, post.status.capitalize()
    if publication.status == Publication.Status.PENDING:
        if publication.next_attempt_at and publication.attempt_count:
            return "RETRYING", "Retrying"
        return "PUBLISHING", "Publishing"
    return publication.status, publication.get_status_display().capitalize()


def calendar_cards(*, team, start: datetime, end: datetime, filters: Filters) -> list[Card]:
    """The team's cards in [start, end): one per publication at its own time (the published
    moment once out, else its target's time, else its post's); a post written without
    publications (platforms only, by SQL) one per platform at the post's time."""
    statuses = filters.statuses or SHOWN_BY_DEFAULT
    posts = Q(post__team=team, post__status__in=statuses)
    if filters.author:
        posts &= Q(post__author_id=filters.author)
    publications = (
        Publication.objects.filter(posts)
        .annotate(at=Coalesce("published_at", "scheduled_at", "post__scheduled_at", output_field=DateTimeField()))
        .filter(at__gte=start, at__lt=end)
        .select_related("post", "post__author", "post__reviewed_by", "connection")
        .order_by("at", "post_id", "pk")
    )
    if filters.channels:
        publications = publications.filter(connection_id__in=filters.channels)
    cards = []
    for publication in publications[:2000]:
        css, words = card_status(publication.post, publication)
        cards.append(
            Card(
                post=publication.post,
                publication=publication,
                channel=publication.connection,
                platform=publication.platform,
                at=publication.at,
                status=css,
                label=words,
                movable=publication.post.status == Post.Status.SCHEDULED,
                look=channel_look(publication.platform),
            )
        )
    if not filters.channels:
        bare = Post.objects.filter(
            team=team, status__in=statuses, scheduled_at__gte=start, scheduled_at__lt=end, publications__isnull=True
        )
        if filters.author:
            bare = bare.filter(author_id=filters.author)
        for post in bare.select_related("author")[:500]:
            for platform in post.platforms or []:
                css, words = card_status(post, None)
                cards.append(
                    Card(
                        post=post,
                        publication=None,
                        channel=None,
                        platform=str(platform),
                        at=post.scheduled_at,
                        status=css,
                        label=words,
                        movable=post.status == Post.Status.SCHEDULED,
                        look=channel_look(str(platform)),
                    )
                )
        cards.sort(key=lambda card: (card.at, card.post.pk))
    return cards


def slot_marks(*, team, channels: list[Connection], start: datetime, end: datetime) -> list[Mark]:
    """The channels' posting slots in [start, end) still ahead, each free or taken as the queue
    sees it (publishing.services.queue.channel_queue: taken by a post, or in a window a
    publishing cap has filled)."""
    now = timezone.now()
    if end <= now:
        return []
    after = max(start, now)
    marks = []
    for channel in channels:
        weekly = list(channel.slots.values_list("weekday", "time"))
        if not weekly:
            continue
        ahead = list(takewhile(lambda t: t < end, slot_instants(weekly, after=now, zone=team.zone)))
        free = set(services.channel_queue(channel=channel, free=min(len(ahead), FREE_SLOTS_LIMIT)).free)
        look = channel_look(channel.platform)
        marks += [Mark(at=at, channel=channel, free=at in free, look=look) for at in ahead if at >= after]
    return sorted(marks, key=lambda mark: (mark.at, mark.channel.pk))


def _grid(view: str, days: list[date], anchor: date, zone, cards: list[Card], marks: list[Mark]) -> list[Day]:
    today = timezone.now().astimezone(zone).date()
    hourly = view != "month"
    grid = [
        Day(
            day=day,
            today=day == today,
            outside=view == "month" and day.month != anchor.month,
            cells=[Cell(day=day, hour=hour) for hour in range(24)] if hourly else [Cell(day=day, hour=None)],
            col=index + 2 if hourly else index % 7 + 1,
            row=1 if hourly else index // 7 + 2,
        )
        for index, day in enumerate(days)
    ]
    index = {day.day: day for day in grid}

    def cell(at: datetime) -> Cell | None:
        local = at.astimezone(zone)
        day = index.get(local.date())
        if day is None:
            return None
        return day.cells[local.hour] if hourly else day.cells[0]

    for card in cards:
        local = card.at.astimezone(zone)
        card.local_date, card.local_time = local.date().isoformat(), local.strftime("%H:%M")
        if (found := cell(card.at)) is not None:
            found.cards.append(card)
    for mark in marks:
        if (found := cell(mark.at)) is not None:
            found.marks.append(mark)
    return grid


def _context(request: HttpRequest, params: QueryDict) -> dict:
    workspace = request.workspace
    team, zone = workspace.team, workspace.zone
    channels = {c.pk: c for c in Connection.objects.filter(team=team).order_by("platform", "name", "pk")}
    authors = {
        m.user_id: m.user
        for m in Membership.objects.filter(team=team).select_related("user").order_by("user__username")
    }
    view = params.get("view") if params.get("view") in VIEWS else "week"
    anchor, date_problem = _anchor(params, zone)
    filters = _filters(params, channels=channels, authors=authors)
    days = _days(view, anchor)
    start = local_instant(days[0], time(0), zone)
    end = local_instant(days[-1] + timedelta(days=1), time(0), zone)
    cards = calendar_cards(team=team, start=start, end=end, filters=filters)
    shown = [channels[c] for c in filters.channels] if filters.channels else list(channels.values())
    marks = slot_marks(team=team, channels=shown, start=start, end=end)
    kept = filters.query()

    def link(**changes) -> str:
        query = [("view", changes.get("view", view)), ("date", changes.get("date", anchor).isoformat())] + kept
        return "?" + urlencode(query)

    return {
        "view": view,
        "views": VIEWS,
        "anchor": anchor,
        "days": _grid(view, days, anchor, zone, cards, marks),
        "hours": [f"{hour:02d}:00" for hour in range(24)],
        "cards": cards,
        "marks": marks,
        "channels": list(channels.values()),
        "authors": list(authors.values()),
        "statuses": [(value, label.capitalize()) for value, label in Post.Status.choices],
        "filters": filters,
        "problems": [p for p in [date_problem, *filters.problems] if p],
        "range_start": start,
        "range_end": end,
        "links": {
            "prev": link(date=_step(view, anchor, -1)),
            "next": link(date=_step(view, anchor, 1)),
            "today": link(date=timezone.now().astimezone(zone).date()),
            **{name: link(view=name) for name in VIEWS},
        },
        "query": urlencode([("view", view), ("date", anchor.isoformat()), *kept]),
        "title": _title(view, days, anchor),
    }


def _title(view: str, days: list[date], anchor: date) -> str:
    if view == "month":
        return anchor.strftime("%B %Y")
    if view == "day":
        return f"{anchor:%A} {anchor.day} {anchor:%B %Y}"
    first, last = days[0], days[-1]
    return f"Week of {first.day} {first:%b} – {last.day} {last:%b %Y}"


@team_view
def calendar(request: HttpRequest) -> HttpResponse:
    context = _context(request, request.GET)
    if request.htmx:
        return render(request, "workspace/calendar/_calendar.html", context)
    return render(request, "workspace/calendar/calendar.html", context)


def local_moment(params: QueryDict, zone) -> tuple[datetime | None, dict[str, list[str]]]:
    """The instant a person asked for: a date and a wall-clock time in their zone (a time that
    does not exist that day, in a DST gap, is its gap's end; one that occurs twice, the first)."""
    problems: dict[str, list[str]] = {}
    try:
        day = date.fromisoformat(params.get("date", ""))
    except ValueError:
        problems["date"] = ["Give the day as YYYY-MM-DD (e.g. 2026-12-07)."]
    else:
        if not FIRST_DAY <= day <= LAST_DAY:
            problems["date"] = [f"Pick a day between {FIRST_DAY} and {LAST_DAY}."]
    try:
        at = time.fromisoformat(params.get("time", ""))
    except ValueError:
        problems["time"] = ["Give the time as HH:MM (e.g. 09:30), in " + zone.key + "."]
    if problems:
        return None, problems
    return local_instant(day, at.replace(second=0, microsecond=0), zone), {}


def _words(err: ValidationError | PermissionDenied) -> dict[str, list[str]]:
    """A refusal's messages by the field of the move form they belong to."""
    if isinstance(err, PermissionDenied):
        return {"": [str(err)]}
    if not hasattr(err, "error_dict"):
        return {"": err.messages}
    placed: dict[str, list[str]] = {}
    for name, errors in err.message_dict.items():
        target = "time" if name == "scheduled_at" else ""
        placed.setdefault(target, []).extend(
            errors if target or name == "__all__" else [f"{name.replace('_', ' ')}: {e}" for e in errors]
        )
    return placed


@team_view
def calendar_move(request: HttpRequest) -> HttpResponse:
    """Move a post to another day and time (a card dropped on a cell, or its Move form):
    ``post_update`` with the person's role, which refuses (and says why) a post that has started
    publishing, a time in the past, a publishing cap's full window... A member of a team that
    requires approval moving an approved post sends it back to review, as the API's PATCH does."""
    workspace = request.workspace
    if request.method == "GET":
        return _move_page(request)
    if request.method != "POST":
        return HttpResponseNotAllowed(["GET", "POST"])
    back = QueryDict(request.POST.get("back", ""))
    asked = str(request.POST.get("post", ""))
    post = Post.objects.filter(team=workspace.team, pk=int(asked)).first() if asked.isdigit() else None
    errors: dict[str, list[str]] = {}
    if post is None:
        errors[""] = ["That post is not in this team's calendar any more: reload the page."]
    else:
        at, errors = local_moment(request.POST, workspace.zone)
        if at is not None:
            queued = post.publications.filter(queue_position__isnull=False).exists()
            try:
                moved = services.post_update(post=post, scheduled_at=at, role=workspace.role)
            except (ValidationError, PermissionDenied) as err:
                errors = _words(err)
            else:
                # A time of its own takes it out of its queues (post_update), as the API's PATCH does.
                note = " It left its channels' queues for this time." if queued else ""
                if moved.status == Post.Status.IN_REVIEW:
                    note += " It is back in review: an admin or owner approves it again."
                messages.success(request, f"Post #{post.pk} moved to {label(at, workspace.zone)}.{note}")
    if errors:
        said = " ".join(message for found in errors.values() for message in found)
        messages.error(request, f"Post #{request.POST.get('post')} not moved: {said}")
    if request.htmx:
        context = _context(request, back)
        context.update(focus_post=post.pk if post else None, move_errors={post.pk: errors} if post and errors else {})
        return render(request, "workspace/calendar/_calendar.html", context)
    if errors and post is not None:
        form = move_form(
            post=post.pk,
            card=request.POST.get("card", ""),
            day=request.POST.get("date", ""),
            at=request.POST.get("time", ""),
            errors=errors,
        )
        context = {"move": form, "post": post, "query": back.urlencode()}
        return render(request, "workspace/calendar/move.html", context, status=400)
    return redirect(reverse("workspace:calendar", kwargs={"team_id": workspace.team.pk}) + "?" + back.urlencode())


def _move_page(request: HttpRequest) -> HttpResponse:
    """A post's Move form: for htmx, the form alone (into the card whose Move was opened); else a
    page of its own (the way without JavaScript)."""
    workspace = request.workspace
    asked = str(request.GET.get("post", ""))
    post = Post.objects.filter(team=workspace.team, pk=int(asked)).first() if asked.isdigit() else None
    if post is None:
        raise Http404("No such post in this team.")
    local = post.scheduled_at.astimezone(workspace.zone) if post.scheduled_at else None
    form = move_form(
        post=post.pk,
        card=request.GET.get("card", ""),
        day=request.GET.get("date") or (local.date().isoformat() if local else ""),
        at=request.GET.get("time") or (local.strftime("%H:%M") if local else ""),
    )
    context = {"move": form, "post": post, "query": request.GET.get("back", "")}
    template = "workspace/calendar/_move_form.html" if request.htmx else "workspace/calendar/move.html"
    return render(request, template, context)
