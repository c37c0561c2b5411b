"""A post's status derived from its publications, decided once, and told once."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from planrrr.text import safe_text
from publishing.models import Post, Publication
from publishing.services import signals
from publishing.services.series import series_continue

NOTHING_TO_PUBLISH = "This post has no publication to make: choose at least one platform, then schedule it again."


def post_finalize(*, post_id: int) -> str | None:
    """Derive the post's status once every publication is final: PUBLISHED, PARTIAL or
    FAILED, and tell the team (``post.completed``) exactly once. A publishing post with no
    publication at all (a row written with no platforms) fails, saying so."""
    # Most calls come from the first publications of a post to finish, with others still
    # open: say so after one query, without a transaction and a row lock. This cannot miss
    # the last one: whichever publication commits its final status last sees all the others'.
    open_statuses = [Publication.Status.PENDING, Publication.Status.PUBLISHING]
    if Publication.objects.filter(post_id=post_id, status__in=open_statuses).exists():
        return None
    with transaction.atomic():
        # The post locked and its publications read in one query (a post has at least one).
        publications = list(
            Publication.objects.select_related("post").select_for_update(of=("post",)).filter(post_id=post_id)
        )
        if publications:
            post = publications[0].post
            for publication in publications:
                publication.post = post
        else:
            post = Post.objects.select_for_update().filter(pk=post_id).first()
        if post is None or post.status != Post.Status.PUBLISHING:
            return None
        if any(p.status not in Publication.FINAL for p in publications):
            return None
        published = [p for p in publications if p.status == Publication.Status.PUBLISHED]
        if publications and len(published) == len(publications):
            post.status = Post.Status.PUBLISHED
        elif published:
            post.status = Post.Status.PARTIAL
        else:
            post.status = Post.Status.FAILED
            if not publications and not post.error:
                post.error = NOTHING_TO_PUBLISH
        post.published_at = max((p.published_at for p in published), default=None)
        post.save(update_fields=["status", "error", "published_at", "updated_at"])
        signals.emit_completed(post, publications)
        series_continue(post=post)
    return post.status


def post_fail(*, post: Post, reason: str) -> bool:
    """A post that cannot even be started (a bad row) fails alone, with its reason on it."""
    with transaction.atomic():
        updated = Post.objects.filter(pk=post.pk, status__in=[Post.Status.SCHEDULED, Post.Status.PUBLISHING]).update(
            status=Post.Status.FAILED, error=safe_text(reason), updated_at=timezone.now()
        )
        if updated:
            post.refresh_from_db()
            signals.emit_completed(post, list(post.publications.all()))
            series_continue(post=post)
    return bool(updated)
