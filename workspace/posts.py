"""A post's page at /app/<team>/posts/<id>/ (docs/workspace.md, "A post's page"): what it says,
when, and on each channel its status, the link to the live post, every attempt with its time
and its error in words (``metadata["history"]``), what waits and why, and the analytics curve
once there are readings. Publish now, Submit, Cancel and Retry are offered only where the
services would take them, and go through the same services as the API's actions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.dateparse import parse_datetime

from analytics import charts
from analytics import selectors as analytics
from analytics.models import Snapshot, Tracking
from publishing import metadata as keys
from publishing import rules, services
from publishing.models import Post, Publication
from publishing.services.checks import needs_review
from publishing.services.editing import EDITABLE
from publishing.services.retry import RETRYABLE
from workspace.access import team_view
from workspace.channels import channel_look

# The figures the curve draws (the admin's: analytics.admin.CURVE).
CURVE = ("views", "likes", "comments", "shares")

# An attempt's outcome (JobMetric.Outcome) in words.
OUTCOMES = {
    "PUBLISHED": "Published",
    "RECONCILED": "Found already published (an earlier attempt's answer was lost)",
    "RETRY": "Failed, tried again later",
    "RATE_LIMITED": "Rate limited, tried again later",
    "FAILED": "Failed, gave up",
    "INTERRUPTED": "Interrupted (its worker was lost), checked with the platform before trying again",
}


@dataclass
class Attempt:
    number: int
    at: datetime | None
    outcome: str
    words: str
    error: str
    # How a reconciled post was found, where the history says (a duplicate refusal naming it).
    note: str = ""


@dataclass
class Channel:
    """One publication as a person reads it: no token, lease or staging internals."""

    publication: Publication
    look: dict
    text: str
    media: list
    url: str
    attempts: list[Attempt]
    warnings: list[str]
    first_comment: str
    chart: str = ""
    status_words: str = ""
    notes: list[str] = field(default_factory=list)


def _attempts(publication: Publication) -> list[Attempt]:
    history = (publication.metadata or {}).get(keys.HISTORY) if isinstance(publication.metadata, dict) else None
    attempts = []
    for entry in history if isinstance(history, list) else []:
        if not isinstance(entry, dict):
            continue
        outcome = str(entry.get("outcome", ""))
        attempts.append(
            Attempt(
                number=entry.get("attempt") if isinstance(entry.get("attempt"), int) else 0,
                at=parse_datetime(str(entry.get("at", ""))),
                outcome=outcome,
                words=OUTCOMES.get(outcome, outcome.capitalize()),
                error=str(entry.get("error") or ""),
                note=str(entry.get("note") or ""),
            )
        )
    return attempts


def _status_words(publication: Publication, post: Post) -> str:
    status = publication.status
    if status == Publication.Status.PENDING:
        if post.status in (Post.Status.DRAFT, Post.Status.IN_REVIEW, Post.Status.CANCELLED):
            return "Not sent"
        if publication.held:
            return "Held: its channel's queue is paused"
        if publication.next_attempt_at and publication.attempt_count:
            return "Waiting to try again"
        if publication.next_attempt_at and publication.error:
            return "Waiting"
        return "Scheduled" if post.status == Post.Status.SCHEDULED else "Publishing"
    return publication.get_status_display().capitalize()


def _first_comment(publication: Publication, post: Post) -> str:
    if not post.first_comment:
        return ""
    state = (publication.metadata or {}).get(keys.FIRST_COMMENT)
    if not isinstance(state, dict):
        return "Posted once the post is published." if publication.status != Publication.Status.PUBLISHED else ""
    if state.get(keys.ID):
        return "First comment posted."
    if state.get(keys.GAVE_UP):
        return f"First comment not posted: {state.get(keys.ERROR) or 'gave up'}."
    if state.get(keys.ERROR):
        return f"First comment waiting to be tried again: {state.get(keys.ERROR)}"
    return "First comment being posted."


def _chart(publication: Publication) -> str:
    tracking = Tracking.objects.filter(publication=publication).first()
    if tracking is None:
        return ""
    readings = list(
        Snapshot.objects.filter(
            publication_id=publication.pk,
            captured_at__gte=tracking.published_at,
            captured_at__lt=tracking.published_at + analytics.LIFE,
        ).order_by("captured_at")
    )
    if not readings:
        return ""
    series = {name: [(r.captured_at, getattr(r, name)) for r in readings] for name in CURVE}
    label = channel_look(publication.platform)["name"]
    return charts.line_chart(series, title=f"Figures of the post on {label} over time (UTC)")


def channel_rows(post: Post) -> list[Channel]:
    rows = []
    for publication in post.publications.select_related("connection").order_by("pk"):
        text, media = rules.content_for(post, publication.platform, channel=publication.connection_id)
        metadata = publication.metadata if isinstance(publication.metadata, dict) else {}
        url = metadata.get(keys.URL) if publication.status == Publication.Status.PUBLISHED else ""
        warnings = metadata.get(keys.WARNINGS)
        rows.append(
            Channel(
                publication=publication,
                look=channel_look(publication.platform),
                text=text if isinstance(text, str) else "",
                media=media if isinstance(media, list) else [],
                url=url if isinstance(url, str) and url.startswith(("https://", "http://")) else "",
                attempts=_attempts(publication),
                warnings=[str(w) for w in warnings] if isinstance(warnings, list) else [],
                first_comment=_first_comment(publication, post),
                chart=_chart(publication) if publication.status == Publication.Status.PUBLISHED else "",
                status_words=_status_words(publication, post),
            )
        )
    return rows


def post_actions(post: Post, workspace) -> dict[str, str]:
    """The actions that apply to the post now, for this person (action -> its button's words)."""
    actions = {}
    held = needs_review(workspace.team, workspace.role)
    if post.status in (Post.Status.DRAFT, Post.Status.SCHEDULED) and not held:
        actions["publish_now"] = "Publish now"
    if post.status == Post.Status.DRAFT and workspace.team.requires_approval and held:
        actions["submit"] = "Submit for approval"
    if post.status in RETRYABLE and post.publications.filter(status=Publication.Status.FAILED).exists():
        actions["retry"] = "Retry the failed channels"
    if post.status in (Post.Status.DRAFT, Post.Status.IN_REVIEW, Post.Status.SCHEDULED):
        actions["cancel"] = "Cancel this post"
    return actions


def edit_url(post: Post) -> str:
    """The composer's page for this post, where the composer is installed and the post can change."""
    if post.status not in EDITABLE:
        return ""
    try:
        return reverse("workspace:post_edit", kwargs={"team_id": post.team_id, "post_id": post.pk})
    except NoReverseMatch:
        return ""


@team_view
def post_page(request: HttpRequest, post_id: int) -> HttpResponse:
    workspace = request.workspace
    post = get_object_or_404(
        Post.objects.select_related("author", "reviewed_by", "team"), team=workspace.team, pk=post_id
    )
    return render(
        request,
        "workspace/posts/post.html",
        {
            "post": post,
            "channels": channel_rows(post),
            "actions": post_actions(post, workspace),
            "edit_url": edit_url(post),
            "reviewer": _name(post.reviewed_by),
        },
    )


def _name(user) -> str:
    if user is None:
        return "an approver"
    return user.get_full_name() or user.get_username()


@team_view
def post_act(request: HttpRequest, post_id: int, action: str) -> HttpResponse:
    """One of the post's buttons: the service the API's action calls, with the person's role."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    workspace = request.workspace
    post = get_object_or_404(Post.objects.select_related("team"), team=workspace.team, pk=post_id)
    if action not in ("publish_now", "submit", "retry", "cancel"):
        return HttpResponseNotAllowed(["POST"])
    try:
        if action == "publish_now":
            services.post_schedule(post=post, publish_now=True, role=workspace.role)
            messages.success(request, f"Post #{post.pk} is being published now.")
        elif action == "submit":
            services.post_submit(post=post, user=request.user)
            messages.success(request, f"Post #{post.pk} is submitted: an admin or owner approves it.")
        elif action == "retry":
            retried = services.publications_retry(post=post)
            names = ", ".join(channel_look(p.platform)["name"] for p in retried)
            messages.success(request, f"Post #{post.pk}: trying again on {names}.")
        elif services.post_cancel(post=post):
            messages.success(request, f"Post #{post.pk} is cancelled: it will not be published.")
        else:
            post.refresh_from_db()
            messages.error(
                request,
                f"Post #{post.pk} was not cancelled: it is {post.get_status_display().lower()} "
                "(only drafts, posts in review and scheduled posts can be).",
            )
    except (ValidationError, PermissionDenied) as err:
        said = " ".join(err.messages) if isinstance(err, ValidationError) else str(err)
        messages.error(request, f"Post #{post.pk}: not done. {said}")
    return redirect("workspace:post", team_id=workspace.team.pk, post_id=post.pk)
