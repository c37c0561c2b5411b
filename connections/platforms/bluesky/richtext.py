"""A Bluesky post's text as the platform counts and marks it up: graphemes (the lexicon's
``maxGraphemes``), facets (links, mentions, tags), and the record keys (TIDs) planrrr chooses."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import regex

# Rich text as the Bluesky app detects it (docs.bsky.app, "Links, mentions, and rich text"):
# a mention is @ and a handle (a domain name) after the start, a space or "("; a link is an
# http(s) URL without the punctuation closing the sentence; a tag is # and at least one
# character that is not a digit or punctuation, up to the next space.
MENTION = regex.compile(
    r"(?:^|\s|\()(@(([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?))"
)
LINK = regex.compile(r"(?:^|\s|\()(https?://[^\s<>\"]*[^\s<>\".,:;!?'\")\]}])", regex.IGNORECASE)
TAG = regex.compile(
    r"(?:^|\s)([#＃]((?!\ufe0f)[^\s\u00ad\u2060\u200a-\u200d\u20e2]*[^\d\s\p{P}\u00ad\u2060\u200a-\u200d\u20e2]+[^\s\u00ad\u2060\u200a-\u200d\u20e2]*))"
)
TAG_TRAILING_PUNCTUATION = regex.compile(r"\p{P}+$")
MAX_TAG_GRAPHEMES = 64

# TIDs (https://atproto.com/specs/tid): 64 bits, top bit 0, 53 bits of microseconds since the
# Unix epoch and a 10-bit clock id, written in base32-sortable, 13 characters.
TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_tid_lock = threading.Lock()
_tid_last = 0
_clock_id = random.SystemRandom().randrange(1024)


def grapheme_count(text: str) -> int:
    """User-perceived characters (extended grapheme clusters, Unicode UAX #29), as the lexicon's
    maxGraphemes counts them: "👍🏽" is one, though two code points."""
    return len(regex.findall(r"\X", text))


def new_tid() -> str:
    """A fresh TID from this process's clock, never the same twice here (monotonic)."""
    global _tid_last
    with _tid_lock:
        micros = max(time.time_ns() // 1000, _tid_last + 1)
        _tid_last = micros
    value = (micros << 10) | _clock_id
    return "".join(TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


def _byte_span(text: str, start: int, end: int) -> dict[str, int]:
    """A facet's index: UTF-8 byte offsets, end exclusive (app.bsky.richtext.facet#byteSlice)."""
    return {"byteStart": len(text[:start].encode()), "byteEnd": len(text[:end].encode())}


def detect_facets(text: str) -> list[dict[str, Any]]:
    """Links, mentions and tags of ``text`` as facets; mentions carry the handle in ``handle``
    for the caller to resolve to a DID (and drop if it does not resolve)."""
    facets = []
    for match in MENTION.finditer(text):
        start, end = match.span(1)
        facets.append({"index": _byte_span(text, start, end), "handle": match.group(2)})
    for match in LINK.finditer(text):
        start, end = match.span(1)
        facets.append(
            {
                "index": _byte_span(text, start, end),
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": match.group(1)}],
            }
        )
    for match in TAG.finditer(text):
        tag = TAG_TRAILING_PUNCTUATION.sub("", match.group(2))
        if not tag or grapheme_count(tag) > MAX_TAG_GRAPHEMES:
            continue
        start = match.start(1)
        facets.append(
            {
                "index": _byte_span(text, start, start + 1 + len(tag)),
                # The tag without its "#".
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}],
            }
        )
    return sorted(facets, key=lambda facet: facet["index"]["byteStart"])
