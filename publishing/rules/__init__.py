"""The rule book: every check a post must pass and every message that says what to change, in
one place. The door (services, the admin's form, later the API) and the publish path (a row
can be written straight into the database, past the door) ask the same questions here and get
the same words back.

Two layers:

* ``post_problems``: what is wrong with a post someone is writing, per field, every problem at
  once (a ValidationError's ``message_dict``);
* ``post_row_problem`` / ``publication_refusal``: what is wrong with a row already in the
  database, one sentence, so that the bad row fails alone with its reason.
"""

from __future__ import annotations

from datetime import datetime

from connections.models import Connection
from connections.platforms import get_adapter
from connections.platforms.base import Adapter
from planrrr.models import Team
from publishing.rules.content import HAS_MEDIA_SQL, content_for, has_media, options_for, thread_for
from publishing.rules.fields import (
    REPEAT_MIN_GAP,
    first_comment_problems,
    is_blank,
    media_urls_problems,
    out_of_range,
    repeat_problem,
    repeat_rule,
    scheduled_at_problem,
    text_problem,
    thread_platform_problems,
    thread_shape_problems,
    variants_problems,
)
from publishing.rules.messages import (
    EMPTY,
    MAX_MEDIA_URL_LENGTH,
    MAX_MEDIA_URLS,
    MAX_THREAD_PARTS,
    NO_PLATFORMS,
    PLATFORM_NAMES,
    THREAD_PLATFORMS,
    UNDECRYPTABLE,
    gave_up,
    label,
    listed_twice,
    no_connection,
    no_threads,
    no_zone,
    other_team,
    reconnect,
    spoken_list,
    unknown_platform,
    wrong_platform,
)
from publishing.rules.targets import (
    NO_TARGETS,
    Chosen,
    Target,
    active_accounts,
    channel_label,
    connection_problem,
    door_targets,
    post_targets,
    row_targets,
    several_accounts,
)

# The rule book's vocabulary, used by the door, the admin, the API and the publish path as
# ``rules.<name>``: its checks of one field (fields), what each platform gets (content), its
# words (messages), and the book itself below.
__all__ = [
    "EMPTY",
    "NO_TARGETS",
    "HAS_MEDIA_SQL",
    "MAX_MEDIA_URL_LENGTH",
    "MAX_MEDIA_URLS",
    "MAX_THREAD_PARTS",
    "NO_PLATFORMS",
    "REPEAT_MIN_GAP",
    "THREAD_PLATFORMS",
    "UNDECRYPTABLE",
    "Chosen",
    "Target",
    "active_accounts",
    "channel_label",
    "connection_problem",
    "door_targets",
    "post_targets",
    "row_targets",
    "several_accounts",
    "content_for",
    "expiry_warnings",
    "first_comment_problems",
    "gave_up",
    "has_media",
    "is_blank",
    "label",
    "listed_twice",
    "media_urls_problems",
    "no_connection",
    "no_threads",
    "no_zone",
    "options_for",
    "other_team",
    "out_of_range",
    "post_notices",
    "post_problems",
    "post_row_problem",
    "publication_refusal",
    "reconnect",
    "repeat_problem",
    "repeat_rule",
    "scheduled_at_problem",
    "spoken_list",
    "text_problem",
    "thread_for",
    "thread_platform_problems",
    "thread_shape_problems",
    "unknown_platform",
    "variants_problems",
    "wrong_platform",
]

# A longest platform name: longer is not a platform (and would not fit the column).
_PLATFORM_MAX = 20


def post_problems(
    *,
    team: Team,
    content: object,
    platforms: list,
    media_urls: list,
    targets: Chosen | None = None,
    scheduled_at: object = None,
    publish_now: bool = False,
    variants: object = None,
    thread: object = None,
    first_comment: object = "",
    repeat: object = "",
) -> dict[str, list[str]]:
    """Everything that would make this post fail, per field, each message saying what to
    change. Runs before anything is saved or enqueued. ``targets``: where it goes, as
    ``door_targets`` resolved it (its problems are the post's); by default ``platforms`` resolved
    alone. Every target's rules are checked on the text, media and thread it will get
    (``content_for``, with the limits of its own account: a Mastodon instance's): a problem of a
    variant's text or media is keyed ``variants.PLATFORM.content`` or ``variants.ID.content``."""
    problems: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        if message not in problems.get(field, []):  # two accounts of one platform: said once
            problems.setdefault(field, []).append(message)

    content_ok = True
    if problem := text_problem(content, "The text"):
        add("content", problem)
        content_ok = False
    elif is_blank(content):
        add("content", EMPTY)
        content_ok = False
    if problem := scheduled_at_problem(scheduled_at, publish_now=publish_now):
        add("scheduled_at", problem)
    seen: list[str] = []
    for name in platforms:
        if not isinstance(name, str) or name not in PLATFORM_NAMES:
            add("platforms", unknown_platform(name))
        elif name in seen:
            add("platforms", listed_twice(name))
        else:
            seen.append(name)
    if targets is None:
        targets = door_targets(team=team, platforms=seen)
    if not platforms and not targets.connections and "channels" not in targets.problems:
        add("platforms", NO_PLATFORMS)
    for field, messages in targets.problems.items():
        for message in messages:
            add(field, message)
    seen += [name for name in targets.platforms if name not in seen]
    urls_ok = True
    for problem in media_urls_problems(media_urls):
        add("media_urls", problem)
        urls_ok = False
    variant_problems = variants_problems(variants, seen, targets.ids)
    for field, messages in variant_problems.items():
        problems.setdefault(field, []).extend(messages)
    thread_problems = thread_shape_problems(thread, "thread")
    for field, messages in thread_problems.items():
        problems.setdefault(field, []).extend(messages)
    for message in first_comment_problems(first_comment, targets.platforms):
        add("first_comment", message)
    if problem := repeat_problem(repeat, scheduled_at, team.zone):
        add("repeat", problem)
    fields = {"content": content, "media_urls": media_urls, "variants": variants, "thread": thread}
    entries = variants if isinstance(variants, dict) else {}
    for connection in targets.connections:
        name, channel = connection.platform, connection.pk
        keys = [key for key in (str(channel), name) if isinstance(entries.get(key), dict)]
        if any(k.startswith(f"variants.{key}.") or k == f"variants.{key}" for key in keys for k in variant_problems):
            continue

        def where(field: str, keys=keys) -> str:
            """The field a target's value comes from: its channel's variant, its platform's, or the post's."""
            return next((f"variants.{key}.{field}" for key in keys if field in entries[key]), field)

        base_url = connection.base_url
        thread_from = where("thread")
        if thread_from != "thread" or not thread_problems:
            found = thread_platform_problems(
                thread_for(fields, name, channel=channel), name, thread_from, base_url=base_url
            )
            for field, messages in found.items():
                for message in messages:
                    add(field, message)
        adapter = get_adapter(name)
        details = connection.details if isinstance(connection.details, dict) else {}
        for message in adapter.options_problems(options_for(fields, name, channel=channel), details=details):
            found = where("options")
            add(found if found != "options" else f"variants.{name}.options", message)
        text_ok = content_ok or where("content") != "content"
        media_ok = urls_ok or where("media_urls") != "media_urls"
        if not (text_ok and media_ok):
            continue
        text, urls = content_for(fields, name, channel=channel)
        media_problems = set(adapter.media_problems(urls))
        for message in adapter.validate(text=text, media_urls=urls, base_url=base_url):
            media = message in media_problems or "image" in message
            add(where("media_urls" if media else "content"), message)
    return problems


