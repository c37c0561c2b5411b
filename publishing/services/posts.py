"""Posts written, scheduled and cancelled: every entry point (admin, API, commands) comes
through here, and every rule it checks comes from ``publishing.rules``."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from connections.models import Connection
from planrrr.models import Team
from publishing import rules
from publishing.models import Post, Publication
from publishing.services.dispatch import posts_dispatch
from publishing.services.staging import stage_enqueue


def post_create(
    *,
    team: Team,
    content: str,
    platforms: list[str],
    author=None,
    media_urls: list[str] | tuple[str, ...] = (),
    scheduled_at: datetime | None = None,
    connections: list[Connection] | None = None,
    publish_now: bool = False,
    variants: dict | None = None,
) -> Post:
    """Create a post, DRAFT or SCHEDULED (when ``scheduled_at`` is given, or ``publish_now``),
    with one publication per platform. Raises ValidationError (by field) and saves nothing when
    the post could not succeed. ``connections`` picks specific accounts; by default the team's
    active one per platform is used. ``variants`` overrides the text and media per platform
    ({PLATFORM: {"content"?, "media_urls"?}})."""
    platforms = list(platforms) if isinstance(platforms, list | tuple) else platforms
    media_urls = list(media_urls) if isinstance(media_urls, list | tuple) else media_urls
    if not isinstance(platforms, list) or not isinstance(media_urls, list):
        raise ValidationError({"platforms": ["Give the platforms and media URLs as lists."]})
    if publish_now:
        scheduled_at = timezone.now()
    chosen = None
    if connections is not None:
        chosen = {c.platform: c for c in connections}
        platforms += [c.platform for c in connections if c.platform not in platforms]
    problems = rules.post_problems(
        team=team,
        content=content,
        platforms=platforms,
        media_urls=media_urls,
        connections=chosen,
        scheduled_at=scheduled_at,
        publish_now=publish_now,
        variants=variants,
    )
    if problems:
        raise ValidationError(problems)
    post = Post(
        team=team,
        author=author,
        content=content,
        platforms=platforms,
        media_urls=media_urls,
        variants=variants or {},
        status=Post.Status.SCHEDULED if scheduled_at else Post.Status.DRAFT,
        scheduled_at=scheduled_at,
    )
    return post_save_new(post=post, connections=chosen)


def post_save_new(*, post: Post, connections: dict[str, Connection] | None = None) -> Post:
    """Save a validated new post with its publications; a post already due is dispatched at
    once, a later one by the workers' dispatch at its time. The admin's add form comes
    through here after validating with rules.post_problems."""
    if connections is None:
        connections = rules.active_connections(team=post.team, platforms=list(post.platforms))
    if post.scheduled_at and post.status == Post.Status.DRAFT:
        post.status = Post.Status.SCHEDULED
    warnings = rules.expiry_warnings(connections=connections, scheduled_at=post.scheduled_at)
    # Said to the caller (the admin shows them, the API returns them) and kept on the publication.
    post.warnings = list(warnings.values())
    with transaction.atomic():
        post.full_clean()
        post.save()
        Publication.objects.bulk_create(
            Publication(
                post=post,
                platform=name,
                connection=connections.get(name),
                metadata={"warnings": [warnings[name]]} if name in warnings else {},
            )
            for name in post.platforms
        )
        if post.status == Post.Status.SCHEDULED:
            _dispatch_if_due(post)
            stage_enqueue(post)
    return post


def post_schedule(*, post: Post, scheduled_at: datetime | None = None, publish_now: bool = False) -> Post:
    """Schedule a DRAFT (or reschedule a SCHEDULED) post, validating it again."""
    if publish_now:
        scheduled_at = timezone.now()
    problems = rules.post_problems(
        team=post.team,
        content=post.content,
        platforms=list(post.platforms or []),
        media_urls=list(post.media_urls or []),
        scheduled_at=scheduled_at,
        publish_now=publish_now,
        variants=post.variants,
    )
    if scheduled_at is None:
        problems.setdefault("scheduled_at", []).append("Pick a time to publish at, or publish now.")
    if problems:
        raise ValidationError(problems)
    updated = Post.objects.filter(pk=post.pk, status__in=[Post.Status.DRAFT, Post.Status.SCHEDULED]).update(
        status=Post.Status.SCHEDULED, scheduled_at=scheduled_at, error="", updated_at=timezone.now()
    )
    if not updated:
        post.refresh_from_db()
        raise ValidationError(
            f"Post #{post.pk} is {post.status.lower()}: only drafts and scheduled posts can be scheduled."
        )
    post.refresh_from_db()
    _dispatch_if_due(post)
    stage_enqueue(post)
    return post


EDITABLE = [Post.Status.DRAFT, Post.Status.SCHEDULED]
_UNSET = object()


def post_update(
    *,
    post: Post,
    content: str | object = _UNSET,
    platforms: list[str] | object = _UNSET,
    media_urls: list[str] | object = _UNSET,
    variants: dict | object = _UNSET,
    scheduled_at: datetime | None | object = _UNSET,
) -> Post:
    """Change a DRAFT or SCHEDULED post: the fields given replace the stored ones, and the
    whole post is validated again. ``scheduled_at=None`` makes it a draft again; a time makes
    it SCHEDULED. Its publications are made afresh (none has started: the post is not
    PUBLISHING), so nothing staged for the old text or media is published. Raises
    ValidationError by field, or without a field when the post is no longer editable."""
    with transaction.atomic():
        # The lock holds the dispatch (a guarded UPDATE of this row) until the change is in.
        locked = Post.objects.select_for_update().select_related("team").filter(pk=post.pk).first()
        if locked is None or locked.status not in EDITABLE:
            status = locked.status.lower() if locked else "deleted"
            raise ValidationError(f"Post #{post.pk} is {status}: only drafts and scheduled posts can be changed.")
        values = {
            "content": locked.content,
            "platforms": list(locked.platforms or []),
            "media_urls": list(locked.media_urls or []),
            "variants": locked.variants,
            "scheduled_at": locked.scheduled_at,
        }
        given = {
            "content": content,
            "platforms": platforms,
            "media_urls": media_urls,
            "variants": variants,
            "scheduled_at": scheduled_at,
        }
        values.update({name: value for name, value in given.items() if value is not _UNSET})
        rescheduled = scheduled_at is not _UNSET and scheduled_at != locked.scheduled_at
        problems = rules.post_problems(
            team=locked.team,
            content=values["content"],
            platforms=list(values["platforms"]) if isinstance(values["platforms"], list | tuple) else [],
            media_urls=list(values["media_urls"]) if isinstance(values["media_urls"], list | tuple) else [],
            # An unchanged time may have passed since it was set: only a new one must be ahead.
            scheduled_at=values["scheduled_at"] if rescheduled else None,
            variants=values["variants"],
        )
        if problems:
            raise ValidationError(problems)
        for name, value in values.items():
            setattr(locked, name, value if name != "variants" else (value or {}))
        locked.status = Post.Status.SCHEDULED if locked.scheduled_at else Post.Status.DRAFT
        locked.error = ""
        locked.full_clean()
        locked.save()
        locked.publications.all().delete()
        connections = rules.active_connections(team=locked.team, platforms=list(locked.platforms))
        Publication.objects.bulk_create(
            Publication(post=locked, platform=name, connection=connections.get(name)) for name in locked.platforms
        )
        if locked.status == Post.Status.SCHEDULED:
            _dispatch_if_due(locked)
            stage_enqueue(locked)
    return locked


def post_cancel(*, post: Post) -> bool:
    """Cancel a post that has not started publishing. Returns False if it already has."""
    updated = Post.objects.filter(pk=post.pk, status__in=[Post.Status.DRAFT, Post.Status.SCHEDULED]).update(
        status=Post.Status.CANCELLED, updated_at=timezone.now()
    )
    return bool(updated)


def _dispatch_if_due(post: Post) -> None:
    """A post due already goes out now, not at the workers' next dispatch round. Robust: the
    post is saved whatever happens here (the workers' dispatch and sweep finish the job)."""
    if post.scheduled_at <= timezone.now():
        transaction.on_commit(lambda: posts_dispatch(post_ids=[post.pk]), robust=True)
