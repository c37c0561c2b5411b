"""Posting slots and queues: a channel (a team's Connection) has weekly slots in the team's zone
(``PostingSlot``), and a post added to the queue takes, on each of its channels, the next free
slot (docs/posts.md, "Queues and caps").

A queued target is a publication with ``queue_position`` set; its time (``scheduled_at``) is
always the queue's: ``channel_queue_recompute`` gives the channel's queued targets not yet
started the channel's free slots in queue order, after every change (add, move to top, remove,
shuffle, slots changed, pause, resume, a post of the channel scheduled, changed or cancelled).
Free slots are the instants of the weekly slots from now on (publishing.slots: the wall-clock
time chosen across DST changes), not taken to the minute by another target of the channel, and
not in a window one of its platform's caps has filled (publishing.services.caps).

A paused queue holds its targets: no time (never due; a post whose every target is held has no
``scheduled_at`` and stays SCHEDULED); resume gives them the next free slots from now. A
channel with no slot left holds the targets it has no slot for the same way.

Concurrency: a recompute locks the channel's row (one recompute per channel at a time), then the
posts of its queued targets, then the targets, in that order, as every caller does; the claim
(publishing.services.attempts) re-reads a target's time under its row lock, so a target moved
later while a worker was about to claim it is not published at the old time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

from connections.models import Connection
from publishing.models import Post, PostingSlot, Publication
from publishing.services import caps
from publishing.services.checks import NEEDS_REVIEW, needs_review, stored_problems
from publishing.services.dispatch import publication_enqueue
from publishing.services.staging import stage_enqueue
from publishing.slots import HORIZON_DAYS, free_instants

QUEUED_POSTS = [Post.Status.SCHEDULED, Post.Status.PUBLISHING]


def _queued(channel_id: int):
    """The channel's queued targets not yet started."""
    return Publication.objects.filter(
        connection_id=channel_id,
        queue_position__isnull=False,
        status=Publication.Status.PENDING,
        first_attempt_at__isnull=True,
        post__status__in=QUEUED_POSTS,
    )


def queued_last(*, channel_id: int) -> int:
    """The last queue position taken on the channel (0 for an empty queue)."""
    return _queued(channel_id).aggregate(last=Max("queue_position"))["last"] or 0


# --- selectors -----------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueView:
    channel: Connection
    targets: list[Publication]
    free: list[datetime]


def channel_queue(*, channel: Connection, free: int = 10) -> QueueView:
    """The channel's queue: its queued targets in order (each with its post and time, none while
    held), and its next ``free`` free slots after them."""
    targets = list(_queued(channel.pk).select_related("post").order_by("queue_position", "pk"))
    now = timezone.now()
    slots = list(channel.slots.values_list("weekday", "time"))
    instants = []
    if slots and free > 0:
        windows = caps.windows_of(channel)
        widest = max((window.span for window in windows), default=timedelta(0))
        taken = caps.taken_times(channel.pk, start=now - widest, end=now + timedelta(days=HORIZON_DAYS) + widest)
        instants = free_instants(
            slots,
            after=now,
            zone=channel.team.zone,
            taken=taken,
            windows=windows,
            count=free,
            room=caps.quota_room(channel),
        )
    return QueueView(channel=channel, targets=targets, free=instants)


# --- the recompute -------------------------------------------------------------------------


