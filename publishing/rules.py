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

import re
from datetime import UTC, datetime, timedelta

from dateutil.rrule import rrulestr
from django.conf import settings
from django.utils import timezone

from connections.models import Connection, Platform
from connections.platforms import adapter_classes, get_adapter
from connections.platforms.base import media_url_problem
from planrrr.crypto import is_undecryptable
from planrrr.models import Team

# Characters that show nothing: a post of only these is empty (zero-width space, joiners,
# word joiner, byte-order mark, soft hyphen, and the invisible separators of Unicode's Cf class
# that editors paste in).
_INVISIBLE = re.compile(r"[\s\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]+")
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
# A longest platform name: longer is not a platform (and would not fit the column).
_PLATFORM_MAX = 20
# The platform names, fixed once the adapters are registered: Platform.values builds its list
# anew at every call (~5 µs), and the publish path asks at every attempt.
_PLATFORMS = frozenset(Platform.values)


# --- messages ------------------------------------------------------------------------------


def label(platform: str) -> str:
    return Platform(platform).label if platform in _PLATFORMS else str(platform)


def spoken_list(words: list[str]) -> str:
    """ "X", "X and Bluesky", "X, Bluesky and Mastodon"."""
    return " and ".join(filter(None, [", ".join(words[:-1]), *words[-1:]]))


# The platforms that take threads, as their adapters say (``supports_threads``): "X, Bluesky and
# Mastodon". Help texts and refusals name them from here.
# A thread is published part after part within an attempt (each part a request, and its record
# written before the next): past a few dozen parts one attempt cannot finish within its job
# timeout, and the platforms' posting limits would stop it before its end anyway.
MAX_THREAD_PARTS = 25
# The most images any platform takes on one post (LinkedIn's 20): a longer list is refused
# before each URL is checked (each check resolves the host).
MAX_MEDIA_URLS = max(adapter.max_images for adapter in adapter_classes())
# The longest media URL kept (Post.media_urls' column; variants and thread parts keep theirs in
# JSON, with the same bound).
MAX_MEDIA_URL_LENGTH = 2_000
THREAD_PLATFORMS = spoken_list([adapter.label for adapter in adapter_classes() if adapter.supports_threads])


EMPTY = "The post is empty: write some text."
NO_PLATFORMS = "Choose at least one platform."


def unknown_platform(name: object) -> str:
    return f"Unknown platform {name!r}: choose from {', '.join(sorted(Platform.values))}."


def listed_twice(name: str) -> str:
    return f"{name} is listed twice: list each platform once."


def other_team(platform: str, connection: Connection) -> str:
    return f"The {label(platform)} connection #{connection.pk} belongs to another team: use one of yours."


def wrong_platform(platform: str, connection: Connection) -> str:
    return f"Connection #{connection.pk} is a {label(connection.platform)} account, not {label(platform)}."


def no_connection(team_id: int, platform: str) -> str:
    inactive = Connection.objects.filter(team_id=team_id, platform=platform).exclude(status=Connection.Status.ACTIVE)
    if inactive.exists():
        return f"Your {label(platform)} connection has expired or was revoked: reconnect it, or remove {platform}."
    return f"Your team has no {label(platform)} connection: connect an account, or remove {platform}."


def reconnect(platform: str, reason: str) -> str:
    name = label(platform)
    return f"{reason} — the {name} access token is expired or revoked: reconnect the {name} account in planrrr."


UNDECRYPTABLE = "The access token cannot be decrypted with TOKEN_ENCRYPTION_KEY (was the key changed?)"


def gave_up(reason: str, attempts: int) -> str:
    return f"{reason} (gave up after {attempts} attempts)"


# --- the door ------------------------------------------------------------------------------


def text_problem(value: object, what: str) -> str | None:
    """Why a text cannot be stored as given (a NUL byte, a lone surrogate), or None."""
    if not isinstance(value, str):
        return f"{what} must be text."
    if "\x00" in value:
        return f"{what} contains a NUL character (\\x00): remove it."
    if _UNSTORABLE.search(value):
        return f"{what} contains a broken character (a lone UTF-16 surrogate): retype or remove it."
    return None


