"""Shared helpers of the analytics tests: published posts written as the publish path leaves them."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from connections.models import Connection
from publishing.models import Post, Publication


class Published:
    """Needs ``self.team`` (publishing.tests.base.Actors)."""

    def published_many(self, connection: Connection, external_ids: list[str]) -> list[Publication]:
        """Many at once (two statements): the budget's tests need hundreds."""
        at = timezone.now() - timedelta(minutes=30)
        posts = Post.objects.bulk_create(
            Post(
                team=connection.team,
                content=f"Hello {external_id}",
                platforms=[connection.platform],
                channels=[connection.pk],
                status=Post.Status.PUBLISHED,
                scheduled_at=at,
                published_at=at,
            )
            for external_id in external_ids
        )
        return Publication.objects.bulk_create(
            Publication(
                post=post,
                connection=connection,
                platform=connection.platform,
                status=Publication.Status.PUBLISHED,
                external_id=external_id,
                published_at=at,
                attempt_count=1,
            )
            for post, external_id in zip(posts, external_ids, strict=True)
        )

    def published(
        self, connection: Connection, external_id: str, *, at: datetime | None = None, content: str = "Hello"
    ) -> Publication:
        at = at or timezone.now() - timedelta(minutes=30)
        post = Post.objects.create(
            team=connection.team,
            content=content,
            platforms=[connection.platform],
            channels=[connection.pk],
            status=Post.Status.PUBLISHED,
            scheduled_at=at,
            published_at=at,
        )
        return Publication.objects.create(
            post=post,
            connection=connection,
            platform=connection.platform,
            status=Publication.Status.PUBLISHED,
            external_id=external_id,
            published_at=at,
            attempt_count=1,
        )
