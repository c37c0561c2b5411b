"""Changing a post that has not started publishing (the API's PATCH and PUT, the admin's change
form): its text, media, time, channels, variants, thread and first comment, with the creation
rules (publishing.services.posts). Publications of removed channels go, of added ones are made,
a kept one whose text or media changed loses what was staged; from PUBLISHING on, an edit is
refused with the reason (the state machine: publishing.services.attempts). Approval: a writer
who is not an approver sends an edited SCHEDULED or IN_REVIEW post back to review."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from publishing import metadata as keys
from publishing import rules
from publishing.models import Post, Publication
from publishing.rules.targets import Chosen, Target, door_targets
from publishing.services import queue, signals
from publishing.services.checks import caps_problems, needs_review, stored_targets
from publishing.services.posts import _dispatch_if_due, _publications
from publishing.services.staging import stage_enqueue

# What a person may still change; from PUBLISHING on, an edit is refused (docs/architecture.md:
# the post's row lock holds the dispatch while an edit is written, and the dispatch moves the
# post to PUBLISHING before any attempt is made).
EDITABLE = [Post.Status.DRAFT, Post.Status.IN_REVIEW, Post.Status.SCHEDULED]
_UNSET = object()


def post_update_problems(*, post: Post, **given) -> dict[str, list[str]]:
    """What ``post_update`` would refuse in these changes (by field), without changing anything:
    the admin's change form asks before it saves. Takes post_update's keyword arguments."""
    return _changed(post, {name: given.get(name, _UNSET) for name in _UPDATABLE})[3]


_UPDATABLE = (
    "content",
    "platforms",
    "channels",
    "media_urls",
    "variants",
    "scheduled_at",
    "thread",
    "first_comment",
    "repeat",
)


def _changed(post: Post, given: dict) -> tuple[dict, dict, Chosen, dict[str, list[str]]]:
    """(the post's fields before, after the changes ``given``, its targets after, the problems),
    with the creation rules; fields given as ``_UNSET`` are kept."""
    before = {
        "content": post.content,
        "media_urls": list(post.media_urls or []),
        "variants": post.variants,
        "scheduled_at": post.scheduled_at,
        "thread": post.thread,
        "first_comment": post.first_comment,
        "repeat": post.repeat,
    }
    values = {**before, **{name: given[name] for name in before if given.get(name, _UNSET) is not _UNSET}}
    channels, platforms = given.get("channels", _UNSET), given.get("platforms", _UNSET)
    if channels is not _UNSET or platforms is not _UNSET:
        chosen = door_targets(
            team=post.team,
            channels=None if channels is _UNSET else channels,
            platforms=None if platforms is _UNSET else platforms,
        )
        named = platforms if platforms is not _UNSET and platforms is not None else chosen.platforms
    else:
        chosen, named = stored_targets(post), list(post.platforms or [])
    scheduled_at = given.get("scheduled_at", _UNSET)
    rescheduled = scheduled_at is not _UNSET and scheduled_at != post.scheduled_at
    problems = rules.post_problems(
        team=post.team,
        content=values["content"],
        platforms=list(named) if isinstance(named, list | tuple) else [],
        media_urls=list(values["media_urls"]) if isinstance(values["media_urls"], list | tuple) else [],
        targets=chosen,
        # An unchanged time may have passed since it was set: only a new one must be ahead.
        scheduled_at=values["scheduled_at"] if rescheduled else None,
        variants=values["variants"],
        thread=values["thread"],
        first_comment=values["first_comment"],
        repeat=values["repeat"],
    )
    if values["repeat"] and not rescheduled and not problems.get("repeat"):
        # The rule was checked against the stored time above only when the time changed.
        if problem := rules.repeat_problem(values["repeat"], values["scheduled_at"], post.team.zone):
            problems["repeat"] = [problem]
    return before, values, chosen, problems


def post_update(
    *,
    post: Post,
    content: str | object = _UNSET,
    platforms: list[str] | object = _UNSET,
    channels: list[int] | object = _UNSET,
    media_urls: list[str] | object = _UNSET,
    variants: dict | object = _UNSET,
    scheduled_at: datetime | None | object = _UNSET,
    thread: list | object = _UNSET,
    first_comment: str | object = _UNSET,
    repeat: str | object = _UNSET,
    role: str | None = None,
) -> Post:
    """Change a DRAFT, IN_REVIEW or SCHEDULED post: the fields given replace the stored ones,
    and the whole post is validated again with the creation rules. ``scheduled_at=None`` makes
    it a draft again; a time makes it SCHEDULED; but in a team that requires approval, a writer
    who is not an approver sends a SCHEDULED (approved) or IN_REVIEW post (back) to review, and
    keeps a draft a draft. ``channels`` or ``platforms`` change where it goes (as at creation):
    the publications of channels removed go, those of channels added are made, the others stay,
    their staged media discarded when the text, media or variants they were made from changed
    (nothing staged for the old text is ever published). Raises ValidationError by field, or
    without a field when the post is no longer editable (it started publishing: the API's 409)."""
    with transaction.atomic():
        # The lock holds the dispatch (a guarded UPDATE of this row) until the change is in.
        locked = Post.objects.select_for_update().select_related("team").filter(pk=post.pk).first()
        if locked is None or locked.status not in EDITABLE:
            status = locked.status.lower() if locked else "deleted"
            raise ValidationError(
                f"Post #{post.pk} is {status}: only drafts and scheduled posts can be changed (and posts in "
                "review), until they start publishing."
            )
        given = {
            "content": content,
            "platforms": platforms,
            "channels": channels,
            "media_urls": media_urls,
            "variants": variants,
            "scheduled_at": scheduled_at,
            "thread": thread,
            "first_comment": first_comment,
            "repeat": repeat,
        }
        before, values, chosen, problems = _changed(locked, given)
        if problems:
            raise ValidationError(problems)
        rescheduled = scheduled_at is not _UNSET and scheduled_at != locked.scheduled_at
        empty = {"variants": {}, "thread": [], "first_comment": "", "repeat": ""}
        for name, value in values.items():
            setattr(locked, name, (value or empty[name]) if name in empty else value)
        locked.channels, locked.platforms = chosen.ids, chosen.platforms
        status_before = locked.status
        if needs_review(locked.team, role):
            back_to_review = status_before in (Post.Status.SCHEDULED, Post.Status.IN_REVIEW) and locked.scheduled_at
            locked.status = Post.Status.IN_REVIEW if back_to_review else Post.Status.DRAFT
        else:
            locked.status = Post.Status.SCHEDULED if locked.scheduled_at else Post.Status.DRAFT
        locked.error = ""
        # Queued and not given a time of its own: it keeps its places in its channels' queues.
        places = {}
        if not rescheduled and locked.status == Post.Status.SCHEDULED:
            places = {t.connection_id: t.queue_position for t in queue.queued_targets_of(locked)}
        before_channels = set(locked.publications.values_list("connection_id", flat=True))
        if places and locked.status == Post.Status.SCHEDULED:
            locked.scheduled_at = None  # the queue's times, given again below
        elif locked.scheduled_at and locked.status == Post.Status.SCHEDULED:
            # A new time counts on every account; an account added, at the post's time.
            counted = [c for c in chosen.connections if rescheduled or c.pk not in before_channels]
            problems = caps_problems(
                team=locked.team, connections=counted, at=locked.scheduled_at, exclude_post_id=locked.pk
            )
            if problems:
                raise ValidationError(problems)
        locked.full_clean()
        locked.save()
        _publications_update(locked, chosen, before, places)
        queue.channels_recompute(before_channels | set(chosen.ids))
        locked.refresh_from_db()
        if locked.status == Post.Status.SCHEDULED and locked.scheduled_at:
            _dispatch_if_due(locked)
            stage_enqueue(locked)
        if locked.status == Post.Status.IN_REVIEW and status_before == Post.Status.SCHEDULED:
            signals.emit_review(locked, "post.submitted", note="Changed after approval: back to review.")
    return locked


def _publications_update(post: Post, chosen: Chosen, before: dict, places: dict[int, int]) -> None:
    """Bring the publications of an edited post (none started: it is not PUBLISHING) in line
    with its targets: those of removed channels (and any without an account) go, those of added
    ones are made; a kept one loses what was staged for it when what it gets changed, and its
    stage lease, so that a stager still at work cannot write its media back. ``places``: the
    post's places in its channels' queues, kept when it stays queued (an account added joins
    the end of its queue); without, every target takes the post's own time."""
    wanted = {connection.pk: connection for connection in chosen.connections}
    kept = list(post.publications.filter(connection_id__in=list(wanted)))
    post.publications.exclude(pk__in=[publication.pk for publication in kept]).delete()
    warnings = rules.expiry_warnings(connections=chosen.connections, scheduled_at=post.scheduled_at)
    for publication in kept:
        channel = publication.connection_id
        old = rules.content_for(before, publication.platform, channel=channel)
        new = rules.content_for(post, publication.platform, channel=channel)
        metadata = dict(publication.metadata or {}) if old == new else {}
        metadata.pop(keys.WARNINGS, None)
        if channel in warnings:
            metadata[keys.WARNINGS] = [warnings[channel]]
        fields = {"metadata": metadata, "updated_at": timezone.now()}
        # Queued: its place kept, its time given again by the queue's recompute; else out of the
        # queue, at the post's time.
        fields.update(scheduled_at=None, **({} if places else {"queue_position": None}))
        if old != new:
            fields.update(stage_token=None, stage_expires_at=None, error="")
        Publication.objects.filter(pk=publication.pk).update(**fields)
    have = {publication.connection_id for publication in kept}
    added = _publications(post, [Target(c.platform, c) for c in chosen.connections if c.pk not in have], warnings)
    if places:
        for publication in added:
            last = queue.queued_last(channel_id=publication.connection_id)
            publication.queue_position = last + 1
    Publication.objects.bulk_create(added)