def post_notices(post) -> list[dict]:
    """What the person scheduling ``post`` should know about its targets although nothing is
    refused (TikTok: an app not yet audited posts privately only): ``[{"channelId", "platform",
    "message"}]``, per publication, in its order, read from the account's details now (so a notice
    goes once the platform's answer changes). Only the platforms whose adapter says such things
    read their account."""
    notices = []
    for publication in post.publications.all():
        adapter = get_adapter(publication.platform)
        if type(adapter).options_notices is Adapter.options_notices or publication.connection_id is None:
            continue
        connection = publication.connection
        details = connection.details if isinstance(connection.details, dict) else {}
        options = options_for(post, publication.platform, channel=connection.pk)
        for message in adapter.options_notices(options, details=details):
            notices.append({"channelId": connection.pk, "platform": publication.platform, "message": message})
    return notices


def expiry_warnings(*, connections: list[Connection], scheduled_at: datetime | None) -> dict[int, str]:
    """Per account (by id), a warning when its token ends before the post's time and cannot be
    renewed without the person ("your LinkedIn token for Acme Coffee expires on 3 Jan 2027,
    before this post")."""
    warnings = {}
    if scheduled_at is None:
        return warnings
    for connection in connections:
        ends = connection.grant_expires_at
        if ends is not None and ends < scheduled_at:
            name = label(connection.platform)
            account = connection.name or connection.account_id
            warnings[connection.pk] = (
                f"Your {name} token for {account} expires on {ends:%-d %b %Y %H:%M} UTC, before this post: "
                f"reconnect that {name} account before then, or the post will fail there."
            )
    return warnings


# --- rows past the door --------------------------------------------------------------------


def post_row_problem(platforms: object) -> str | None:
    """Why a post row cannot get its publications at all (a row written by SQL with no
    platforms, a NULL in the list, a name longer than any platform's), or None. Unknown
    names that fit are the publications' own problem (each fails alone, naming it)."""
    if not platforms:
        return "This post lists no platforms: choose at least one, then schedule it again."
    for name in platforms:
        if not isinstance(name, str) or not name or len(name) > _PLATFORM_MAX:
            return f"This post lists {name!r} among its platforms: {unknown_platform(name)}"
    return None


def publication_refusal(publication) -> str | None:
    """Why this publication cannot be attempted at all (its post or connection changed under
    it, or its row was written past the door), or None. Checked at every attempt."""
    post = publication.post
    if publication.platform not in PLATFORM_NAMES:
        return unknown_platform(publication.platform)
    if problem := connection_problem(post.team_id, publication.platform, publication.connection):
        return problem
    text, urls = content_for(post, publication.platform, channel=publication.connection_id)
    problem = text_problem(text, "The text")
    if problem is None and is_blank(text):
        problem = EMPTY
    if problem:
        return problem
    if not isinstance(urls, list):
        return "The media URLs of this post are not a list: give a list of URLs."
    problems = media_urls_problems(urls)
    base_url = publication.connection.base_url if publication.connection else ""
    if not problems:
        problems = get_adapter(publication.platform).validate(text=text, media_urls=urls, base_url=base_url)
    if not problems:
        problems = _thread_refusal(post, publication.platform, base_url, publication.connection_id)
    if not problems and publication.connection is not None:
        details = publication.connection.details if isinstance(publication.connection.details, dict) else {}
        options = options_for(post, publication.platform, channel=publication.connection_id)
        problems = get_adapter(publication.platform).options_problems(options, details=details)
    return " ".join(problems) or None


def _thread_refusal(post, platform: str, base_url: str, channel: int | None) -> list[str]:
    """The thread's problems for a row past the door, as sentences."""
    thread = thread_for(post, platform, channel=channel)
    found = thread_shape_problems(thread, "thread") or thread_platform_problems(
        thread, platform, "thread", base_url=base_url
    )
    return [message for messages in found.values() for message in messages]