def is_blank(content: str) -> bool:
    """True for text that shows nothing: spaces, zero-width and other invisible characters."""
    return not _INVISIBLE.sub("", content or "")


def scheduled_at_problem(scheduled_at: object, *, publish_now: bool = False) -> str | None:
    """Why ``scheduled_at`` cannot be used, or None. A naive time is ambiguous; one more than
    SCHEDULE_PAST_TOLERANCE_SECONDS in the past is almost always a mistake (a wrong year, a
    wrong zone): say so, unless the caller asked to publish now."""
    if scheduled_at is None:
        return None
    if not isinstance(scheduled_at, datetime):
        return "Give the time as a date and time with a time zone."
    if timezone.is_naive(scheduled_at):
        return no_zone(scheduled_at)
    if problem := out_of_range(scheduled_at):
        return problem
    tolerance = timedelta(seconds=settings.SCHEDULE_PAST_TOLERANCE_SECONDS)
    if not publish_now and scheduled_at < timezone.now() - tolerance:
        return (
            f"{scheduled_at.isoformat()} is in the past: pick a time from now on, or publish now "
            f"(times up to {settings.SCHEDULE_PAST_TOLERANCE_SECONDS // 60} minutes ago are taken as now)."
        )
    return None


def out_of_range(when: datetime) -> str | None:
    """Why an aware time cannot be kept, or None: beyond the years 1 to 9999 in UTC (Python's, so
    the ones a row can be read back with; PostgreSQL would store year 10000 and more)."""
    try:
        when.astimezone(UTC)
    except OverflowError:
        return (
            f"{when.isoformat()} is outside the years 1 to 9999 in UTC, the times planrrr can keep: "
            "pick a time within them."
        )
    return None


def no_zone(naive: datetime) -> str:
    return (
        f"{naive.isoformat()} has no time zone: give the offset "
        f"(e.g. {naive.isoformat()}+00:00) so the post goes out when you mean."
    )


# --- per-platform variants -----------------------------------------------------------------

VARIANT_KEYS = ("content", "media_urls", "thread")
PART_KEYS = ("content", "media_urls")


def variant_not_listed(platform: str) -> str:
    return f"{label(platform)} is not among this post's platforms: add {platform} to them, or remove its variant."


def variant_unknown_key(key: object) -> str:
    return f"Unknown key {key!r}: a variant takes {', '.join(VARIANT_KEYS)} only."


def no_threads(platform: str) -> str:
    # Facebook, Instagram and LinkedIn have no reply chains of a page's own posts: a thread
    # there would be comments, which people read differently. Say so rather than change it.
    return (
        f"{label(platform)} has no threads (only {THREAD_PLATFORMS} have): remove the thread, give {platform} "
        'a variant with an empty thread ("thread": []), or put the extra text in the first comment.'
    )


def content_for(post_or_fields, platform: str) -> tuple[str, list[str]]:
    """The text and media ``platform`` actually gets: its variant's, where the post has one,
    else the main ones. Takes a Post or a mapping with ``content``, ``media_urls`` and
    ``variants``; a variant that is not a mapping (a row written past the door) is ignored."""
    if isinstance(post_or_fields, dict):
        get = post_or_fields.get
    else:

        def get(name, default=None):
            return getattr(post_or_fields, name, default)

    text, media = get("content"), get("media_urls")
    variants = get("variants")
    variant = variants.get(platform) if isinstance(variants, dict) else None
    if isinstance(variant, dict):
        text = variant.get("content", text)
        media = variant.get("media_urls", media)
    if media is None:
        media = []
    # Anything else than a list (a row written past the door) is left for the caller to refuse.
    return text, list(media) if isinstance(media, list | tuple) else media


