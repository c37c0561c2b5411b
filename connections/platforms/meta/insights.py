"""Engagement figures through Meta's insights edges (Facebook posts, Instagram media, Threads media).

``GET /{object-id}/insights?metric=a,b,c`` -> ``{"data": [{"name": "reach", "period": "lifetime",
"values": [{"value": 42}], "title", "description", "id"}]}``; the newer shape gives
``"total_value": {"value": 42}`` instead of ``values``. A value may be a breakdown (Facebook's
``post_reactions_by_type_total``: ``{"like": 3, "love": 1}``): kept as ``name.key`` each, and
``name`` their sum.

Meta retires metrics between versions, and a retired one fails the *whole* request with code 100:
"(#100) Starting from version v22.0 and above, the impressions metric is no longer supported ...",
"(#100) metric[0] must be one of the following values: ...", "(#100) The metric shares is not
supported for this media type". The metric named is dropped, recorded unavailable with Meta's
words, and the call made again without it (once per metric at most), so the others are still
read; the process remembers it for a day and does not ask for it meanwhile.

Watch time (``watchSeconds``) is asked in the same call where the network gives it for a video only
(Instagram's ``ig_reels_video_view_total_time``, milliseconds, Reels only). On a post that is not
one Meta refuses the call with "(#100) The Media Insights API does not support the
ig_reels_video_view_total_time metric for this media product type" (or "The metric X is not
supported for this media type"): that is the post, not a retirement, so the video metrics are
dropped for it alone, ``watchSeconds`` is unavailable as "not a video", and the process remembers
the post so its later readings cost no extra call.
"""

from __future__ import annotations

import re
import time
from typing import Any, ClassVar

from connections.platforms.base import Account, PermanentError
from connections.platforms.figures import WATCH_SECONDS, Figures, count

# How long a metric Meta refused is not asked for again (it may come back for other media).
RETIRED_RECHECK_SECONDS = 24 * 3600
_METRIC_INDEX = re.compile(r"metric\[(\d+)\]")
# Meta's words refusing a metric for the kind of post rather than for good.
_MEDIA_TYPE = re.compile(r"media (product )?type", re.IGNORECASE)
# How many posts known not to be videos the process remembers (then it starts over: a forgotten
# one costs one more call, never a wrong figure).
NOT_VIDEO_MEMORY = 50_000


