"""A post's status derived from its publications, decided once, and told once."""

from __future__ import annotations

import functools

from django.db import transaction
from django.utils import timezone

from connections.models import Connection
from planrrr import sql
from planrrr.text import safe_text
from publishing.models import Post, Publication
from publishing.services import signals
from publishing.services.series import series_continue

NOTHING_TO_PUBLISH = "This post has no publication to make: choose at least one platform, then schedule it again."


def post_finalize(*, post_id: int) -> str | None:
    """Derive the post's status once every publication is final: PUBLISHED, PARTIAL or
    FAILED, and tell the team (``post.completed``) exactly once. A publishing post with no
    publication at all (a row written with no platforms) fails, saying so.

    Two round trips at most, no lock held between them: one read of the post's publications
    (for all but the last publication to finish, that is all: one is still open); then one
    statement that sets the post's status and records its event, only if the post is still
    PUBLISHING, its row as it was read, and none of its publications is open. Called after each
    publication's final status is committed, so whichever commits last sees all the others
    final; two callers that both see that race for the post's row, and the loser's UPDATE
    (re-checked on the row as the winner left it) changes nothing. A final publication of a
    PUBLISHING post opens again only by ``retry.publications_reopen``, which writes the post's
    row in the same transaction: a finalize that read the publications before it committed
    finds the row changed and leaves the post publishing, so what was read and still matches
    the row stays true."""
    rows = sql.execute(Post, read_sql(), {"finalize_post": post_id})
    return _post_finalize(post_id, *read_rows(rows))


def post_finalize_settled(*, publication: Publication, rows: list[tuple]) -> str | None:
    """``post_finalize`` right after ``publication`` reached a final status, given the post as the
    statement that settled it read it (``read_sql()``, in that statement's snapshot, where the
    publication is still as it was). If every other publication was final then, that read is
    still true unless the post's row changed since (``post_finalize``): finalize from it without
    reading again, one round trip saved. Otherwise one may have ended since: read."""
    post, publications = read_rows(rows)
    others = [row for row in publications if row["id"] != publication.pk]
    if any(row["status"] not in Publication.FINAL for row in others):
        return post_finalize(post_id=publication.post_id)
    own = {name: publication_value(publication, name) for name in publication_read()}
    publications = [own if row["id"] == publication.pk else row for row in publications]
    return _post_finalize(publication.post_id, post, publications)


def _post_finalize(post_id: int, read: dict | None, publications: list[dict]) -> str | None:
    if read is None or read["status"] != Post.Status.PUBLISHING:
        return None
    if any(p["status"] not in Publication.FINAL for p in publications):
        return None
    post = Post(pk=post_id, team_id=read["team_id"], error=read["error"], updated_at=read["updated_at"])
    published = [p for p in publications if p["status"] == Publication.Status.PUBLISHED]
    if publications and len(published) == len(publications):
        post.status = Post.Status.PUBLISHED
    elif published:
        post.status = Post.Status.PARTIAL
    else:
        post.status = Post.Status.FAILED
        if not publications and not post.error:
            post.error = NOTHING_TO_PUBLISH
    post.published_at = max((p["published_at"] for p in published), default=None)
    if not read["repeat"] and read["series_id"] is None:
        return post.status if _finalize(post, publications) else None
    # A series: its next occurrence is made in the same transaction as the end of this one.
    with transaction.atomic():
        if not _finalize(post, publications):
            return None
        series_continue(post=Post.objects.select_related("series", "team").get(pk=post_id))
    return post.status