def has_media(post) -> bool:
    """Whether any platform of the post gets media: the post's own, or only a variant's (an
    Instagram photo on a post that is text elsewhere). What staging ahead of the slot is for.
    ``HAS_MEDIA_SQL`` asks the same of a row in SQL."""
    platforms = post.platforms if isinstance(post.platforms, list) else []
    return any(content_for(post, platform)[1] for platform in platforms)


# ``has_media`` of a post's row in SQL, for a query on publishing_post (its columns unqualified):
# for each of its platforms, ``content_for``'s media (the variant's ``media_urls`` where the
# variant is an object that has the key, else the post's own), true as Python finds it true (a
# non-empty list, object or text, a number but 0, true). The sweep stages with it; a test holds
# it to the Python rule on rows written past the door.
HAS_MEDIA_SQL = """EXISTS (
    SELECT 1 FROM unnest(platforms) AS platform
     WHERE CASE WHEN jsonb_typeof(variants -> platform) = 'object' AND (variants -> platform) ? 'media_urls'
                THEN CASE jsonb_typeof(variants -> platform -> 'media_urls')
                          WHEN 'array' THEN jsonb_array_length(variants -> platform -> 'media_urls') > 0
                          WHEN 'object' THEN variants -> platform -> 'media_urls' <> '{}'::jsonb
                          WHEN 'string' THEN variants -> platform -> 'media_urls' <> '""'::jsonb
                          WHEN 'number' THEN variants -> platform -> 'media_urls' <> '0'::jsonb
                          WHEN 'boolean' THEN variants -> platform -> 'media_urls' = 'true'::jsonb
                          ELSE false
                     END
                ELSE COALESCE(cardinality(media_urls), 0) > 0
            END
)"""


def thread_for(post_or_fields, platform: str) -> list:
    """The follow-up parts ``platform`` gets: its variant's ``thread`` where it has one, else the
    post's. Anything else than a list (a row written past the door) is returned for the caller
    to refuse."""
    if isinstance(post_or_fields, dict):
        thread, variants = post_or_fields.get("thread"), post_or_fields.get("variants")
    else:
        thread, variants = getattr(post_or_fields, "thread", None), getattr(post_or_fields, "variants", None)
    variant = variants.get(platform) if isinstance(variants, dict) else None
    if isinstance(variant, dict) and "thread" in variant:
        thread = variant["thread"]
    return [] if thread is None else thread


def thread_shape_problems(thread: object, where: str) -> dict[str, list[str]]:
    """What is wrong with a thread's shape and values, keyed ``<where>.<i>.<key>``."""
    problems: dict[str, list[str]] = {}
    if thread is None or thread == []:
        return problems
    if not isinstance(thread, list):
        return {where: ['Give the thread as a list of parts: [{"content": "2/3 …"}, {"content": "3/3 …"}].']}
    if len(thread) > MAX_THREAD_PARTS:
        return {
            where: [
                f"A thread takes at most {MAX_THREAD_PARTS} follow-up parts; this one has {len(thread)}: "
                "split it into several posts."
            ]
        }
    for index, part in enumerate(thread):
        at = f"{where}.{index}"
        if not isinstance(part, dict):
            problems.setdefault(at, []).append('Give a thread part as an object: {"content": "…", "media_urls": []}.')
            continue
        for key in part:
            if key not in PART_KEYS:
                problems.setdefault(f"{at}.{key}", []).append(
                    f"Unknown key {key!r}: a thread part takes {' and '.join(PART_KEYS)} only."
                )
        content = part.get("content")
        if problem := text_problem(content, f"Part {index + 2} of the thread"):
            problems.setdefault(f"{at}.content", []).append(problem)
        elif is_blank(content):
            problems.setdefault(f"{at}.content", []).append(
                f"Part {index + 2} of the thread is empty: write some text, or remove the part."
            )
        for problem in media_urls_problems(part.get("media_urls", [])):
            problems.setdefault(f"{at}.media_urls", []).append(problem)
    return problems


