"""Failed publications tried again, on a person's request (the admin, the API).

A retry is a new round for the post: its FAILED publications go back to PENDING with a fresh
attempt counter and the post back to PUBLISHING, so the usual claim, settle and finalize paths
carry it (the post is told ``post.completed`` again when the round ends). What already went
out stays PUBLISHED and is never sent again.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from publishing import rules
from publishing.models import Post, Publication
from publishing.services.dispatch import publication_enqueue

RETRYABLE = [Post.Status.FAILED, Post.Status.PARTIAL]


def publications_retry(*, post: Post) -> list[Publication]:
    """Put the post's FAILED publications back to PENDING and the post back to PUBLISHING, and
    enqueue their attempts. Returns the publications retried. Raises ValidationError (no field)
    when the post has not ended FAILED or PARTIAL, or has no failed publication.

    Every write is guarded (post FAILED/PARTIAL, publication FAILED): two retries at once, or a
    retry racing the sweep, move each row once. A publication that was attempted before is
    marked ``outcome_unknown``: its first new attempt asks the platform before posting (an
    earlier attempt may have gone out although it was counted as failed), and it keeps its
    ``first_attempt_at`` so that the look-up covers those earlier attempts."""
    now = timezone.now()
    with transaction.atomic():
        locked = Post.objects.select_for_update().filter(pk=post.pk).first()
        if locked is None or locked.status not in RETRYABLE:
            status = locked.status.lower() if locked else "deleted"
            raise ValidationError(
                f"Post #{post.pk} is {status}: only failed and partly published posts can be retried."
            )
        failed = list(locked.publications.select_for_update().filter(status=Publication.Status.FAILED))
        if not failed:
            raise ValidationError(f"Post #{post.pk} has no failed publication to retry.")
        Post.objects.filter(pk=locked.pk, status__in=RETRYABLE).update(
            status=Post.Status.PUBLISHING, error="", updated_at=now
        )
        # An account reconnected since the failure is a new active connection: use it.
        connections = rules.active_connections(team=locked.team, platforms=[p.platform for p in failed])
        for publication in failed:
            connection = connections.get(publication.platform, publication.connection)
            Publication.objects.filter(pk=publication.pk, status=Publication.Status.FAILED).update(
                status=Publication.Status.PENDING,
                attempt_count=0,
                error="",
                next_attempt_at=None,
                outcome_unknown=publication.attempt_count > 0 or publication.outcome_unknown,
                connection=connection,
                updated_at=now,
            )
            publication.connection = connection
            publication_enqueue(publication=publication)
    return failed