class InsightsMixin:
    """A Graph adapter's figures. The subclass names the metrics it asks for (``insights_metrics``)
    and maps them (``insights_mapping``); put before GraphErrorMixin in the bases."""

    label: ClassVar[str]
    platform: ClassVar[str]
    insights_metrics: ClassVar[tuple[str, ...]] = ()
    insights_mapping: ClassVar[dict[str, tuple[str, ...]]] = {}
    metrics_lacks: ClassVar[dict[str, str]]
    # (platform, metric) -> (when refused, Meta's words), for this process.
    retired: ClassVar[dict[tuple[str, str], tuple[float, str]]] = {}
    # The metrics given for a video only, asked with the others; ``watch_time_metric`` among them is
    # its total watch time in milliseconds (``watchSeconds`` = it / 1000, whole seconds).
    video_metrics: ClassVar[tuple[str, ...]] = ()
    watch_time_metric: ClassVar[str] = ""
    # (platform, object id) -> Meta's words, of posts that refused the video metrics.
    not_videos: ClassVar[dict[tuple[str, str], str]] = {}

    def post_metrics(self, account: Account, external_ids: list[str]) -> dict[str, Figures]:
        found = {}
        for object_id in external_ids:
            try:
                found[object_id] = self.insights(account, object_id)
            except PermanentError as err:
                # A deleted post: (#100) "Unsupported get request. Object with ID '…' does not exist,
                # cannot be loaded due to missing permissions, or does not support this operation"
                # (code 100, subcode 33): left out, as the other platforms leave it out.
                if "subcode 33" not in err.message:
                    raise
        return found

    def insights(self, account: Account, object_id: str) -> Figures:
        """The object's figures; a metric Meta refuses is dropped and recorded unavailable."""
        not_video = self.not_videos.get((self.platform, object_id))
        names = self.insights_metrics + (self.video_metrics if not_video is None else ())
        raw, gone, refused_video = self.edge_values(account, f"/{object_id}/insights", names)
        if refused_video is not None:
            not_video = f"Not a video: {self.label} gives watch time for a video only ({refused_video})."
            if len(self.not_videos) >= NOT_VIDEO_MEMORY:
                self.not_videos.clear()
            self.not_videos[(self.platform, object_id)] = not_video
        figures = Figures.mapped(raw, self.insights_mapping, lacks=self.metrics_lacks, label=self.label)
        for name, words in gone.items():
            figures.unavailable[name] = words
            for common, names in self.insights_mapping.items():
                if name in names and common not in figures.values:
                    figures.unavailable[common] = words
        if self.watch_time_metric:
            self.watch_seconds(figures, gone, not_video)
        return figures

    def edge_values(
        self, account: Account, path: str, names: tuple[str, ...]
    ) -> tuple[dict[str, int], dict[str, str], str | None]:
        """(``{name: value}`` of an insights edge's answer for ``names``, the names Meta refused with
        its words, Meta's words when it refused the ``video_metrics`` for this post's kind or None).
        A refused metric is asked no more (retired for the process a day) and the rest asked again."""
        now = time.time()
        gone: dict[str, str] = {}
        asked = []
        for name in names:
            refused = self.retired.get((self.platform, name))
            if refused and now - refused[0] < RETIRED_RECHECK_SECONDS:
                gone[name] = refused[1]
            else:
                asked.append(name)
        not_video = None
        while asked:
            try:
                response = self.request("GET", path, account=account, params={"metric": ",".join(asked)})
            except PermanentError as err:
                name = refused_metric(err.message, asked)
                if name is None:
                    raise
                if name in self.video_metrics and _MEDIA_TYPE.search(err.message):
                    # The post's kind, not a retirement: the video metrics are dropped for it alone.
                    not_video = err.message
                    asked = [other for other in asked if other not in self.video_metrics]
                    continue
                words = f"{self.label} no longer gives {name!r}: {err.message}"
                self.retired[(self.platform, name)] = (now, words)
                gone[name] = words
                asked.remove(name)
                continue
            body = self.json(response)
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise self.malformed(response, f"no data list in the answer of {path.rsplit('/', 1)[-1]}")
            return insight_values(body["data"]), gone, not_video
        return {}, gone, not_video

    def watch_seconds(self, figures: Figures, gone: dict[str, str], not_video: str | None) -> None:
        """``watchSeconds`` from the milliseconds Meta gives, or why there is none."""
        name = self.watch_time_metric
        figures.unavailable.pop(WATCH_SECONDS, None)
        if name in figures.raw:
            figures.values[WATCH_SECONDS] = figures.raw[name] // 1000
        elif not_video is not None:
            figures.unavailable[WATCH_SECONDS] = not_video
        elif name in gone:
            figures.unavailable[WATCH_SECONDS] = gone[name]
        else:
            figures.unavailable[WATCH_SECONDS] = f"{self.label} did not return {name!r} (no watch time yet)."

    def fields_figures(self, account: Account, object_id: str, fields: tuple[str, ...], mapping: dict) -> Figures:
        """``GET /{id}?fields=a,b`` -> ``{"a": 1, "b": 2, "id"}``: an account's counts."""
        response = self.request("GET", f"/{object_id}", account=account, params={"fields": ",".join(fields)})
        body = self.json(response)
        return Figures.mapped({name: body[name] for name in fields if name in body}, mapping, label=self.label)


def refused_metric(message: str, asked: list[str]) -> str | None:
    """The metric a code 100 error refuses, by its index (``metric[0] must be one of``) or its name
    in Meta's words; None when the error is about something else."""
    if "code 100" not in message:
        return None
    index = _METRIC_INDEX.search(message)
    if index and int(index.group(1)) < len(asked):
        return asked[int(index.group(1))]
    named = [name for name in asked if re.search(rf"(?<![\w.]){re.escape(name)}(?![\w.])", message)]
    return named[0] if len(named) == 1 else None


def insight_values(data: Any) -> dict[str, int]:
    """``{name: value}`` of an insights answer's ``data``; a breakdown's keys as ``name.key``."""
    found: dict[str, int] = {}
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        values = item.get("values")
        if isinstance(item.get("total_value"), dict):
            value = item["total_value"].get("value")
        elif isinstance(values, list) and values and isinstance(values[-1], dict):
            value = values[-1].get("value")
        else:
            continue
        name = item["name"]
        if isinstance(value, dict):
            parts = {key: number for key, raw in value.items() if (number := count(raw)) is not None}
            found.update({f"{name}.{key}": number for key, number in parts.items()})
            found[name] = sum(parts.values())
        elif (number := count(value)) is not None:
            found[name] = number
    return found
