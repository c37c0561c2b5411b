"""Events recorded for the endpoints that want them (the outbox): one implementation, one statement.

``event_sql`` writes the statement's pieces (which endpoints, the payload's bytes, the Event row, a
Delivery per endpoint and its job id); ``event_record`` runs them as a statement of their own, and
the publishing statements embed them (planrrr.sql), so that no path can choose other endpoints,
other bytes or other rows."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from planrrr import outages
from webhooks.models import EVENT_TYPES, TEST_EVENT, Delivery, Endpoint, Event
from webhooks.services.queue import JOB_ID_SQL, enqueue_now
from webhooks.services.redact import scrubbed


def event_record(*, team_id: int, event: str, data: dict[str, Any]) -> Event | None:
    """Record ``event`` for every active endpoint of the team that subscribes to it.

    Call it inside the transaction of the state change it reports: the event and its
    deliveries commit or roll back with it, and the delivery jobs are enqueued only after
    commit. One statement (``event_sql``'s), atomic on its own outside a transaction; returns
    None when no endpoint wants the event (and then writes nothing).
    """
    return event_run(event_sql(team_id=team_id, event=event, data=data))


@dataclass(frozen=True)
class EventSql:
    """An event recorded by a statement: its own (``event_record``), or the one that makes the
    change it reports (``event_sql``'s ``when``)."""

    # CTEs to put in the statement's WITH: the endpoints, the Event row, a Delivery per endpoint.
    ctes: str
    params: dict[str, Any]
    # A scalar expression for the statement's SELECT list: the deliveries made, as a JSON list
    # of [id, job_id] (empty when no endpoint wanted the event or nothing changed).
    deliveries: str
    # The Event row the statement inserts when an endpoint wants the event.
    event: Event

    def enqueue(self, deliveries: list | None) -> None:
        """Once the statement ran: enqueue the deliveries' jobs after commit (at once outside a
        transaction). A Redis outage at commit must not break the caller: the sweep enqueues
        what Redis missed."""
        jobs = [(delivery_id, job_id) for delivery_id, job_id in deliveries or []]
        if jobs:
            outages.after_commit(lambda: enqueue_now(jobs))


def event_sql(
    *,
    team_id: int,
    event: str,
    data: dict[str, Any],
    when: str | None = None,
    name: str = "event",
    endpoint_ids: list[int] | None = None,
) -> EventSql:
    """The event as part of a hand-written statement (``planrrr.sql``): recorded for every active
    endpoint of the team that subscribes to it when the statement runs (``endpoint_ids``: those
    endpoints of the team instead, whatever they subscribe to, as a test event is sent), and,
    with ``when``, only if the statement's CTE ``when`` returns a row (the change it reports was
    made). One atomic statement, one round trip."""
    from planrrr.sql import insert_select

    if event not in EVENT_TYPES and not (event == TEST_EVENT and endpoint_ids is not None):
        raise ValueError(f"Unknown webhook event {event!r}; known: {', '.join(EVENT_TYPES)}.")
    connection = transaction.get_connection(Event.objects.db)
    now = timezone.now()
    msg_id = f"msg_{uuid.uuid4().hex}"
    payload = _payload(msg_id, event, now, data)
    row = {"id": msg_id, "team_id": team_id, "type": event, "payload": payload, "created_at": now}
    event_columns, event_values, params = insert_select(Event, row, connection, prefix=f"{name}_e")
    delivery_columns, delivery_values, delivery_params = insert_select(
        Delivery,
        {"next_attempt_at": now, "created_at": now, "updated_at": now},
        connection,
        prefix=f"{name}_d",
        expressions={"event_id": f"{name}_row.id", "endpoint_id": f"{name}_endpoints.id", "job_id": JOB_ID_SQL},
    )
    params.update(delivery_params)
    params[f"{name}_team"] = team_id
    if endpoint_ids is None:
        params[f"{name}_type"] = event
        chosen = f"endpoint.active AND (cardinality(endpoint.events) = 0 OR %({name}_type)s = ANY(endpoint.events))"
    else:
        params[f"{name}_ids"] = list(endpoint_ids)
        chosen = f"endpoint.id = ANY(%({name}_ids)s)"
    if when is not None:
        chosen += f" AND EXISTS (SELECT 1 FROM {when})"
    ctes = f"""
        {name}_endpoints AS (
            SELECT endpoint.id FROM {Endpoint._meta.db_table} AS endpoint
             WHERE endpoint.team_id = %({name}_team)s AND {chosen}
        ),
        {name}_row AS (
            INSERT INTO {Event._meta.db_table} ({event_columns})
            SELECT {event_values} WHERE EXISTS (SELECT 1 FROM {name}_endpoints)
            RETURNING id
        ),
        {name}_deliveries AS (
            INSERT INTO {Delivery._meta.db_table} ({delivery_columns})
            SELECT {delivery_values} FROM {name}_row CROSS JOIN {name}_endpoints
            RETURNING id, job_id
        )"""
    deliveries = f"(SELECT COALESCE(json_agg(json_build_array(id, job_id)), '[]') FROM {name}_deliveries)"
    return EventSql(ctes=ctes, params=params, deliveries=deliveries, event=Event(**row))


def event_run(recorded: EventSql) -> Event | None:
    """Run an event's statement on its own (inside the caller's transaction, if any): the Event
    written, or None when no endpoint wanted it."""
    connection = transaction.get_connection(Event.objects.db)
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {recorded.ctes} SELECT {recorded.deliveries}", recorded.params)
        deliveries = cursor.fetchone()[0]
    if not deliveries:
        return None
    recorded.enqueue(deliveries)
    event = recorded.event
    event._state.adding, event._state.db = False, connection.alias
    return event


def _payload(msg_id: str, event: str, now: datetime, data: dict[str, Any]) -> bytes:
    body = {
        "id": msg_id,
        "event": event,
        "timestamp": now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "data": data,
    }
    # Serialised once: these bytes are stored, signed and sent, at every attempt. Scrubbed
    # first: an error text quoted in the data must not carry a token to the team's systems.
    return json.dumps(scrubbed(body), separators=(",", ":"), default=json_default).encode()


def json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if hasattr(value, "isoformat"):  # date, time
        return value.isoformat()
    return str(value)  # Decimal, UUID
