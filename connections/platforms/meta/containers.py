"""What Instagram and Threads share: a post is a *container* Meta processes (IN_PROGRESS, then
FINISHED) before it can be published, kept in ``draft.state`` (``containerId``, and the child
containers of a carousel in ``mediaIds``) so that a retry never makes one twice. A video
(an Instagram Reel, a Threads video, a carousel's video item) is processed for longer than an
image: it is looked at again every META_VIDEO_POLL_SECONDS rather than every few seconds.

https://developers.facebook.com/docs/instagram-platform/content-publishing,
https://developers.facebook.com/docs/threads/posts: a container lives 24 hours (EXPIRED), may
fail processing (ERROR, with the platform's reason), and says PUBLISHED when an earlier publish
went through although its answer was lost.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from django.utils import timezone

from connections.platforms.base import Account, Draft, NotReady, PermanentError, Published, TransientError
from connections.platforms.config import value_of
from connections.platforms.kinds import split_media
from connections.platforms.meta import META_VIDEO_POLL_SECONDS


class ContainerMixin:
    """For an HttpAdapter whose posts are Meta containers. A subclass names the fields of its
    container status and the words of its messages."""

    # GET /{container-id}?fields=<status_field>,<reason_field>.
    status_field: ClassVar[str]
    reason_field: ClassVar[str]
    # What the container holds ("the media") and where a published post is looked for
    # ("in the account's recent media").
    container_holds: ClassVar[str]
    published_where: ClassVar[str]
    # How soon to look again at a container of images still IN_PROGRESS, without holding a worker
    # (one with a video: META_VIDEO_POLL_SECONDS).
    container_poll_interval: ClassVar[timedelta] = timedelta(seconds=2)
    # The items one carousel may hold, images and videos together.
    max_carousel_items: ClassVar[int]

    def media_problems(self, media_urls: list[str]) -> list[str]:
        """The base's rules, plus a carousel's size when it mixes images and videos (each kind's own
        maximum is the base's)."""
        problems = super().media_problems(media_urls)
        images, videos = split_media(media_urls)
        items, most = len(images) + len(videos), self.max_carousel_items
        if images and videos and items > most:
            problems.append(
                f"{self.label} takes at most {most} items in a carousel, images and videos together; this post "
                f"has {items} ({len(images)} images, {len(videos)} videos): remove {items - most}."
            )
        return problems

    def container_wait(self, draft: Draft) -> timedelta:
        """How soon to look again at the draft's container while Meta processes it."""
        if split_media(draft.media_urls)[1]:
            return timedelta(seconds=value_of(META_VIDEO_POLL_SECONDS))
        return self.container_poll_interval

    def container_ready(self, account: Account, draft: Draft, container_id: str) -> Published | None:
        """None when the container is FINISHED (publish it); the post when an earlier publish
        went through; else raises: NotReady (still processing), TransientError (expired: made
        anew next time; or published but not found yet), PermanentError (processing failed)."""
        fields = f"{self.status_field},{self.reason_field}"
        response = self.request("GET", f"/{container_id}", account=account, params={"fields": fields})
        body = self.json(response)
        status = body.get(self.status_field)
        if status == "IN_PROGRESS":
            raise NotReady(
                f"{self.label} is still processing {self.container_holds} (container {container_id} is IN_PROGRESS).",
                retry_at=timezone.now() + self.container_wait(draft),
            )
        if status == "EXPIRED":
            # Containers live 24 hours; children expire with their carousel. Make new ones.
            self.forget_containers(draft)
            raise TransientError(f"{self.label} container {container_id} expired before it was published; making anew.")
        if status == "ERROR":
            self.forget_containers(draft)
            raise PermanentError(
                f"{self.label} API error: could not process {self.container_holds} (container {container_id}): "
                f"{body.get(self.reason_field) or 'no reason given'}"
            )
        if status == "PUBLISHED":
            # An earlier publish went through but its answer was lost.
            external_id = self.find_published(account, draft, since=timezone.now() - timedelta(days=1))
            if external_id:
                return Published(external_id=external_id)
            raise TransientError(
                f"{self.label} says container {container_id} is already published but its post is not "
                f"{self.published_where} yet.",
                maybe_sent=True,
            )
        if status != "FINISHED":
            raise self.malformed(response, f"unknown container {self.status_field} {status!r}")
        return None

    def forget_containers(self, draft: Draft) -> None:
        draft.state.pop("containerId", None)
        draft.state.pop("mediaIds", None)
