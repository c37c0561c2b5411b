"""What the composer shows beside the form, per channel: the post as that network shows it (its
text, wrapped and folded where the network folds it, its images cropped as it crops them, a video
frame, a card for the first link) and the counters of the door's own rules, computed with the
rule functions the door calls (``Adapter.text_count``, ``validate``, ``options_problems``,
``rules.thread_platform_problems``), so that a counter in the red is a refusal at the door."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.utils.html import format_html
from django.utils.safestring import SafeString

from connections.models import Connection
from connections.platforms import get_adapter
from connections.platforms.kinds import split_media
from publishing import rules

# How each network lays a post out (the preview template's branches).
LAYOUTS = {
    "TWITTER": "feed",
    "BLUESKY": "feed",
    "MASTODON": "feed",
    "THREADS": "feed",
    "FACEBOOK": "page",
    "LINKEDIN": "page",
    "GOOGLE_BUSINESS": "page",
    "INSTAGRAM": "instagram",
    "PINTEREST": "pin",
    "YOUTUBE": "video",
    "TIKTOK": "vertical",
}

# Where a network folds a long text behind a link in the feed: (characters, lines, its words).
# Approximate, as the networks do not publish them and they vary with the screen: Instagram shows
# about 125 characters or two lines of a caption, LinkedIn about 210 characters or three lines,
# Facebook about 480 characters or five lines.
FOLDS = {
    "INSTAGRAM": (125, 2, "… more"),
    "LINKEDIN": (210, 3, "…see more"),
    "FACEBOOK": (480, 5, "… See more"),
}

# Networks that show a card for the first link of a post without images or video (Instagram's,
# TikTok's and YouTube's texts hold no clickable links; a pin's link is its option).
LINK_CARDS = {"TWITTER", "BLUESKY", "MASTODON", "THREADS", "FACEBOOK", "LINKEDIN"}

# What the text counter counts, where it is not plain characters.
UNITS = {
    "TWITTER": "weighted characters (a link counts 23, an emoji 2)",
    "BLUESKY": "graphemes (an emoji counts 1)",
    "MASTODON": "characters (a link counts 23)",
    "YOUTUBE": "bytes",
    "TIKTOK": "UTF-16 characters",
}

URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
TOKENS = re.compile(rf"(?P<url>{URL.pattern})|(?P<tag>(?<!\w)[#$][\w]+)|(?P<mention>(?<!\w)@[\w.]+(?:@[\w.-]+)?)")


@dataclass
class Counter:
    what: str
    used: int
    most: int
    unit: str = "characters"

    @property
    def over(self) -> bool:
        return self.used > self.most

    @property
    def over_by(self) -> int:
        return max(self.used - self.most, 0)

    @property
    def near(self) -> bool:
        """Within the last tenth of a text's room (a count of images at its most is no warning)."""
        return not self.over and self.most >= 20 and self.used >= self.most * 0.9


@dataclass
class ChannelPreview:
    account: Connection
    layout: str
    text: str
    shown: SafeString
    more: str
    images: list[str]
    videos: list[str]
    extra_images: int
    link: dict | None
    thread: list[SafeString]
    first_comment: str
    options: dict
    counters: list[Counter] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def platform(self) -> str:
        return self.account.platform

    @property
    def label(self) -> str:
        return rules.label(self.account.platform)

    @property
    def name(self) -> str:
        return self.account.name or self.account.account_id

    @property
    def handle(self) -> str:
        details = self.account.details if isinstance(self.account.details, dict) else {}
        handle = details.get("username") or details.get("handle") or ""
        if handle and not str(handle).startswith("@"):
            handle = f"@{handle}"
        return handle if handle and handle != self.name else ""

    @property
    def title(self) -> str:
        """A video's or pin's title: its option, else (YouTube) the text's first line."""
        title = self.options.get("title")
        if isinstance(title, str) and title.strip():
            return title.strip()
        if self.platform == "YOUTUBE":
            return (self.text.strip().splitlines() or [""])[0][:100]
        return ""

    @property
    def board(self) -> str:
        details = self.account.details if isinstance(self.account.details, dict) else {}
        chosen = self.options.get("boardId") or details.get("defaultBoardId")
        boards = get_adapter(self.platform).option_choices("boardId", details=details)
        return dict(boards).get(str(chosen), "") if chosen else ""

    @property
    def call_to_action(self) -> str:
        action = self.options.get("callToAction")
        kind = action.get("actionType") if isinstance(action, dict) else None
        return str(kind).replace("_", " ").capitalize() if kind else ""


