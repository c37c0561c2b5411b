"""The backfill of a channel's posts made outside planrrr (docs/analytics.md, "Backfill").

When an account is connected (and once for every account connected before this existed), its own
recent posts are listed from the platform, newest first, as far back as it lists them and at most
90 days (``LOOKBACK``), and each is tracked as an ``ExternalPost``: read at once, then on the
decaying schedule by its age (a post 40 days old weekly, one 85 days old once more at day 90). A
post older than 90 days is not listed, so never read. planrrr's own posts (a publication's id, or
another id the platform knows the post by, its thread parts, its first comment) are not taken.

It runs inside the channel's sync job, after planrrr's own posts and within the same slice and
budget: a page at a time, each page's posts written with the platform's cursor of the next page,
so a worker killed mid-backfill resumes at that page (a page listed twice adds nothing: one row per
post). It ends when the platform lists nothing more since then, saying how many it found, or at
once, saying why, where planrrr lists no posts of the platform.

The channel's backfill, as a table (ChannelSync's fields; who moves it, when):

    pending -> listing   the sync job, first page: backfill_since (now - 90 days)
    listing -> listing   the sync job, each page: the posts, backfill_cursor, backfill_found
    listing -> done      the sync job, no next page (or the same cursor again): backfill_done_at
    pending -> done      the sync job, the platform lists no posts (or gives no figures for
                         this account or its posts): backfill_done_at, why in backfill_detail
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import connection as db
from django.db import transaction

from analytics.models import COLUMNS, ChannelSync, ExternalPost
from analytics.services.schedule import next_sync_at
from connections.models import Connection
from connections.platforms.base import Account, PermanentError, PlatformError
from connections.platforms.figures import POST_NAMES, Figures, ListedPost
from planrrr.text import safe_text

LOOKBACK = timedelta(days=90)
# Readings in a row without the post before it is no longer read (deleted).
MAX_MISSES = 3
FIELDS = ("backfill_since", "backfill_cursor", "backfill_done_at", "backfill_found", "backfill_detail")


def backfill_step(
    *, connection: Connection, state: ChannelSync, adapter: Any, reader: Any, calls: Any, now: datetime
) -> None:
    """List pages of the account's posts while the job's slice and budget allow (see the module)."""
    if state.backfill_done_at is not None:
        return
    account = Account.of(connection)
    why = adapter.metrics_refused(account) or adapter.post_metrics_refused(account) or adapter.backfill_refused(account)
    if why:
        state.backfill_done_at, state.backfill_detail = now, why
        _keep(state)
        return
    if state.backfill_since is None:
        state.backfill_since = now - LOOKBACK
    while reader.may_call():
        cursor = state.backfill_cursor or None
        try:
            page, following = calls(adapter.recent_posts, since=state.backfill_since, cursor=cursor)
        except PermanentError as err:
            state.backfill_done_at = now
            state.backfill_detail = safe_text(f"Listing the account's posts failed for good: {err.message}", limit=1000)
            _keep(state)
            return
        with transaction.atomic():
            state.backfill_found += externals_add(connection, page, now)
            state.backfill_cursor = following or ""
            if following is None or following == cursor:
                state.backfill_done_at = now
                state.backfill_detail = (
                    f"{state.backfill_found} posts made outside planrrr since {state.backfill_since:%Y-%m-%d} found "
                    "and tracked."
                )
            _keep(state)
        if state.backfill_done_at is not None:
            return


def _keep(state: ChannelSync) -> None:
    """Written at once (not with the job's end): a worker killed after this resumes from here."""
    ChannelSync.objects.filter(pk=state.pk).update(**{name: getattr(state, name) for name in FIELDS})


def externals_add(connection: Connection, page: list[ListedPost], now: datetime) -> int:
    """Track the page's posts that are not planrrr's own and not tracked yet; returns how many."""
    ids = [i for post in page for i in (post.external_id, *post.aliases)]
    if not ids:
        return 0
    with db.cursor() as cursor:
        cursor.execute(
            """
            SELECT p.external_id FROM publishing_publication p
             WHERE p.connection_id = %(connection)s AND p.external_id = ANY(%(ids)s)
            UNION
            SELECT part FROM publishing_publication p,
                   jsonb_array_elements_text(CASE WHEN jsonb_typeof(p.metadata->'parts') = 'array'
                                                  THEN p.metadata->'parts' ELSE '[]'::jsonb END) part
             WHERE p.connection_id = %(connection)s AND part = ANY(%(ids)s)
            UNION
            SELECT p.metadata->'firstComment'->>'id' FROM publishing_publication p
             WHERE p.connection_id = %(connection)s AND p.metadata->'firstComment'->>'id' = ANY(%(ids)s)
            UNION
            SELECT e.external_id FROM analytics_externalpost e
             WHERE e.connection_id = %(connection)s AND e.external_id = ANY(%(ids)s)
            """,
            {"connection": connection.pk, "ids": ids},
        )
        known = {row[0] for row in cursor.fetchall()}
    new = [
        post
        for post in {post.external_id: post for post in page}.values()
        if post.external_id not in known and not known.intersection(post.aliases)
    ]
    ExternalPost.objects.bulk_create(
        [
            ExternalPost(
                connection=connection,
                team_id=connection.team_id,
                platform=connection.platform,
                external_id=post.external_id,
                published_at=post.published_at,
                text=post.text[:300],
                url=post.url[:500],
                found_at=now,
                # Read at once, then by its age.
                next_sync_at=now,
            )
            for post in new
        ],
        ignore_conflicts=True,
    )
    return len(new)


def externals_read(*, connection: Connection, reader: Any, now: datetime, label: str, limit: int) -> None:
    """Read the channel's due posts made outside planrrr, in the job's slice and budget."""
    due = list(
        ExternalPost.objects.filter(connection=connection, next_sync_at__lte=now).order_by("next_sync_at")[:limit]
    )
    reader.read(
        due,
        ids_of=lambda post: [post.external_id],
        record=lambda group, found: externals_record(group, found, now, label=label),
        give_up=lambda group, err: externals_give_up(group, err, now),
    )


def externals_record(group: list[ExternalPost], found: dict[str, Figures], now: datetime, *, label: str) -> None:
    for post in group:
        figures = found.get(post.external_id)
        if figures is None:
            post.misses += 1
            post.next_sync_at = (
                None if post.misses >= MAX_MISSES else next_sync_at(published_at=post.published_at, after=now)
            )
            gone = " (deleted?): its figures stop at the last reading" if post.next_sync_at is None else ""
            post.error = f"{label} did not return this post at the last reading{gone}."
            continue
        if not figures.values and not figures.raw and all(name in figures.unavailable for name in POST_NAMES):
            post.next_sync_at, post.error = None, safe_text(figures.unavailable[POST_NAMES[0]], limit=1000)
            continue
        for name, column in COLUMNS.items():
            setattr(post, column, figures.values.get(name))
        post.raw, post.unavailable = figures.raw, figures.unavailable
        post.captured_at, post.syncs, post.misses, post.error = now, post.syncs + 1, 0, ""
        post.next_sync_at = next_sync_at(published_at=post.published_at, after=now)
    fields = ["misses", "next_sync_at", "error", "raw", "unavailable", "captured_at", "syncs", *COLUMNS.values()]
    ExternalPost.objects.bulk_update(group, fields)


def externals_give_up(group: list[ExternalPost], err: PlatformError, now: datetime) -> None:
    for post in group:
        post.error = safe_text(err.message, limit=1000)
        post.next_sync_at = next_sync_at(published_at=post.published_at, after=now)
    ExternalPost.objects.bulk_update(group, ["error", "next_sync_at"])
