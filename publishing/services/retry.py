"""Failed publications put back on their way: one move, ``publications_reopen``, for a person's
retry (the API's and the admin's: ``publications_retry``) and for the re-queue after a reconnect
(``expiry.publications_requeue_after_reconnect``: the publications a dead token failed).

The move, with the post's row locked, for each publication still FAILED: its account must be
connected (its own connection, the channel chosen for it, if it is ACTIVE: a reconnect updates
the same connection; one without a connection, a platform named without a channel, the team's
one ACTIVE account on that platform), or nothing moves and the reason names the account to
reconnect, or the platform's accounts to choose from; it goes back to PENDING with a fresh
attempt counter, no error, and without the mark of a token failure (``metadata["failedBecause"]``);
the post goes back to PUBLISHING (a
new round: the post is told ``post.completed`` again when it ends); a job is enqueued for each.
What already went out stays PUBLISHED and is never sent again. A publication attempted before
(or whose outcome is unknown) is marked ``outcome_unknown`` and keeps its ``first_attempt_at``:
its first new attempt looks for the post on the platform, among what the account made since
then, before sending it (an earlier attempt may have gone out although it was counted as
failed).

Who asks decides which publications: a person, every FAILED one of a post that has ended
(FAILED or PARTIAL); a reconnect, those of the account that failed only because its token had
expired, whose post has ended or is still publishing. Every write is guarded (the post's lock,
the publication still FAILED): two retries at once, or a retry racing a re-queue or the sweep,
move each row once. The post's row is written even when it is still PUBLISHING, so that a
finalize that read its publications before this move commits does not end the post over the
one it reopened (``finalize._finalize`` ends a post only if its row is as it read it).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from connections.models import Connection
from publishing import metadata as keys
from publishing import rules
from publishing.models import Post, Publication
from publishing.rules.targets import active_accounts, several_accounts
from publishing.services.dispatch import publication_enqueue

# A person retries a post whose round has ended.
RETRYABLE = [Post.Status.FAILED, Post.Status.PARTIAL]
# A reconnect re-queues publications of a post that has ended or is still publishing.
REOPENABLE = [*RETRYABLE, Post.Status.PUBLISHING]


def publications_retry(*, post: Post) -> list[Publication]:
    """Put the post's FAILED publications back to PENDING and the post back to PUBLISHING, and
    enqueue their attempts (``publications_reopen``). Returns the publications retried. Raises
    ValidationError (no field) when the post has not ended FAILED or PARTIAL, has no failed
    publication, or an account it would publish with is not connected."""
    with transaction.atomic():
        locked = Post.objects.select_for_update().select_related("team").filter(pk=post.pk).first()
        if locked is None or locked.status not in RETRYABLE:
            status = locked.status.lower() if locked else "deleted"
            raise ValidationError(
                f"Post #{post.pk} is {status}: only failed and partly published posts can be retried."
            )
        failed = list(
            locked.publications.select_for_update(of=("self",))
            .select_related("connection")
            .filter(status=Publication.Status.FAILED)
            .order_by("pk")
        )
        if not failed:
            raise ValidationError(f"Post #{post.pk} has no failed publication to retry.")
        return publications_reopen(post=locked, publications=failed)


def publications_reopen(*, post: Post, publications: list[Publication]) -> list[Publication]:
    """The move (the module's docstring): ``publications``, FAILED publications of ``post``, back
    to PENDING and the post to PUBLISHING, a job enqueued for each after commit. The caller holds
    the post's row and the publications' rows locked, in its transaction. Returns those moved.
    Raises ValidationError (no field), moving nothing, when an account one of them would publish
    with is not connected."""
    accounts = _accounts(post, publications)
    now = timezone.now()
    Post.objects.filter(pk=post.pk, status__in=REOPENABLE).update(
        status=Post.Status.PUBLISHING, error="", updated_at=now
    )
    reopened = []
    for publication in publications:
        unknown = publication.outcome_unknown or publication.attempt_count > 0
        moved = Publication.objects.filter(pk=publication.pk, status=Publication.Status.FAILED).update(
            status=Publication.Status.PENDING,
            attempt_count=0,
            error="",
            next_attempt_at=None,
            outcome_unknown=unknown,
            first_attempt_at=publication.first_attempt_at if unknown else None,
            metadata=keys.without(publication.metadata, keys.FAILED_BECAUSE),
            connection=accounts[publication.pk],
            updated_at=now,
        )
        if moved:
            publication.connection = accounts[publication.pk]
            publication_enqueue(publication=publication)
            reopened.append(publication)
    return reopened


def _accounts(post: Post, publications: list[Publication]) -> dict[int, Connection]:
    """The connection each publication will publish with: its own (never another account of its
    platform: the post goes where it was meant to); raises ValidationError naming every account
    that is not connected, and every platform without a channel that has no account or several."""
    active = active_accounts(team=post.team_id, platforms=[p.platform for p in publications])
    chosen, reasons = {}, []
    for publication in publications:
        own = publication.connection
        found = active.get(publication.platform, [])
        if own is not None and rules.connection_problem(post.team_id, publication.platform, own) is None:
            chosen[publication.pk] = own
        elif own is not None:
            reasons.append(f"{publication.platform}: {own} is {own.status}, reconnect it first")
        elif len(found) == 1:
            chosen[publication.pk] = found[0]
        elif found:
            reasons.append(f"{publication.platform}: {several_accounts(publication.platform, found)}")
        else:
            reasons.append(f"{publication.platform}: no account connected, connect one first")
    if reasons:
        raise ValidationError("; ".join(reasons) + ".")
    return chosen