def _finalize(post: Post, publications: list[dict]) -> bool:
    """The post's status and its ``post.completed`` event, in one statement, only if the post's
    row is still as it was read (``post.updated_at``: a publication reopened since wrote it);
    False if another caller did it first, or the row changed."""
    event = signals.event_sql(post.team_id, "post.completed", signals.completed_data(post, publications), when="done")
    params = {
        "post": post.pk,
        "status": post.status,
        "error": post.error,
        "published_at": post.published_at,
        "read_at": post.updated_at,
        "now": timezone.now(),
        "publishing": Post.Status.PUBLISHING,
        "open": list(OPEN),
        **event.params,
    }
    (row,) = sql.execute(
        Post,
        f"""WITH done AS (
                UPDATE {Post._meta.db_table}
                   SET status = %(status)s, error = %(error)s, published_at = %(published_at)s, updated_at = %(now)s
                 WHERE id = %(post)s AND status = %(publishing)s AND updated_at = %(read_at)s
                   AND NOT EXISTS (
                         SELECT 1 FROM {Publication._meta.db_table}
                          WHERE post_id = %(post)s AND status = ANY(%(open)s)
                       )
                RETURNING id
            ), {event.ctes}
            SELECT (SELECT count(*) FROM done), {event.deliveries}""",
        params,
    )
    if not row[0]:
        return False
    event.enqueue(row[1])
    return True


OPEN = (Publication.Status.PENDING, Publication.Status.PUBLISHING)

# What finalize reads, by name: of the post, its status and what its end writes; of each
# publication, its status, its time and what ``post.completed`` says of it (the payload's fields,
# ``signals.COMPLETED_PUBLICATION``). Read here, in the statement that settles a publication
# (outcome._write) and, with the ORM, by post_fail: a field the payload gains is read in each.
POST_READ = ("status", "team_id", "error", "repeat", "series_id", "updated_at")


def publication_read() -> tuple[str, ...]:
    """The publication's fields finalize reads (the payload's, as they are declared now)."""
    return tuple(dict.fromkeys(("id", "status", "published_at", *signals.COMPLETED_PUBLICATION.values())))


# A field of the publication's account read with it ("connection__name"): the account's column.
_ACCOUNT = "connection__"


def publication_value(publication: Publication, name: str):
    """The value of ``name`` (a field, or ``connection__<field>``) on a Publication instance."""
    if name.startswith(_ACCOUNT):
        return getattr(publication.connection, name.removeprefix(_ACCOUNT)) if publication.connection_id else None
    return getattr(publication, Publication._meta.get_field(name).attname)


def read_sql() -> str:
    """The post and each of its publications (none: one row of NULLs), the columns named
    ``post_<field>`` and ``publication_<field>`` (``read_rows`` reads them back by name)."""
    return _read_sql(publication_read())


@functools.cache
def _read_sql(publication_fields: tuple[str, ...]) -> str:
    post_columns = [f"post.{Post._meta.get_field(name).column} AS post_{name}" for name in POST_READ]
    publication_columns = [
        f"account.{Connection._meta.get_field(name.removeprefix(_ACCOUNT)).column} AS publication_{name}"
        if name.startswith(_ACCOUNT)
        else f"publication.{Publication._meta.get_field(name).column} AS publication_{name}"
        for name in publication_fields
    ]
    return f"""
    SELECT {", ".join(post_columns + publication_columns)}
      FROM {Post._meta.db_table} AS post
      LEFT JOIN {Publication._meta.db_table} AS publication ON publication.post_id = post.id
      LEFT JOIN {Connection._meta.db_table} AS account ON account.id = publication.connection_id
     WHERE post.id = %(finalize_post)s
     ORDER BY publication.id
"""


def read_rows(rows: list[tuple]) -> tuple[dict | None, list[dict]]:
    """``read_sql()``'s rows by name: the post (None if it is gone) and its publications."""
    if not rows:
        return None, []
    publication_fields = publication_read()
    width = len(POST_READ)
    post = dict(zip(POST_READ, rows[0][:width], strict=True))
    publications = [dict(zip(publication_fields, row[width:], strict=True)) for row in rows]
    return post, [p for p in publications if p["id"] is not None]


def post_fail(*, post: Post, reason: str) -> bool:
    """A post that cannot even be started (a bad row) fails alone, with its reason on it."""
    with transaction.atomic():
        updated = Post.objects.filter(pk=post.pk, status__in=[Post.Status.SCHEDULED, Post.Status.PUBLISHING]).update(
            status=Post.Status.FAILED, error=safe_text(reason), updated_at=timezone.now()
        )
        if updated:
            post.refresh_from_db()
            signals.emit_completed(post, list(post.publications.order_by("pk").values(*publication_read())))
            series_continue(post=post)
    return bool(updated)
