"""Posts written, scheduled, reviewed and cancelled: every entry point (admin, API, commands)
comes through here, and every rule it checks comes from ``publishing.rules``.

Approval (``Team.requires_approval``): a post written by someone who is not an approver
(``role`` not ADMIN or OWNER; API keys: ``write`` is a MEMBER, ``approve`` an ADMIN) is a DRAFT
whatever its time, until it is submitted (``post_submit``: IN_REVIEW) and approved
(``post_approve``: SCHEDULED, or published now if asked) or rejected (``post_reject``: DRAFT with
a note). Such a writer editing a SCHEDULED or IN_REVIEW post sends it back to review. An
IN_REVIEW post is never dispatched (only SCHEDULED ones are) and could never be claimed."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from planrrr import outages
from planrrr.models import Team
from publishing import metadata as keys
from publishing import rules
from publishing.models import Post, Publication
from publishing.rules.targets import Target, door_targets, post_targets
from publishing.services import queue, signals
from publishing.services.checks import (
    NEEDS_REVIEW,
    caps_problems,
    is_approver,
    needs_review,
    stored_problems,
)
from publishing.services.dispatch import posts_dispatch
from publishing.services.staging import stage_enqueue


def post_create(
    *,
    team: Team,
    content: str,
    platforms: list[str] | None = None,
    channels: list[int] | None = None,
    author=None,
    media_urls: list[str] | tuple[str, ...] = (),
    scheduled_at: datetime | None = None,
    publish_now: bool = False,
    variants: dict | None = None,
    thread: list | None = None,
    first_comment: str = "",
    repeat: str = "",
    role: str | None = None,
) -> Post:
    """Create a post, DRAFT or SCHEDULED (when ``scheduled_at`` is given, or ``publish_now``),
    with one publication per target. When the team requires approval and ``role`` is not an
    approver's, the post is a DRAFT (keeping its time) that must be submitted (``post_submit``).
    Where it goes: ``channels`` (the team's accounts, by id, in order) or ``platforms`` (each
    with exactly one active account in the team), or both when they agree
    (rules.door_targets). ``variants`` overrides the text, media and thread per
    platform or per channel ({PLATFORM or "id": {"content"?, "media_urls"?, "thread"?}});
    ``thread``: follow-up parts [{"content", "media_urls"?}]; ``first_comment``: commented on the
    post once published; ``repeat``: an RRULE making it the first post of a series. Raises
    ValidationError (by field) and saves nothing when the post could not succeed."""
    if publish_now:
        scheduled_at = timezone.now()
    chosen, problems = _create_checked(
        team=team,
        content=content,
        platforms=platforms,
        channels=channels,
        media_urls=media_urls,
        scheduled_at=scheduled_at,
        publish_now=publish_now,
        variants=variants,
        thread=thread,
        first_comment=first_comment,
        repeat=repeat,
    )
    if problems:
        raise ValidationError(problems)
    post = Post(
        team=team,
        author=author,
        content=content,
        channels=chosen.ids,
        platforms=chosen.platforms,
        media_urls=list(media_urls),
        variants=variants or {},
        thread=thread or [],
        first_comment=first_comment or "",
        repeat=(repeat or "").strip(),
        status=Post.Status.SCHEDULED if scheduled_at else Post.Status.DRAFT,
        scheduled_at=scheduled_at,
    )
    return post_save_new(post=post, role=role)


def post_create_problems(
    *,
    team: Team,
    content: object,
    platforms: list[str] | None = None,
    channels: list[int] | None = None,
    media_urls: list[str] | tuple[str, ...] = (),
    scheduled_at: datetime | None = None,
    publish_now: bool = False,
    variants: dict | None = None,
    thread: list | None = None,
    first_comment: str = "",
    repeat: str = "",
) -> dict[str, list[str]]:
    """What ``post_create`` would refuse in this post (by field, its ValidationError's
    ``message_dict``), without saving anything: the workspace's composer asks it as the person
    types, so that what the composer accepts the door accepts. Takes post_create's arguments."""
    if publish_now:
        scheduled_at = timezone.now()
    return _create_checked(
        team=team,
        content=content,
        platforms=platforms,
        channels=channels,
        media_urls=media_urls,
        scheduled_at=scheduled_at,
        publish_now=publish_now,
        variants=variants,
        thread=thread,
        first_comment=first_comment,
        repeat=repeat,
    )[1]


