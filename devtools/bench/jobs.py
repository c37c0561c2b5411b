"""The jobs of the bench's baselines, enqueued by reference (``devtools.bench.jobs.noop``) and
imported by the workers that run them."""

from __future__ import annotations

import requests
from django.utils import timezone

from connections.platforms import get_adapter
from planrrr.http import PlatformSession
from publishing.models import Publication


def noop() -> None:
    """The job of RQ's baseline: nothing, so what is measured is RQ itself (dequeue, fork,
    bookkeeping) with the workers under test."""


_session: requests.Session | None = None


def minimal_publish(publication_id: int, token: str) -> None:
    """The job of the minimal publish baseline: what any job publishing a row must do at the
    least. One SELECT (the text and the account), one HTTP POST to the same stand-in endpoint
    the pipeline's Facebook adapter calls (with its latency), one UPDATE (published, with the
    platform's id); no claim, no lease, no event, no metric, no next job. What the pipeline
    spends beyond it is the cost of planrrr's guarantees."""
    global _session
    if _session is None:
        # The session the adapters use: as many pooled connections as a worker has threads, and
        # the thread's database connection given back to the pool while the answer is awaited.
        _session = PlatformSession()
    content, account = (
        Publication.objects.filter(pk=publication_id).values_list("post__content", "connection__account_id").get()
    )
    url = f"{get_adapter('FACEBOOK').base_url}/{account}/feed"
    response = _session.post(url, data={"message": content, "access_token": token}, timeout=30)
    response.raise_for_status()
    Publication.objects.filter(pk=publication_id).update(
        status=Publication.Status.PUBLISHED, external_id=response.json()["id"], published_at=timezone.now()
    )
