"""What the door checks of a post already stored, and who must have it reviewed: shared by the
moves that schedule it (publishing.services.posts), change it (editing) and queue it (queue).

Approval (``Team.requires_approval``): ADMIN and OWNER approve; a MEMBER (an API key of the
``write`` role) writes and submits, and a post of theirs waits for review."""

from __future__ import annotations

from datetime import datetime

from planrrr.models import Membership, Team
from publishing import rules
from publishing.models import Post
from publishing.rules.targets import Chosen, door_targets
from publishing.services import caps

NEEDS_REVIEW = (
    "Your team requires approval: submit this post for review; an admin or owner schedules it by approving it."
)


def is_approver(role: str | None) -> bool:
    """ADMIN and OWNER approve; MEMBER (and no role at all) writes and submits."""
    return role in Membership.APPROVERS


def needs_review(team: Team, role: str | None) -> bool:
    return bool(team.requires_approval) and not is_approver(role)


def caps_problems(*, team: Team, connections, at: datetime, exclude_post_id: int | None = None) -> dict:
    """The door's check of the platforms' publishing caps (publishing.services.caps): one more
    target at ``at`` on each of ``connections``; {"scheduled_at": [messages]} or {}."""
    messages = [
        problem
        for connection in connections
        if connection is not None
        and (problem := caps.cap_problem(connection=connection, at=at, exclude_post_id=exclude_post_id, zone=team.zone))
    ]
    return {"scheduled_at": messages} if messages else {}


def stored_problems(post: Post, *, scheduled_at, publish_now: bool = False) -> dict[str, list[str]]:
    """The rule book on a stored post, at ``scheduled_at``: its channels as they are now, and
    the platforms it names without one resolved as at the door."""
    return rules.post_problems(
        team=post.team,
        content=post.content,
        platforms=list(post.platforms or []),
        media_urls=list(post.media_urls or []),
        targets=stored_targets(post),
        scheduled_at=scheduled_at,
        publish_now=publish_now,
        variants=post.variants,
        thread=post.thread,
        first_comment=post.first_comment,
        repeat=post.repeat,
    )


def stored_targets(post: Post) -> Chosen:
    """``door_targets`` of a stored post: its channels (if it has any), with any platform it
    names that none of them is on."""
    platforms = list(post.platforms or []) if isinstance(post.platforms, list) else []
    return door_targets(team=post.team, channels=list(post.channels) if post.channels else None, platforms=platforms)
