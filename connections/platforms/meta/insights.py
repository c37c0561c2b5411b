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
"""

from __future__ import annotations

import re
import time
from typing import Any, ClassVar

from connections.platforms.base import Account, PermanentError
from connections.platforms.figures import Figures, count

# How long a metric Meta refused is not asked for again (it may come back for other media).
RETIRED_RECHECK_SECONDS = 24 * 3600
_METRIC_INDEX = re.compile(r"metric\[(\d+)\]")


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
        now = time.time()
        gone: dict[str, str] = {}
        asked = []
        for name in self.insights_metrics:
            refused = self.retired.get((self.platform, name))
            if refused and now - refused[0] < RETIRED_RECHECK_SECONDS:
                gone[name] = refused[1]
            else:
                asked.append(name)
        raw: dict[str, Any] = {}
        while asked:
            try:
                response = self.request(
                    "GET", f"/{object_id}/insights", account=account, params={"metric": ",".join(asked)}
                )
            except PermanentError as err:
                name = refused_metric(err.message, asked)
                if name is None:
                    raise
                words = f"{self.label} no longer gives {name!r}: {err.message}"
                self.retired[(self.platform, name)] = (now, words)
                gone[name] = words
                asked.remove(name)
                continue
            raw = insight_values(self.json(response).get("data"))
            break
        figures = Figures.mapped(raw, self.insights_mapping, lacks=self.metrics_lacks, label=self.label)
        for name, words in gone.items():
            figures.unavailable[name] = words
            for common, names in self.insights_mapping.items():
                if name in names and common not in figures.values:
                    figures.unavailable[common] = words
        return figures

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
