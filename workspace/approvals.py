"""The approvals inbox at /app/<team>/approvals/ (docs/workspace.md, "Approvals"): for an admin or
owner, the team's posts waiting for review, each channel's text and media as it will go out,
approve (``post_approve``: scheduled at its time; one whose time has passed asks to publish now
or for a new time, as the admin's action does) or reject with a note (``post_reject``). Everyone
sees their own posts: those waiting, and those sent back with the reviewer's note."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from publishing import rules, services
from publishing.models import Post
from publishing.rules.content import variant_for
from workspace.access import team_view
from workspace.calendar import local_moment
from workspace.channels import channel_look
from workspace.composer.preview import post_previews
from workspace.templatetags.workspace import label


@dataclass
class Preview:
    look: dict
    account: str
    text: str
    media: list
    thread: list


@dataclass
class Review:
    post: Post
    previews: list[Preview]
    late: bool
    # Each channel as its network will show it (the composer's previews), beside the text as sent.
    looks: list = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)
    asked: str = ""  # "late": the approver must choose publish now or a new time


def waiting_count(workspace) -> int:
    """The menu's badge: posts waiting for this approver; for a member, their posts sent back."""
    posts = Post.objects.filter(team=workspace.team)
    if workspace.approves:
        return posts.filter(status=Post.Status.IN_REVIEW).count()
    return posts.filter(status=Post.Status.DRAFT, author=workspace.user).exclude(review_note="").count()


def _late(post: Post) -> bool:
    """Its time has passed (beyond the door's tolerance) or it has none: approving it publishes it
    now, which the approver must say (post_approve refuses otherwise)."""
    tolerance = timezone.now() - timedelta(seconds=settings.SCHEDULE_PAST_TOLERANCE_SECONDS)
    return post.scheduled_at is None or post.scheduled_at <= tolerance


def _previews(post: Post) -> list[Preview]:
    previews = []
    for publication in post.publications.select_related("connection").order_by("pk"):
        text, media = rules.content_for(post, publication.platform, channel=publication.connection_id)
        variant = variant_for(post.variants, publication.platform, publication.connection_id)
        thread = variant.get("thread", post.thread) if isinstance(variant, dict) else post.thread
        account = publication.connection
        previews.append(
            Preview(
                look=channel_look(publication.platform),
                account=(account.name or account.account_id) if account else "no account",
                text=text if isinstance(text, str) else "",
                media=media if isinstance(media, list) else [],
                thread=[part.get("content", "") for part in thread if isinstance(part, dict)]
                if isinstance(thread, list)
                else [],
            )
        )
    return previews


def _reviews(workspace, *, errors: dict[int, dict] | None = None, asked: dict[int, str] | None = None) -> list[Review]:
    posts = Post.objects.filter(team=workspace.team, status=Post.Status.IN_REVIEW).select_related("author")
    if not workspace.approves:
        posts = posts.filter(author=workspace.user)
    errors, asked = errors or {}, asked or {}
    return [
        Review(
            post=post,
            previews=_previews(post),
            looks=post_previews(post),
            late=_late(post),
            errors=errors.get(post.pk, {}),
            asked=asked.get(post.pk, ""),
        )
        for post in posts.order_by(F("scheduled_at").asc(nulls_last=True), "pk")[:200]
    ]


def _page(request: HttpRequest, *, status: int = 200, errors=None, asked=None) -> HttpResponse:
    workspace = request.workspace
    mine = (
        Post.objects.filter(team=workspace.team, author=workspace.user, status=Post.Status.DRAFT)
        .exclude(review_note="")
        .select_related("reviewed_by")
        .order_by("-updated_at")[:100]
    )
    return render(
        request,
        "workspace/approvals/approvals.html",
        {"reviews": _reviews(workspace, errors=errors, asked=asked), "rejected": mine},
        status=status,
    )


@team_view
def approvals(request: HttpRequest) -> HttpResponse:
    return _page(request)


def _by_field(err: ValidationError | PermissionDenied) -> dict[str, list[str]]:
    if isinstance(err, PermissionDenied):
        return {"": [str(err)]}
    if not hasattr(err, "error_dict"):
        return {"": err.messages}
    placed: dict[str, list[str]] = {}
    for name, found in err.message_dict.items():
        target = {"scheduled_at": "time", "review_note": "note"}.get(name, "")
        placed.setdefault(target, []).extend(found)
    return placed


@team_view
def approval_decide(request: HttpRequest, post_id: int) -> HttpResponse:
    """Approve or reject one post (``decision``): the services decide who may (an admin or owner)
    and whether the post can; their refusal is said next to the field it names."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    workspace = request.workspace
    post = get_object_or_404(Post.objects.select_related("team"), team=workspace.team, pk=post_id)
    decision = request.POST.get("decision")
    try:
        if decision == "reject":
            services.post_reject(post=post, role=workspace.role, note=request.POST.get("note", ""), user=request.user)
            messages.success(request, f"Post #{post.pk} is sent back to its author with your note.")
        elif decision == "approve":
            publish_now = request.POST.get("publish_now") == "1"
            at = None
            if request.POST.get("date") or request.POST.get("time"):
                at, problems = local_moment(request.POST, workspace.zone)
                if problems:
                    raise ValidationError({"scheduled_at": [m for found in problems.values() for m in found]})
            elif not publish_now and _late(post):
                # Its time has passed: say so and ask, as the admin's approve action does.
                return _page(request, status=409, asked={post.pk: "late"})
            services.post_approve(
                post=post, role=workspace.role, user=request.user, scheduled_at=at, publish_now=publish_now
            )
            post.refresh_from_db()
            when = "now" if publish_now else f"at {label(post.scheduled_at, workspace.zone)}"
            messages.success(request, f"Post #{post.pk} is approved: it is published {when}.")
        else:
            return HttpResponseNotAllowed(["POST"])
    except (ValidationError, PermissionDenied) as err:
        status = 403 if isinstance(err, PermissionDenied) else 400
        messages.error(request, f"Post #{post.pk}: not done.")
        return _page(
            request, status=status, errors={post.pk: _by_field(err)}, asked={post.pk: "late"} if _late(post) else None
        )
    return redirect("workspace:approvals", team_id=workspace.team.pk)