def _create_checked(*, team: Team, platforms, channels, media_urls, scheduled_at, publish_now, **fields):
    """The door's check of a new post: (its targets as resolved, the problems by field); a
    tuple is taken for a list."""
    if platforms is not None:
        platforms = list(platforms) if isinstance(platforms, list | tuple) else platforms
    if channels is not None:
        channels = list(channels) if isinstance(channels, list | tuple) else channels
    media_urls = list(media_urls) if isinstance(media_urls, list | tuple) else media_urls
    if (platforms is not None and not isinstance(platforms, list)) or not isinstance(media_urls, list):
        return door_targets(team=team), {"platforms": ["Give the platforms and media URLs as lists."]}
    if platforms is None and channels is None:
        platforms = []
    chosen = door_targets(team=team, channels=channels, platforms=platforms)
    problems = rules.post_problems(
        team=team,
        platforms=platforms if platforms is not None else chosen.platforms,
        media_urls=media_urls,
        targets=chosen,
        scheduled_at=scheduled_at,
        publish_now=publish_now,
        **fields,
    )
    if not problems and scheduled_at is not None:
        problems = caps_problems(team=team, connections=chosen.connections, at=scheduled_at)
    return chosen, problems


def post_save_new(*, post: Post, role: str | None = None) -> Post:
    """Save a validated new post (its ``channels`` and ``platforms`` as the door resolved them)
    with its publications, one per target; a post already due is dispatched at once, a later
    one by the workers' dispatch at its time; one that needs review (see the module docstring)
    stays a DRAFT. The admin's add form comes through here after validating with
    rules.post_problems."""
    targets = post_targets(post)
    held = needs_review(post.team, role)
    if held:
        post.status = Post.Status.DRAFT
    elif post.scheduled_at and post.status == Post.Status.DRAFT:
        post.status = Post.Status.SCHEDULED
    warnings = rules.expiry_warnings(
        connections=[t.connection for t in targets if t.connection], scheduled_at=post.scheduled_at
    )
    # Said to the caller (the admin shows them, the API returns them) and kept on the publication.
    post.warnings = list(dict.fromkeys(warnings.values())) + ([NEEDS_REVIEW] if held else [])
    with transaction.atomic():
        post.full_clean()
        post.save()
        Publication.objects.bulk_create(_publications(post, targets, warnings))
        if post.status == Post.Status.SCHEDULED:
            # Its time takes a slot of its channels' queues.
            queue.post_channels_recompute(post=post)
            _dispatch_if_due(post)
            stage_enqueue(post)
    return post


def _targets_caps_problems(post: Post, at: datetime) -> dict:
    accounts = [p.connection for p in post.publications.select_related("connection") if p.connection_id]
    return caps_problems(team=post.team, connections=accounts, at=at, exclude_post_id=post.pk)


def _publications(post: Post, targets: list[Target], warnings: dict[int, str] | None = None) -> list[Publication]:
    """The publications of ``post``'s targets; one that cannot be resolved (a platform named
    without a channel that has no account, or several) is left to the dispatch, which fails it
    saying why (the door refuses such posts: only rows past it have them)."""
    warnings = warnings or {}
    return [
        Publication(
            post=post,
            platform=target.platform,
            connection=target.connection,
            metadata={keys.WARNINGS: [warnings[target.connection.pk]]} if target.connection.pk in warnings else {},
        )
        for target in targets
        if target.connection is not None
    ]


def post_schedule(
    *, post: Post, scheduled_at: datetime | None = None, publish_now: bool = False, role: str | None = None
) -> Post:
    """Schedule a DRAFT (or reschedule a SCHEDULED) post, validating it again. In a team that
    requires approval only an approver may (others submit it: PermissionDenied)."""
    if needs_review(post.team, role):
        raise PermissionDenied(NEEDS_REVIEW)
    if publish_now:
        scheduled_at = timezone.now()
    problems = stored_problems(post, scheduled_at=scheduled_at, publish_now=publish_now)
    if scheduled_at is None:
        problems.setdefault("scheduled_at", []).append("Pick a time to publish at, or publish now.")
    if not problems:
        problems = _targets_caps_problems(post, scheduled_at)
    if problems:
        raise ValidationError(problems)
    with transaction.atomic():
        updated = Post.objects.filter(pk=post.pk, status__in=[Post.Status.DRAFT, Post.Status.SCHEDULED]).update(
            status=Post.Status.SCHEDULED, scheduled_at=scheduled_at, error="", updated_at=timezone.now()
        )
        if not updated:
            post.refresh_from_db()
            raise ValidationError(
                f"Post #{post.pk} is {post.status.lower()}: only drafts and scheduled posts can be scheduled."
            )
        # A time of its own: out of its queues, and its time takes a slot there.
        queue.post_queue_leave(post=post)
        post.refresh_from_db()
        _dispatch_if_due(post)
        stage_enqueue(post)
    return post


