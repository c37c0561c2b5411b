"""What the composer's form says, as the services take it: one post written once, its channels,
each channel's own text, media and options where the person gave them, its thread, first
comment and time (docs/workspace.md, "The composer").

The form's names (all plain POST fields, so that the page works without JavaScript too):

    content, channels (ids), media_urls (one URL a line), first_comment, when (the person's
    local date and time, ``YYYY-MM-DDTHH:MM``), thread (one per part) and thread_media (its
    URLs, one a line), and per channel id N: v-N-own-text, v-N-content, v-N-own-media,
    v-N-media_urls, v-N-opt-<option>.

A composition is only parsed here: every rule is the door's (``post_create_problems``,
``post_update_problems``), asked with exactly the arguments the save will pass. What is not a
rule of the door but of the form (an option that is not JSON, a local time the clocks skip) is
a problem of the composer, keyed the way the door keys its own."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.http import QueryDict

from connections.models import Connection
from connections.platforms import get_adapter
from publishing.models import Post
from publishing.rules.content import options_for, variant_for

LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


def urls_of(text: str) -> list[str]:
    """The URLs of a box that takes one a line (blank lines left out)."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


@dataclass
class ChannelState:
    """What the form holds for one channel: its own text and media when it does not follow the
    main ones, and its options as typed."""

    own_text: bool = False
    content: str = ""
    own_media: bool = False
    media_text: str = ""
    options: dict[str, str] = field(default_factory=dict)
    # A thread of this channel's own (given through the API), kept as it is: the composer edits
    # the post's thread, not a channel's (v-N-thread, as JSON; "" for none).
    thread_json: str = ""


@dataclass
class Composition:
    content: str = ""
    channels: list[int] = field(default_factory=list)
    media_text: str = ""
    first_comment: str = ""
    # (text, media one a line) per follow-up part, as typed.
    thread_parts: list[tuple[str, str]] = field(default_factory=list)
    per_channel: dict[int, ChannelState] = field(default_factory=dict)
    # The local date and time typed (``LOCAL_FORMAT``), "" for none.
    when: str = ""
    # What the form itself refuses (not the door's rules), by the door's field names.
    problems: dict[str, list[str]] = field(default_factory=dict)

    # --- as the services take it -------------------------------------------------------------

    def fields(self, accounts: dict[int, Connection]) -> dict:
        """post_create's / post_update's keyword arguments for what the post says and where it goes
        (not its time): ``accounts``, the team's channels by id, say each one's platform."""
        thread = [
            {"content": text, **({"media_urls": urls_of(media)} if urls_of(media) else {})}
            for text, media in self.thread_parts
        ]
        variants: dict[str, dict] = {}
        for channel in self.channels:
            account = accounts.get(channel)
            if account is None:
                continue  # not one of the team's: the door says so of ``channels``
            adapter = get_adapter(account.platform)
            state = self.per_channel.get(channel, ChannelState())
            entry: dict = {}
            if state.own_text:
                entry["content"] = state.content
            if state.own_media:
                entry["media_urls"] = urls_of(state.media_text)
            own_thread = _own_thread(state.thread_json)
            if own_thread is not None and adapter.supports_threads:
                entry["thread"] = own_thread
            elif thread and not adapter.supports_threads:
                # The platform has no threads (rules.no_threads): this channel gets the post alone,
                # which the page says beside the thread.
                entry["thread"] = []
            options = self._options(channel, adapter, state)
            if options:
                entry["options"] = options
            if entry:
                variants[str(channel)] = entry
        return {
            "content": self.content,
            "channels": list(self.channels),
            "media_urls": urls_of(self.media_text),
            "variants": variants,
            "thread": thread,
            "first_comment": self.first_comment,
        }

    def _options(self, channel: int, adapter, state: ChannelState) -> dict:
        options: dict = {}
        for name in adapter.options:
            raw = (state.options.get(name) or "").strip()
            if not raw:
                continue  # the platform's default
            kind = adapter.option_kinds.get(name, "text")
            if kind == "bool":
                options[name] = raw == "true"
            elif kind == "list":
                options[name] = [word.strip() for word in raw.split(",") if word.strip()]
            elif kind == "json":
                try:
                    options[name] = json.loads(raw)
                except ValueError as err:
                    message = (
                        f"{adapter.label}'s {name} is not JSON ({err.msg} at character {err.pos + 1}): "
                        f"write it as {adapter.options[name]}."
                    )
                    found = self.problems.setdefault(f"variants.{channel}.options", [])
                    if message not in found:
                        found.append(message)
            else:
                options[name] = raw
        return options

    def scheduled_at(self, zone: ZoneInfo) -> datetime | None:
        """The typed local time as an instant (None when none was typed, or it cannot be read:
        ``problems`` then says why)."""
        if not self.when:
            return None
        try:
            naive = datetime.strptime(self.when, LOCAL_FORMAT)
        except ValueError:
            self.problems["scheduled_at"] = [
                f"{self.when!r} is not a date and time: pick one in the calendar (YYYY-MM-DD HH:MM)."
            ]
            return None
        moment = naive.replace(tzinfo=zone)
        if moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
            # In the hour the clocks skip (spring forward): no such time there.
            self.problems["scheduled_at"] = [
                f"{naive:%Y-%m-%d %H:%M} does not exist in {zone.key} (the clocks go forward that night): "
                "pick another time."
            ]
            return None
        # A time that occurs twice (fall back) is its first occurrence, as posting slots are.
        return moment.astimezone(UTC)