def media_urls_problems(urls: object) -> list[str]:
    """What is wrong with a list of media URLs as such: not a list, longer than any platform
    takes (refused before each URL is checked), or a URL that cannot be fetched. Each
    platform's own count limit is its adapter's (``validate``)."""
    if not isinstance(urls, list):
        return ["Give the media URLs as a list."]
    if len(urls) > MAX_MEDIA_URLS:
        return [f"No platform takes more than {MAX_MEDIA_URLS} images on a post; this list has {len(urls)}."]
    return [p for p in (text_problem(url, "A media URL") or _media_url_problem(url) for url in urls) if p]


def _media_url_problem(url: str) -> str | None:
    if len(url) > MAX_MEDIA_URL_LENGTH:
        return (
            f"A media URL takes at most {MAX_MEDIA_URL_LENGTH:,} characters; {url[:60]!r}… has {len(url):,}: "
            "use a shorter link to the image."
        )
    return media_url_problem(url)


def thread_platform_problems(thread: list, platform: str, where: str, *, base_url: str = "") -> dict[str, list[str]]:
    """``platform``'s own rules on every part of a well-shaped thread (each part is a post of
    its own there: the same length and media limits; ``base_url``: the connection's server, whose
    limits a Mastodon instance sets)."""
    if not thread:
        return {}
    adapter = get_adapter(platform)
    if not adapter.supports_threads:
        return {where: [no_threads(platform)]}
    problems: dict[str, list[str]] = {}
    for index, part in enumerate(thread):
        media_urls = list(part.get("media_urls", []))
        for message in adapter.validate(text=part["content"], media_urls=media_urls, base_url=base_url):
            field = "media_urls" if "image" in message else "content"
            problems.setdefault(f"{where}.{index}.{field}", []).append(f"Part {index + 2} of the thread: {message}")
    return problems


def first_comment_problems(first_comment: object, platforms: list[str]) -> list[str]:
    """What is wrong with the first comment, for every platform it goes to."""
    if first_comment in (None, ""):
        return []
    if problem := text_problem(first_comment, "The first comment"):
        return [problem]
    if is_blank(first_comment):
        return ["The first comment is empty: write some text, or leave it out."]
    problems = []
    for platform in platforms:
        adapter = get_adapter(platform)
        length = adapter.text_length(first_comment)
        if length > adapter.max_comment_length:
            problems.append(
                f"{adapter.label} comments take at most {adapter.max_comment_length:,} characters; the first "
                f"comment has {length:,}. Shorten it by {length - adapter.max_comment_length:,}."
            )
    return problems


# Occurrences closer than this are refused: a scheduler, not a bot.
REPEAT_MIN_GAP = timedelta(hours=1)
# How many occurrences are looked at to find the smallest gap (a rule's pattern repeats well within).
_REPEAT_SAMPLE = 60


def repeat_rule(repeat: str, start: datetime, zone):
    """The dateutil rrule of ``repeat`` starting at ``start``, in the team's ``zone``: occurrences
    are wall-clock times there (naive), so 09:00 stays 09:00 across a daylight-saving change.
    Raises ValueError with dateutil's words for a rule it cannot read."""
    local = start.astimezone(zone).replace(tzinfo=None)
    rule = repeat.strip()
    if rule.upper().startswith("RRULE:"):
        rule = rule[len("RRULE:") :]
    if "DTSTART" in rule.upper() or "\n" in rule or "\r" in rule:
        raise ValueError("give one RRULE only (the post's time is its start)")
    return rrulestr(rule, dtstart=local, forceset=False, ignoretz=True)


