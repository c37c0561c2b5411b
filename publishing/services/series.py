"""Recurring posts: a post with ``repeat`` (an RFC 5545 RRULE in the team's time zone) is the
first of a series; each later occurrence is a post of its own (its own publications, history and
outcome) with ``series`` pointing at the first.

An occurrence is made when the one before ends (``post_finalize``: PUBLISHED, PARTIAL or FAILED;
``post_fail``), so a failed week never stops the series, and there is at most one occurrence
waiting at a time. A series stops when its rule has no more occurrence, or once any of its posts
is CANCELLED (cancelling the occurrence that waits cancels the series; what was published stays).
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from publishing import rules
from publishing.models import Post, Publication
from publishing.rules.targets import post_targets

logger = logging.getLogger("planrrr.publishing")


def occurrence_after(*, repeat: str, start: datetime, after: datetime, zone: ZoneInfo) -> datetime | None:
    """The series' first occurrence strictly after ``after`` (aware), or None when the rule has
    no more. Occurrences are wall-clock times in ``zone`` counted from ``start`` (the first
    post's time), so a weekly 09:00 stays 09:00 local across a daylight-saving change; a time
    that does not exist that day (the hour skipped in spring) is taken as the same wall time
    with the offset before the change, as zoneinfo does (PEP 495)."""
    rule = rules.repeat_rule(repeat, start, zone)
    local = rule.after(after.astimezone(zone).replace(tzinfo=None))
    return None if local is None else local.replace(tzinfo=zone)


def series_continue(*, post: Post) -> Post | None:
    """After ``post`` (an occurrence, or the first post) ended: create the next occurrence, if
    the series has one and was not cancelled. Idempotent (one occurrence per time)."""
    root = post.series if post.series_id else post
    if not root.repeat or root.scheduled_at is None:
        return None
    if Post.objects.filter(Q(pk=root.pk) | Q(series_id=root.pk), status=Post.Status.CANCELLED).exists():
        return None
    try:
        when = occurrence_after(
            repeat=root.repeat,
            start=root.scheduled_at,
            after=max(post.scheduled_at or timezone.now(), timezone.now()),
            zone=root.team.zone,
        )
    except (ValueError, TypeError, OverflowError):
        logger.exception("post %s: the repeat rule of series %s cannot be read", post.pk, root.pk)
        return None
    if when is None:
        return None
    occurrence = Post(
        team_id=root.team_id,
        author_id=post.author_id,
        content=post.content,
        channels=list(post.channels or []),
        platforms=list(post.platforms or []),
        media_urls=list(post.media_urls or []),
        variants=post.variants or {},
        thread=post.thread or [],
        first_comment=post.first_comment or "",
        series=root,
        status=Post.Status.SCHEDULED,
        scheduled_at=when,
    )
    # The channels chosen for the series, as they are now (a reconnected account is the same
    # channel); a target that cannot be resolved is left to the dispatch, which fails it saying why.
    targets = [target for target in post_targets(occurrence) if target.connection is not None]
    try:
        with transaction.atomic():
            occurrence.save()
            Publication.objects.bulk_create(
                Publication(post=occurrence, platform=target.platform, connection=target.connection)
                for target in targets
            )
    except IntegrityError:
        return None  # made already (post_finalize and the sweep both got here)
    return occurrence