def post_submit(*, post: Post, user=None) -> Post:
    """DRAFT -> IN_REVIEW, validated again (its time is checked when it is approved). Anyone
    who writes may submit. Emits ``post.submitted``."""
    problems = stored_problems(post, scheduled_at=None)
    if problems:
        raise ValidationError(problems)
    with transaction.atomic():
        updated = Post.objects.filter(pk=post.pk, status=Post.Status.DRAFT).update(
            status=Post.Status.IN_REVIEW, review_note="", updated_at=timezone.now()
        )
        post.refresh_from_db()
        if not updated:
            raise ValidationError(f"Post #{post.pk} is {post.status.lower()}: only drafts can be submitted for review.")
        signals.emit_review(post, "post.submitted", user=user)
    return post


def post_approve(
    *,
    post: Post,
    role: str | None,
    user=None,
    scheduled_at: datetime | None = None,
    publish_now: bool = False,
) -> Post:
    """IN_REVIEW -> SCHEDULED at its time (or ``scheduled_at``), by an ADMIN or OWNER
    (PermissionDenied otherwise). A post whose time has passed is published now only when the
    approver says so (``publish_now``): otherwise a ValidationError asks. Emits ``post.approved``."""
    if not is_approver(role):
        raise PermissionDenied("Only an admin or owner of the team can approve posts.")
    if publish_now:
        scheduled_at = timezone.now()
    scheduled_at = scheduled_at or post.scheduled_at
    problems = stored_problems(post, scheduled_at=scheduled_at, publish_now=publish_now)
    if scheduled_at is None:
        problems.setdefault("scheduled_at", []).append("This post has no time: give one, or approve it to publish now.")
    elif "scheduled_at" in problems and not publish_now:
        problems["scheduled_at"] = [
            f"This post was due at {scheduled_at.isoformat()}, which has passed: approve it to publish now "
            "(publishNow), or give a new time."
        ]
    if not problems:
        problems = _targets_caps_problems(post, scheduled_at)
    if problems:
        raise ValidationError(problems)
    with transaction.atomic():
        updated = Post.objects.filter(pk=post.pk, status=Post.Status.IN_REVIEW).update(
            status=Post.Status.SCHEDULED,
            scheduled_at=scheduled_at,
            review_note="",
            reviewed_by=user,
            error="",
            updated_at=timezone.now(),
        )
        post.refresh_from_db()
        if not updated:
            raise ValidationError(f"Post #{post.pk} is {post.status.lower()}: only posts in review can be approved.")
        signals.emit_review(post, "post.approved", user=user)
        queue.post_channels_recompute(post=post)
        _dispatch_if_due(post)
        stage_enqueue(post)
    return post


def post_reject(*, post: Post, role: str | None, note: str, user=None) -> Post:
    """IN_REVIEW -> DRAFT with ``note`` (why, for the author), by an ADMIN or OWNER
    (PermissionDenied otherwise). Emits ``post.rejected``."""
    if not is_approver(role):
        raise PermissionDenied("Only an admin or owner of the team can reject posts.")
    problem = rules.text_problem(note, "The note")
    if problem is None and rules.is_blank(note):
        problem = "Say why the post is rejected: the author reads this note."
    if problem:
        raise ValidationError({"review_note": [problem]})
    with transaction.atomic():
        updated = Post.objects.filter(pk=post.pk, status=Post.Status.IN_REVIEW).update(
            status=Post.Status.DRAFT, review_note=note, reviewed_by=user, updated_at=timezone.now()
        )
        post.refresh_from_db()
        if not updated:
            raise ValidationError(f"Post #{post.pk} is {post.status.lower()}: only posts in review can be rejected.")
        signals.emit_review(post, "post.rejected", user=user, note=note)
    return post


def post_cancel(*, post: Post) -> bool:
    """Cancel a post that has not started publishing. Returns False if it already has. A
    cancelled post of a series stops the series (publishing.services.series)."""
    with transaction.atomic():
        updated = Post.objects.filter(
            pk=post.pk, status__in=[Post.Status.DRAFT, Post.Status.IN_REVIEW, Post.Status.SCHEDULED]
        ).update(status=Post.Status.CANCELLED, updated_at=timezone.now())
        if updated:
            queue.post_queue_leave(post=post)  # its slots go to the others
    return bool(updated)


def _dispatch_if_due(post: Post) -> None:
    """A post due already goes out now, not at the workers' next dispatch round. Robust: the
    post is saved whatever happens here (the workers' dispatch and sweep finish the job)."""
    if post.scheduled_at <= timezone.now():
        outages.after_commit(lambda: posts_dispatch(post_ids=[post.pk]))