def repeat_problem(repeat: object, scheduled_at: object, zone) -> str | None:
    """Why ``repeat`` cannot be used, or None: not a rule, never fires after the first post (its
    time, ``scheduled_at``, or now for a draft without one), or fires more often than hourly."""
    if repeat in (None, ""):
        return None
    if problem := text_problem(repeat, "The repeat rule"):
        return problem
    example = "e.g. FREQ=WEEKLY;BYDAY=MO;COUNT=8"
    if not isinstance(scheduled_at, datetime) or timezone.is_naive(scheduled_at):
        # A draft without a time yet: the rule alone (it is checked again from the time given).
        scheduled_at = timezone.now()
    try:
        rule = repeat_rule(repeat, scheduled_at, zone)
        sample = []
        for when in rule:
            sample.append(when)
            if len(sample) >= _REPEAT_SAMPLE:
                break
    except (ValueError, TypeError, OverflowError) as err:
        return f"The repeat rule {repeat!r} is not an RFC 5545 RRULE ({err}): {example}."
    local = scheduled_at.astimezone(zone).replace(tzinfo=None)
    later = [when for when in sample if when > local]
    if not later:
        return (
            f"The repeat rule {repeat!r} never fires after the first post: check COUNT, UNTIL and the BY… "
            f"parts ({example})."
        )
    gaps = [b - a for a, b in zip([local, *later], later, strict=False)]
    if min(gaps) < REPEAT_MIN_GAP:
        return f"The repeat rule {repeat!r} fires more often than hourly: repeat at most every hour ({example})."
    return None


def variants_problems(variants: object, platforms: list) -> dict[str, list[str]]:
    """What is wrong with the variants' shape and values, keyed ``variants.PLATFORM.key``
    (platform rules on the resulting text are checked with the rest, per platform)."""
    problems: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        problems.setdefault(field, []).append(message)

    if variants is None or variants == {}:
        return problems
    if not isinstance(variants, dict):
        add("variants", 'Give the variants as an object by platform: {"TWITTER": {"content": "…"}}.')
        return problems
    for platform, variant in variants.items():
        where = f"variants.{platform}"
        if platform not in _PLATFORMS:
            add(where, unknown_platform(platform))
            continue
        if platform not in platforms:
            add(where, variant_not_listed(platform))
            continue
        if not isinstance(variant, dict):
            add(where, 'Give a variant as an object: {"content": "…", "media_urls": ["https://…"]}.')
            continue
        for key in variant:
            if key not in VARIANT_KEYS:
                add(f"{where}.{key}", variant_unknown_key(key))
        if "content" in variant:
            content = variant["content"]
            if problem := text_problem(content, f"The {label(platform)} text"):
                add(f"{where}.content", problem)
            elif is_blank(content):
                add(f"{where}.content", f"The {label(platform)} text is empty: write some, or leave content out.")
        if "media_urls" in variant:
            for problem in media_urls_problems(variant["media_urls"]):
                add(f"{where}.media_urls", problem)
            if not isinstance(variant["media_urls"], list):
                continue
        if "thread" in variant:
            for field, messages in thread_shape_problems(variant["thread"], f"{where}.thread").items():
                problems.setdefault(field, []).extend(messages)
    return problems


