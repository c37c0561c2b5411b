"""Media staged ahead of the slot: uploaded (containers created) MEDIA_STAGING_LEAD_SECONDS
before a scheduled post's time, so that the publish call at the time is a single request.

Staging holds a publication with its own lease (``stage_token``, ``stage_expires_at``), never
the publish one, and only while the post is SCHEDULED: it never moves a publication's status,
so nothing it leaves behind (a killed stager, a stage job past its timeout) can be taken for a
publish attempt. A failure is recorded on the publication, visible before the slot, and
publishing at the slot does what staging could not.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import django_rq
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from connections.platforms import get_adapter
from connections.platforms.base import Account, Draft, PlatformError, TokenExpired
from planrrr import outages
from planrrr.text import safe_text
from publishing import metadata as keys
from publishing import rules
from publishing.models import Post, Publication
from publishing.services.attempts import storable_json
from publishing.services.dispatch import publication_enqueue
from publishing.services.expiry import connection_expire

JOB = "publishing.jobs.post_stage"


def stage_enqueue(post: Post) -> None:
    """Ask RQ to stage the post's media MEDIA_STAGING_LEAD_SECONDS before its slot (at once if
    that is already past). The sweep does it too if Redis loses this job."""
    lead = settings.MEDIA_STAGING_LEAD_SECONDS
    if not rules.has_media(post) or not lead or post.scheduled_at <= timezone.now():
        return

    def enqueue() -> None:
        queue = django_rq.get_queue("default", commit_mode="auto")
        at = post.scheduled_at - timedelta(seconds=lead)
        options = {"job_id": stage_job_id(post), "job_timeout": settings.PUBLISH_JOB_TIMEOUT}
        if at <= timezone.now():
            queue.enqueue(JOB, post.pk, **options)
        else:
            queue.enqueue_at(at, JOB, post.pk, **options)

    outages.after_commit(enqueue)


def stage_job_id(post: Post) -> str:
    return f"stage-{post.pk}-{int(post.scheduled_at.timestamp())}"


def post_stage(*, post_id: int) -> int:
    """Stage a scheduled post's media. Returns how many publications were staged."""
    post = Post.objects.filter(pk=post_id, status=Post.Status.SCHEDULED).first()
    if post is None or not rules.has_media(post):
        return 0
    publications = post.publications.filter(status=Publication.Status.PENDING).select_related("connection")
    return sum(publication_stage(publication=publication, post=post) for publication in publications)


def publication_stage(*, publication: Publication, post: Post) -> bool:
    if keys.STAGED_AT in publication.metadata or rules.publication_refusal(publication):
        return False  # done already, or publish time will refuse it with the reason
    token, now = uuid.uuid4(), timezone.now()
    held = (
        Publication.objects.filter(
            pk=publication.pk, status=Publication.Status.PENDING, post__status=Post.Status.SCHEDULED
        )
        .filter(Q(stage_expires_at__isnull=True) | Q(stage_expires_at__lt=now))
        .update(stage_token=token, stage_expires_at=now + timedelta(seconds=settings.PUBLISH_LEASE_SECONDS))
    )
    if not held:
        return False
    connection = publication.connection
    text, media_urls = rules.content_for(post, publication.platform, channel=publication.connection_id)
    draft = Draft(
        text=text,
        media_urls=media_urls,
        state=dict(publication.metadata),
        idempotency_key=f"planrrr-publication-{publication.pk}",
        options=rules.options_for(post, publication.platform, channel=publication.connection_id),
    )
    error, expired = "", None
    try:
        get_adapter(publication.platform).stage(
            Account.of(connection),
            draft,
        )
        draft.state[keys.STAGED_AT] = timezone.now().isoformat()
        draft.state.pop(keys.STAGING_ERROR, None)
    except PlatformError as err:
        message = safe_text(err.message, secrets=[connection.access_token])
        draft.state[keys.STAGING_ERROR] = message
        error = f"Staging the media failed ({message}); publishing will try again at the scheduled time."
        if isinstance(err, TokenExpired):
            expired = message
    with transaction.atomic():
        # Only this stager, and only while nobody started publishing (a publish claim waits
        # for a live stage lease, and takes an expired one over).
        Publication.objects.filter(pk=publication.pk, status=Publication.Status.PENDING, stage_token=token).update(
            stage_token=None, stage_expires_at=None, metadata=storable_json(draft.state), error=error
        )
        if Post.objects.filter(pk=post.pk, status=Post.Status.PUBLISHING).exists():
            # The slot came while we held the stage lease: the publish claim waited for us.
            publication_enqueue(publication=publication)
    if expired:
        connection_expire(connection_id=connection.pk, reason=expired)
    return not error
