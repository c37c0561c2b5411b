"""The rule book's checks of one field at a time (``publishing.rules``): text, time, media URLs,
threads, variants, the first comment, the repeat rule. Each returns what is wrong, in the words
of ``rules.messages``, and nothing when all is well."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from dateutil.rrule import rrulestr
from django.conf import settings
from django.utils import timezone

from connections.platforms import get_adapter
from connections.platforms.base import media_url_problem
from publishing.rules.messages import (
    MAX_MEDIA_URL_LENGTH,
    MAX_MEDIA_URLS,
    MAX_THREAD_PARTS,
    PART_KEYS,
    PLATFORM_NAMES,
    VARIANT_KEYS,
    label,
    no_threads,
    no_zone,
    unknown_platform,
    variant_channel_not_listed,
    variant_not_listed,
    variant_unknown_key,
)

# Characters that show nothing: a post of only these is empty (zero-width space, joiners,
# word joiner, byte-order mark, soft hyphen, and the invisible separators of Unicode's Cf class
# that editors paste in).
_INVISIBLE = re.compile(r"[\s\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]+")

_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


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


def variants_problems(variants: object, platforms: list, channels: list | tuple = ()) -> dict[str, list[str]]:
    """What is wrong with the variants' shape and values, keyed ``variants.PLATFORM.key`` or
    ``variants.ID.key`` (a channel's, by its id as a string of digits; platform rules on the
    resulting text are checked with the rest, per target)."""
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
        if isinstance(platform, str) and platform.isascii() and platform.isdigit():
            if int(platform) not in channels:
                add(where, variant_channel_not_listed(platform))
                continue
        elif platform not in PLATFORM_NAMES:
            add(where, unknown_platform(platform))
            continue
        elif platform not in platforms:
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
            name = label(platform) if platform in PLATFORM_NAMES else f"channel #{platform}"
            if problem := text_problem(content, f"The {name} text"):
                add(f"{where}.content", problem)
            elif is_blank(content):
                add(f"{where}.content", f"The {name} text is empty: write some, or leave content out.")
        if "media_urls" in variant:
            for problem in media_urls_problems(variant["media_urls"]):
                add(f"{where}.media_urls", problem)
            if not isinstance(variant["media_urls"], list):
                continue
        if "thread" in variant:
            for field, messages in thread_shape_problems(variant["thread"], f"{where}.thread").items():
                problems.setdefault(field, []).extend(messages)
        if "options" in variant and not isinstance(variant["options"], dict):
            add(f"{where}.options", 'Give the options as an object of the platform\'s settings: {"title": "…"}.')
    return problems