def post_problems(
    *,
    team: Team,
    content: object,
    platforms: list,
    media_urls: list,
    connections: dict[str, Connection] | None = None,
    scheduled_at: object = None,
    publish_now: bool = False,
    variants: object = None,
    thread: object = None,
    first_comment: object = "",
    repeat: object = "",
) -> dict[str, list[str]]:
    """Everything that would make this post fail, per field, each message saying what to
    change. Runs before anything is saved or enqueued. Every platform's rules are checked on
    the text and media it will get (``content_for``): a problem of a variant's text or media
    is keyed ``variants.PLATFORM.content`` / ``variants.PLATFORM.media_urls``."""
    problems: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
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
    if not platforms:
        add("platforms", NO_PLATFORMS)
    seen: list[str] = []
    for name in platforms:
        if not isinstance(name, str) or name not in _PLATFORMS:
            add("platforms", unknown_platform(name))
        elif name in seen:
            add("platforms", listed_twice(name))
        else:
            seen.append(name)
    urls_ok = True
    for problem in media_urls_problems(media_urls):
        add("media_urls", problem)
        urls_ok = False
    variant_problems = variants_problems(variants, seen)
    for field, messages in variant_problems.items():
        problems.setdefault(field, []).extend(messages)
    if connections is None:
        connections = active_connections(team=team, platforms=seen)
    thread_problems = thread_shape_problems(thread, "thread")
    for field, messages in thread_problems.items():
        problems.setdefault(field, []).extend(messages)
    for message in first_comment_problems(first_comment, seen):
        add("first_comment", message)
    if problem := repeat_problem(repeat, scheduled_at, team.zone):
        add("repeat", problem)
    fields = {"content": content, "media_urls": media_urls, "variants": variants, "thread": thread}
    for name in seen:
        variant = variants.get(name) if isinstance(variants, dict) else None
        own = isinstance(variant, dict) and "thread" in variant
        base_url = connections[name].base_url if connections.get(name) else ""
        if not (variant_problems if own else thread_problems):
            where = f"variants.{name}.thread" if own else "thread"
            found = thread_platform_problems(thread_for(fields, name), name, where, base_url=base_url)
            for field, messages in found.items():
                problems.setdefault(field, []).extend(messages)
        if problem := connection_problem(team.pk, name, connections.get(name)):
            add("platforms", problem)
        variant = variants.get(name) if isinstance(variants, dict) else None
        variant = variant if isinstance(variant, dict) else {}
        if any(key.startswith(f"variants.{name}") for key in variant_problems):
            continue
        text_ok = content_ok or "content" in variant
        media_ok = urls_ok or "media_urls" in variant
        if not (text_ok and media_ok):
            continue
        text, urls = content_for(fields, name)
        for message in get_adapter(name).validate(text=text, media_urls=urls, base_url=base_url):
            field = "content" if "image" not in message else "media_urls"
            add(f"variants.{name}.{field}" if field in variant else field, message)
    return problems


def connection_problem(team_id: int, platform: str, connection: Connection | None) -> str | None:
    """Why ``connection`` cannot publish ``platform`` for the team, or None."""
    if connection is None:
        return no_connection(team_id, platform)
    if connection.team_id != team_id:
        return other_team(platform, connection)
    if connection.platform != platform:
        return wrong_platform(platform, connection)
    if connection.status != Connection.Status.ACTIVE:
        return reconnect(platform, connection.status_detail or f"Connection #{connection.pk}")
    if is_undecryptable(connection.access_token):
        return reconnect(platform, UNDECRYPTABLE)
    return None


def expiry_warnings(*, connections: dict[str, Connection], scheduled_at: datetime | None) -> dict[str, str]:
    """Per platform, a warning when the account's token ends before the post's time and cannot be
    renewed without the person ("your LinkedIn token expires on 3 Jan 2027, before this post")."""
    warnings = {}
    if scheduled_at is None:
        return warnings
    for platform, connection in connections.items():
        ends = connection.grant_expires_at
        if ends is not None and ends < scheduled_at:
            warnings[platform] = (
                f"Your {label(platform)} token expires on {ends:%-d %b %Y %H:%M} UTC, before this post: "
                f"reconnect the {label(platform)} account before then, or the post will fail there."
            )
    return warnings


def active_connections(*, team: Team, platforms: list[str]) -> dict[str, Connection]:
    """The team's active connection per platform (the oldest, if it has several)."""
    found: dict[str, Connection] = {}
    rows = Connection.objects.filter(team=team, platform__in=platforms, status=Connection.Status.ACTIVE)
    for connection in rows.order_by("created_at", "pk"):
        found.setdefault(connection.platform, connection)
    return found


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
    if publication.platform not in _PLATFORMS:
        return unknown_platform(publication.platform)
    if problem := connection_problem(post.team_id, publication.platform, publication.connection):
        return problem
    text, urls = content_for(post, publication.platform)
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
        problems = _thread_refusal(post, publication.platform, base_url)
    return " ".join(problems) or None


def _thread_refusal(post, platform: str, base_url: str) -> list[str]:
    """The thread's problems for a row past the door, as sentences."""
    thread = thread_for(post, platform)
    found = thread_shape_problems(thread, "thread") or thread_platform_problems(
        thread, platform, "thread", base_url=base_url
    )
    return [message for messages in found.values() for message in messages]