def rich(text: str) -> SafeString:
    """The text as a network shows it: its links, hashtags and mentions set apart, the rest
    escaped (line breaks kept by the preview's CSS)."""
    pieces, start = [], 0
    for match in TOKENS.finditer(text):
        pieces.append(format_html("{}", text[start : match.start()]))
        kind = match.lastgroup
        pieces.append(format_html('<span class="pv-{}">{}</span>', kind, match.group()))
        start = match.end()
    pieces.append(format_html("{}", text[start:]))
    return SafeString("".join(pieces))


def fold(text: str, platform: str) -> tuple[str, str]:
    """(what the feed shows, the network's "more" words, or "" when it all shows)."""
    if platform not in FOLDS:
        return text, ""
    characters, lines, more = FOLDS[platform]
    cut = len(text)
    breaks = [m.start() for m in re.finditer("\n", text)]
    if len(breaks) >= lines:
        cut = breaks[lines - 1]
    cut = min(cut, characters)
    if cut >= len(text.rstrip()):
        return text, ""
    return text[:cut].rstrip(), more


def first_link(text: str) -> dict | None:
    match = URL.search(text or "")
    if not match:
        return None
    url = match.group()
    parts = urlsplit(url)
    return {
        "url": url,
        "host": parts.hostname or url,
        "path": (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
    }


def channel_preview(account: Connection, fields) -> ChannelPreview:
    """The preview and counters of one channel for a composition's ``fields`` (post_create's
    arguments) or a stored Post, through ``rules.content_for`` and the rest of the door's
    functions."""
    platform, channel = account.platform, account.pk
    adapter = get_adapter(platform)
    text, urls = rules.content_for(fields, platform, channel=channel)
    text = text if isinstance(text, str) else ""
    urls = [url for url in urls if isinstance(url, str)] if isinstance(urls, list) else []
    thread = rules.thread_for(fields, platform, channel=channel) if adapter.supports_threads else []
    thread = [part for part in thread if isinstance(part, dict)] if isinstance(thread, list) else []
    options = rules.options_for(fields, platform, channel=channel)
    details = account.details if isinstance(account.details, dict) else {}
    images, videos = split_media(urls)
    shown, more = fold(text, platform)
    unit = UNITS.get(platform, "characters")
    used, most = adapter.text_count(text, base_url=account.base_url)
    counters = [Counter("Text", used, most, unit)]
    if images or "image" in adapter.declaration.media:
        counters.append(Counter("Images", len(images), adapter.max_images, "images"))
    if videos or "video" in adapter.declaration.media:
        counters.append(Counter("Videos", len(videos), adapter.max_videos, "videos"))
    for index, part in enumerate(thread):
        part_text = part.get("content") if isinstance(part.get("content"), str) else ""
        used, most = adapter.text_count(part_text, base_url=account.base_url)
        counters.append(Counter(f"Part {index + 2}", used, most, unit))
    first_comment = (fields.get("first_comment") if isinstance(fields, dict) else fields.first_comment) or ""
    if first_comment:
        counters.append(Counter("First comment", adapter.text_length(first_comment), adapter.max_comment_length, unit))
    # The door's own checks of this channel (rules.post_problems runs the same on every target).
    problems = list(adapter.validate(text=text, media_urls=urls, base_url=account.base_url))
    if thread:
        found = rules.thread_platform_problems(thread, platform, "thread", base_url=account.base_url)
        problems += [message for messages in found.values() for message in messages]
    problems += adapter.options_problems(options, details=details)
    link = first_link(text) if platform in LINK_CARDS and not urls else None
    return ChannelPreview(
        account=account,
        layout=LAYOUTS.get(platform, "page"),
        text=text,
        shown=rich(shown),
        more=more,
        images=images[:4],
        videos=videos[:1],
        extra_images=max(len(images) - 4, 0),
        link=link,
        thread=[rich(str(part.get("content") or "")) for part in thread],
        first_comment=first_comment if first_comment else "",
        options=options,
        counters=counters,
        problems=list(dict.fromkeys(problems)),
    )


def post_previews(post) -> list[ChannelPreview]:
    """Each channel's preview of a stored post, in its channels' order: for a page that shows a
    post as each network will (the approvals inbox, a post's page), with
    ``workspace/composer/_preview.html`` (``preview`` in its context) and composer.css."""
    accounts = {c.pk: c for c in Connection.objects.filter(team_id=post.team_id, pk__in=post.channels or [])}
    return [channel_preview(accounts[channel], post) for channel in post.channels or [] if channel in accounts]
