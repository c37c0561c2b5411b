"""A job for the worker tests: a state change that records a webhook event, then a crash."""

import time

import django_rq
from django.db import transaction

from webhooks.services import event_record

COMMITTED_KEY = "webhooks-tests:committed"


def record_event_then_hang(team_id: int, data: dict) -> None:
    """Commit an event, then hang before its delivery job reaches Redis (the test kills us there)."""
    with transaction.atomic():
        # Registered before event_record's own callback, so it runs first, after the commit.
        transaction.on_commit(_signal_and_hang)
        event_record(team_id=team_id, event="post.published", data=data)


def _signal_and_hang() -> None:
    django_rq.get_connection("webhooks").set(COMMITTED_KEY, "1")
    time.sleep(60)