def channel_queue_recompute(*, channel_id: int) -> int:
    """Give the channel's queued targets not yet started the channel's free slots, in queue
    order (none while paused), number them 1.. again, and bring their posts' times and jobs in
    step. Targets whose time has come keep it (dispatch is starting them). Returns how many
    targets changed."""
    with transaction.atomic():
        channel = Connection.objects.select_for_update().select_related("team").filter(pk=channel_id).first()
        if channel is None:
            return 0
        now = timezone.now()
        post_ids = sorted(set(_queued(channel_id).values_list("post_id", flat=True)))
        # Posts before targets, in id order: the order dispatch and the door lock them in.
        list(Post.objects.select_for_update().filter(pk__in=post_ids).order_by("pk").values_list("pk", flat=True))
        queued = list(
            _queued(channel_id).select_for_update(of=("self",)).select_related("post").order_by("queue_position", "pk")
        )
        due = [t for t in queued if t.scheduled_at is not None and t.scheduled_at <= now]
        waiting = [t for t in queued if t not in due]
        times: list[datetime | None] = [None] * len(waiting)
        slots = list(channel.slots.values_list("weekday", "time"))
        if not channel.queue_paused and slots and waiting:
            windows = caps.windows_of(channel)
            widest = max((window.span for window in windows), default=timedelta(0))
            # Every other target of the account counts; the queued ones are placed here.
            taken = caps.taken_times(
                channel_id, start=now - widest, end=now + timedelta(days=HORIZON_DAYS) + widest, queued=False
            )
            taken += [t.scheduled_at for t in due]
            room = caps.quota_room(channel, queued=False)
            for target in due if room is not None else ():
                room.add(target.scheduled_at)
            found = free_instants(
                slots,
                after=now,
                zone=channel.team.zone,
                taken=taken,
                windows=windows,
                count=len(waiting),
                room=room,
            )
            times[: len(found)] = found
        changed = []
        for position, target in enumerate(due + waiting, start=1):
            at = target.scheduled_at if target in due else times[position - 1 - len(due)]
            if target.scheduled_at != at or target.queue_position != position:
                moved = target.scheduled_at != at
                target.scheduled_at, target.queue_position, target.updated_at = at, position, now
                changed.append((target, moved))
        if changed:
            Publication.objects.bulk_update([t for t, _ in changed], ["scheduled_at", "queue_position", "updated_at"])
        for target, moved in changed:
            if moved and target.post.status == Post.Status.PUBLISHING:
                _reenqueue(target)
        _posts_times_refresh([t.post_id for t, moved in changed if moved])
    return len(changed)


def _reenqueue(target: Publication) -> None:
    """A started post's target moved: its job goes at the new time (the old job, if it runs,
    finds the target not due and does nothing); a held one gets none."""
    if target.scheduled_at is None:
        Publication.objects.filter(pk=target.pk).update(next_attempt_at=None, job_id="")
        return
    Publication.objects.filter(pk=target.pk).update(next_attempt_at=target.scheduled_at)
    publication_enqueue(publication=target, at=target.scheduled_at)


def _posts_times_refresh(post_ids: list[int]) -> None:
    """A queued SCHEDULED post's time is its earliest target's (none when every one is held)."""
    for post_id in sorted(set(post_ids)):
        earliest = Publication.objects.filter(
            post_id=post_id, status=Publication.Status.PENDING, scheduled_at__isnull=False
        ).aggregate(at=Min("scheduled_at"))["at"]
        updated = Post.objects.filter(pk=post_id, status=Post.Status.SCHEDULED).update(
            scheduled_at=earliest, updated_at=timezone.now()
        )
        if updated and earliest is not None:
            post = Post.objects.filter(pk=post_id).first()
            if post is not None:
                stage_enqueue(post)


def channels_recompute(channel_ids) -> None:
    """Recompute the queues of ``channel_ids`` (in id order)."""
    for channel_id in sorted({c for c in channel_ids if c is not None}):
        channel_queue_recompute(channel_id=channel_id)


def post_channels_recompute(*, post: Post) -> None:
    """The post's channels' queues, after the post was scheduled, changed or cancelled: its
    slots are taken or freed."""
    channels = Publication.objects.filter(post=post).values_list("connection_id", flat=True)
    queued = Connection.objects.filter(pk__in=channels).filter(slots__isnull=False).values_list("pk", flat=True)
    channels_recompute(queued)


# --- a post in the queue -------------------------------------------------------------------


