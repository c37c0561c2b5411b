"""``Publication.metadata``: what planrrr keeps on a publication beside its columns, named once.

Every module that reads or writes one of these keys uses the name here; docs/posts.md lists
them for the people who read the JSON (the admin, the API's ``metadata``). The JSON's own
spelling (camelCase) is the contract and never changes.

Beside these, the platform's adapter keeps its own state for an attempt in the same object
(``Draft.state``: what a later attempt needs, such as uploaded media ids or Bluesky's record
key); its keys are the adapter's, named in its package (docs/posts.md lists them too).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# --- the attempt path (publishing.services.publish, attempts) ---------------------------------

# The platform's id of every step of a thread done so far, in order: parts[0] is the post itself
# (the publication's external_id once it is PUBLISHED), parts[i] the i-th reply.
PARTS = "parts"
# The adapter's state for each thread part (its media), keyed by the part's number ("1", "2"...).
PART_MEDIA = "partMedia"
# The steps of a thread found on the platform (an earlier attempt's answer lost) rather than sent.
RECONCILED_PARTS = "reconciledParts"
# The post's address on the platform, when the platform gives one.
URL = "url"
# True when the post was found on the platform (an earlier attempt's answer was lost) rather than sent.
RECONCILED = "reconciled"
# Why a publication failed, when a later move depends on it: TOKEN, it failed only because the
# account's token had expired (a reconnect re-queues it; publishing.services.expiry).
FAILED_BECAUSE = "failedBecause"
TOKEN = "token"
# Texts a person should read on the publication (the account's token expires before the post's
# time; its first comment could not be posted).
WARNINGS = "warnings"
# Each attempt's end, oldest first, the last HISTORY_KEPT of them: {"attempt": its number,
# "at": when it ended (ISO 8601), "outcome": a JobMetric outcome (PUBLISHED, RECONCILED, RETRY,
# RATE_LIMITED, FAILED) or INTERRUPTED (its worker was lost), "error": what went wrong, in
# words ("" when it went out), and for a RECONCILED one found other than by looking (a duplicate
# refusal naming it), "note": how}. The publication's ``error`` says only the last attempt's.
HISTORY = "history"
HISTORY_KEPT = 10
# Kept by rows written before ``Publication.outcome_unknown`` was a column: dropped once published.
OUTCOME_UNKNOWN = "outcomeUnknown"

# --- media staged ahead of the slot (publishing.services.staging) ----------------------------

# When the media was uploaded ahead of the post's time (ISO 8601).
STAGED_AT = "stagedAt"
# Why staging failed (the publish attempt at the slot does what staging could not).
STAGING_ERROR = "stagingError"

# --- the first comment (publishing.services.comments) ----------------------------------------

# The first comment's state, an object of its own with the keys below (and OUTCOME_UNKNOWN,
# RECONCILED as above).
FIRST_COMMENT = "firstComment"
# Its attempts so far (its own counter, apart from the publication's attempt_count).
ATTEMPTS = "attempts"
# Until when the attempt talking to the platform holds it (ISO 8601): its lease.
IN_FLIGHT = "inFlight"
# When its next attempt is due (ISO 8601), while it waits.
NEXT_ATTEMPT_AT = "nextAttemptAt"
# The comment's id on the platform, once it is made.
ID = "id"
# Why its last attempt failed.
ERROR = "error"
# True once it gave up (a warning on the publication, one post.comment_failed event).
GAVE_UP = "gaveUp"
# What the platform's adapter keeps for the comment across its attempts (Bluesky: its record key).
STATE = "state"


def without(metadata: object, *keys: str) -> dict[str, Any]:
    """``metadata`` without ``keys`` (a copy; a row written past the door may hold anything but
    an object: it reads as an empty one)."""
    if not isinstance(metadata, Mapping):
        return {}
    return {key: value for key, value in metadata.items() if key not in keys}