def from_post_data(data: QueryDict) -> Composition:
    """The composition a form's POST holds."""
    channels = []
    for value in data.getlist("channels"):
        if value.isdigit() and int(value) not in channels:
            channels.append(int(value))
    texts, media = data.getlist("thread"), data.getlist("thread_media")
    parts = [(text, media[index] if index < len(media) else "") for index, text in enumerate(texts)]
    while parts and not (parts[-1][0].strip() or parts[-1][1].strip()):
        parts.pop()  # an empty last part (the box "Add a part" opened) is no part; the door names one between
    per_channel = {}
    for channel in channels:
        prefix = f"v-{channel}-"
        per_channel[channel] = ChannelState(
            own_text=data.get(prefix + "own-text") == "on",
            content=data.get(prefix + "content", ""),
            own_media=data.get(prefix + "own-media") == "on",
            media_text=data.get(prefix + "media_urls", ""),
            options={
                key[len(prefix + "opt-") :]: value for key, value in data.items() if key.startswith(prefix + "opt-")
            },
            thread_json=data.get(prefix + "thread", ""),
        )
    return Composition(
        content=data.get("content", ""),
        channels=channels,
        media_text=data.get("media_urls", ""),
        first_comment=data.get("first_comment", ""),
        thread_parts=parts,
        per_channel=per_channel,
        when=data.get("when", "").strip(),
    )


def from_post(post: Post, zone: ZoneInfo) -> Composition:
    """The composition of a stored post, for its edit page: each channel's variant as it takes
    effect there (its platform's entry, then its own: rules.content), shown as that channel's."""
    channels = list(post.channels or [])
    accounts = {c.pk: c for c in Connection.objects.filter(team_id=post.team_id, pk__in=channels)}
    per_channel = {}
    for channel in channels:
        account = accounts.get(channel)
        platform = account.platform if account else ""
        variant = variant_for(post.variants, platform, channel)
        options = options_for(post, platform, channel=channel) if account else {}
        kinds = get_adapter(platform).option_kinds if account else {}
        per_channel[channel] = ChannelState(
            own_text="content" in variant,
            content=variant.get("content", "") if isinstance(variant.get("content"), str) else "",
            own_media="media_urls" in variant,
            media_text="\n".join(map(str, variant.get("media_urls") or [])),
            options={name: _typed(value, kinds.get(name, "text")) for name, value in options.items()},
            thread_json=json.dumps(variant["thread"]) if variant.get("thread") else "",
        )
    when = post.scheduled_at.astimezone(zone).strftime(LOCAL_FORMAT) if post.scheduled_at else ""
    return Composition(
        content=post.content,
        channels=channels,
        media_text="\n".join(post.media_urls or []),
        first_comment=post.first_comment,
        thread_parts=[
            (str(part.get("content", "")), "\n".join(map(str, part.get("media_urls") or [])))
            for part in (post.thread if isinstance(post.thread, list) else [])
            if isinstance(part, dict)
        ],
        per_channel=per_channel,
        when=when,
    )


def _own_thread(text: str) -> list | None:
    """A channel's own thread kept by the form (None: it follows the post's). Written by the page
    from the stored post: what does not read back is dropped, as a hand-edited form's would be."""
    if not text:
        return None
    try:
        thread = json.loads(text)
    except ValueError:
        return None
    return thread if isinstance(thread, list) else None


def _typed(value: object, kind: str) -> str:
    """An option's stored value as its field shows it."""
    if kind == "bool":
        return "true" if value is True else "false" if value is False else ""
    if kind == "list" and isinstance(value, list):
        return ", ".join(map(str, value))
    if kind == "json" or not isinstance(value, str):
        return json.dumps(value)
    return value