def post_queue(*, post: Post, role: str | None = None) -> Post:
    """Add the post to its channels' queues: each target takes its channel's next free slot
    (one post to three accounts may get three times), and the post is SCHEDULED at the
    earliest. A DRAFT or a SCHEDULED post (which leaves its time for the queue's); in a team
    that requires approval, an approver only (PermissionDenied otherwise). Raises
    ValidationError saying what to change."""

    if needs_review(post.team, role):
        raise PermissionDenied(NEEDS_REVIEW)
    with transaction.atomic():
        locked = Post.objects.select_for_update().select_related("team").filter(pk=post.pk).first()
        if locked is None or locked.status not in (Post.Status.DRAFT, Post.Status.SCHEDULED):
            status = locked.status.lower() if locked else "deleted"
            raise ValidationError(f"Post #{post.pk} is {status}: only drafts and scheduled posts can be queued.")
        if locked.repeat:
            raise ValidationError(
                {"repeat": ["A repeating post keeps the times of its rule: remove the rule to add it to the queue."]}
            )
        problems = stored_problems(locked, scheduled_at=None)
        if problems:
            raise ValidationError(problems)
        targets = list(
            locked.publications.select_for_update(of=("self",))
            .filter(status=Publication.Status.PENDING)
            .select_related("connection")
            .order_by("pk")
        )
        if not targets:
            raise ValidationError(f"Post #{post.pk} has no channel to queue it on: choose at least one.")
        for target in targets:
            _queueable(target)
        channel_ids = sorted({t.connection_id for t in targets})
        list(Connection.objects.select_for_update().filter(pk__in=channel_ids).order_by("pk").values_list("pk"))
        for target in targets:
            if target.queue_position is None:
                last = _queued(target.connection_id).aggregate(last=Max("queue_position"))["last"] or 0
                target.queue_position, target.scheduled_at = last + 1, None
                target.save(update_fields=["queue_position", "scheduled_at", "updated_at"])
        Post.objects.filter(pk=locked.pk).update(
            status=Post.Status.SCHEDULED, scheduled_at=None, error="", updated_at=timezone.now()
        )
        channels_recompute(channel_ids)
        for target in Publication.objects.filter(pk__in=[t.pk for t in targets]).select_related("connection"):
            if target.scheduled_at is None and not target.connection.queue_paused:
                raise ValidationError(
                    f"{_channel(target.connection)} has no free slot within a year (its slots are taken or "
                    "its platform's caps are full): add slots, or pick a time."
                )
        locked.refresh_from_db()
    return locked


def _queueable(target: Publication) -> None:
    channel = target.connection
    if channel is None:
        raise ValidationError(
            f"Post #{target.post_id} has no {target.get_platform_display()} account to queue on: connect one."
        )
    if not channel.slots.exists():
        raise ValidationError(
            f"{_channel(channel)} has no posting slots: add some (PUT /api/v1/channels/{channel.pk}/slots, "
            "or the channel's page in the admin), or pick a time."
        )


def _channel(channel: Connection) -> str:
    return f"Channel #{channel.pk} ({channel.get_platform_display()} {channel.name or channel.account_id})"


def queued_targets_of(post: Post) -> list[Publication]:
    return list(
        Publication.objects.filter(
            post=post,
            queue_position__isnull=False,
            status=Publication.Status.PENDING,
            first_attempt_at__isnull=True,
        ).order_by("pk")
    )


def post_queue_top(*, post: Post) -> Post:
    """Move the post's queued targets to the top of their queues (the next free slots)."""
    targets = queued_targets_of(post)
    if not targets or not Post.objects.filter(pk=post.pk, status__in=QUEUED_POSTS).exists():
        raise ValidationError(f"Post #{post.pk} is not in a queue.")
    with transaction.atomic():
        channel_ids = sorted({t.connection_id for t in targets})
        list(Connection.objects.select_for_update().filter(pk__in=channel_ids).order_by("pk").values_list("pk"))
        Publication.objects.filter(pk__in=[t.pk for t in targets]).update(queue_position=0)
        channels_recompute(channel_ids)
    post.refresh_from_db()
    return post


def post_queue_remove(*, post: Post) -> Post:
    """Take a SCHEDULED post out of its queues: its slots are free for the others, and the post
    is a DRAFT again (no time)."""
    with transaction.atomic():
        locked = Post.objects.select_for_update().filter(pk=post.pk).first()
        targets = queued_targets_of(post) if locked is not None else []
        if not targets:
            raise ValidationError(f"Post #{post.pk} is not in a queue.")
        if locked.status != Post.Status.SCHEDULED:
            raise ValidationError(
                f"Post #{post.pk} is {locked.status.lower()}: only a scheduled post can leave its queue."
            )
        _leave(targets)
        Post.objects.filter(pk=locked.pk).update(status=Post.Status.DRAFT, scheduled_at=None, updated_at=timezone.now())
        channels_recompute([t.connection_id for t in targets])
        locked.refresh_from_db()
    return locked


def _leave(targets: list[Publication]) -> None:
    Publication.objects.filter(pk__in=[t.pk for t in targets]).update(
        queue_position=None, scheduled_at=None, next_attempt_at=None, updated_at=timezone.now()
    )


def post_queue_leave(*, post: Post) -> None:
    """The post was given a time of its own, or cancelled: its targets leave their queues (their
    slots go to the others) and the queues of its channels are recomputed (a time of its own
    takes a slot). Called by the door (publishing.services.posts) inside its transaction."""
    targets = queued_targets_of(post)
    if targets:
        _leave(targets)
    post_channels_recompute(post=post)


# --- a channel's queue ---------------------------------------------------------------------


def channel_queue_pause(*, channel: Connection) -> Connection:
    """Hold the queue: its targets lose their times (nothing of it is published) until resumed."""
    Connection.objects.filter(pk=channel.pk).update(queue_paused=True)
    channel_queue_recompute(channel_id=channel.pk)
    channel.refresh_from_db()
    return channel


def channel_queue_resume(*, channel: Connection) -> Connection:
    """Give the held targets the next free slots from now."""
    Connection.objects.filter(pk=channel.pk).update(queue_paused=False)
    channel_queue_recompute(channel_id=channel.pk)
    channel.refresh_from_db()
    return channel


def channel_queue_shuffle(*, channel: Connection) -> int:
    """Put the targets not yet due in a random order, then give them the slots again."""
    with transaction.atomic():
        Connection.objects.select_for_update().filter(pk=channel.pk).first()
        now = timezone.now()
        waiting = list(
            _queued(channel.pk)
            .exclude(scheduled_at__lte=now)
            .select_for_update(of=("self",))
            .order_by("queue_position", "pk")
        )
        positions = sorted(t.queue_position for t in waiting)
        random.shuffle(waiting)
        for target, position in zip(waiting, positions, strict=True):
            target.queue_position = position
        Publication.objects.bulk_update(waiting, ["queue_position"])
        channel_queue_recompute(channel_id=channel.pk)
    return len(waiting)


def channel_slots_set(*, channel: Connection, slots: list) -> list[PostingSlot]:
    """Replace the channel's weekly slots with ``slots`` ([(weekday 0-6, Monday first, time)] or
    [{"weekday", "time"}]), then give its queue the new slots. ValidationError names a bad one."""
    wanted: list[tuple[int, time]] = []
    errors = []
    if not isinstance(slots, list | tuple):
        raise ValidationError({"slots": ["Give the slots as a list of {weekday, time}."]})
    for index, slot in enumerate(slots):
        weekday, at = (slot.get("weekday"), slot.get("time")) if isinstance(slot, dict) else (slot + (None, None))[:2]
        if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
            errors.append(f"Slot {index + 1}: weekday must be 0 (Monday) to 6 (Sunday).")
            continue
        if isinstance(at, str):
            try:
                at = time.fromisoformat(at)
            except ValueError:
                at = None
        if not isinstance(at, time) or at.tzinfo is not None:
            errors.append(f"Slot {index + 1}: time must be a local time such as 09:00 (the team's zone).")
            continue
        wanted.append((weekday, at.replace(second=0, microsecond=0)))
    if errors:
        raise ValidationError({"slots": errors})
    wanted = sorted(set(wanted))
    with transaction.atomic():
        Connection.objects.select_for_update().filter(pk=channel.pk).first()
        PostingSlot.objects.filter(channel=channel).delete()
        made = PostingSlot.objects.bulk_create(
            PostingSlot(channel=channel, weekday=weekday, time=at) for weekday, at in wanted
        )
        channel_queue_recompute(channel_id=channel.pk)
    return made
