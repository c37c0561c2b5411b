"""The MCP tools: each is one operation of the HTTP API (its OpenAPI ``operationId``), run through
the API itself (agents.gateway), so a tool does exactly what the API allows a key, nothing more.

A tool is one declaration: its name, its operation, and what an agent needs to know to choose
it. Its arguments are the operation's (agents.openapi): the path's id (``postId``,
``channelId``…), the query's filters, and the JSON body's fields at the top level. Every
operation of the schema is either a tool here or in ``ABSENT`` with the reason
(agents.tests.test_parity fails otherwise), so the API's new operations are not silently out of
the agents' reach. See docs/mcp.md.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tool:
    name: str
    operation: str  # the OpenAPI operationId (drf-spectacular's generator)
    description: str
    # Creates a row: takes ``idempotencyKey`` (sent as Idempotency-Key); when the agent gives
    # none, one is derived from the tool and its arguments, so a retried call never creates twice.
    creates: bool = False


TOOLS: tuple[Tool, ...] = (
    Tool("whoami", "me_retrieve", "The API key's team (with its time zone, in which slots are read) and its role."),
    # --- analytics: what published posts did (docs/analytics.md) ----------------------------
    Tool(
        "get_post_analytics",
        "posts_analytics_retrieve",
        "A post's engagement figures per network: the latest (views, reach, likes, comments, shares, saves, "
        "clicks, videoViews, watchSeconds; null where the network gives none, with why in `unavailable`), "
        "every reading, capturedAt and nextSyncAt.",
    ),
    Tool(
        "get_channel_analytics",
        "channels_analytics_retrieve",
        "A channel's followers by day and why its figures wait, if they do.",
    ),
    Tool(
        "get_analytics_summary",
        "analytics_summary_retrieve",
        "The team's posts published in a period (the last 7 days by default): totals, by network, by channel, "
        "and the top posts by engagement.",
    ),
    # --- channels: where a post goes -------------------------------------------------------
    Tool(
        "list_channels",
        "channels_list",
        "The team's channels (connected accounts): the ids create_post's `channels` takes, their platform, "
        "name, status (only ACTIVE ones publish) and weekly posting slots.",
    ),
    Tool("get_channel", "channels_retrieve", "One channel of the team."),
    Tool(
        "get_channel_queue",
        "channels_queue_retrieve",
        "A channel's queue: its queued posts in order with their times, and its next 10 free slots.",
    ),
    Tool("get_channel_slots", "channels_slots_retrieve", "A channel's weekly posting slots, in the team's zone."),
    Tool(
        "set_channel_slots",
        "channels_slots_update",
        "Replace a channel's weekly posting slots (approve keys); its queued posts take the new slots.",
    ),
    Tool(
        "pause_channel_queue",
        "channels_queue_pause_create",
        "Pause a channel's queue (approve keys): its queued posts lose their times, nothing of it is published.",
    ),
    Tool(
        "resume_channel_queue",
        "channels_queue_resume_create",
        "Resume a channel's queue (approve keys): its queued posts take the next free slots from now.",
    ),
    Tool(
        "shuffle_channel_queue",
        "channels_queue_shuffle_create",
        "Put a channel's queued posts not yet due in a random order, on the same slots.",
    ),
    # --- posts ---------------------------------------------------------------------------------
    Tool(
        "create_post",
        "posts_create",
        "Create a post: a DRAFT without scheduledAt, SCHEDULED with scheduledAt (RFC 3339 with an offset), "
        "published at once with publishNow. `channels` (ids from list_channels) says where it goes; `variants` "
        'gives a platform ("TWITTER") or one channel (its id as a string, "7") its own content, mediaUrls, thread '
        "and options. A team that requires approval puts a write key's post IN_REVIEW. Retrying the same call "
        "(same arguments, or the same idempotencyKey) gives the first answer again and creates nothing.",
        creates=True,
    ),
    Tool(
        "edit_post",
        "posts_partial_update",
        "Change some fields of a DRAFT, IN_REVIEW or SCHEDULED post that has not started publishing, with the "
        "creation rules (scheduledAt: null makes it a draft).",
    ),
    Tool(
        "list_posts",
        "posts_list",
        "The team's posts, newest first; filter by status (e.g. FAILED,PARTIAL for failures), platform, "
        "scheduledFrom/scheduledTo. Page with the `cursor` of the answer's `next` link.",
    ),
    Tool(
        "get_post",
        "posts_retrieve",
        "A post's status and each publication's (per channel: status, externalId, error, attemptCount, nextAttemptAt).",
    ),
    Tool("cancel_post", "posts_cancel_create", "Cancel a post that has not started publishing."),
    Tool(
        "retry_post",
        "posts_retry_create",
        "Try the FAILED publications of a FAILED or PARTIAL post again; published ones stay.",
    ),
    Tool("publish_post_now", "posts_publish_now_create", "Publish a DRAFT or SCHEDULED post now."),
    Tool("submit_post", "posts_submit_create", "Submit a DRAFT for approval (IN_REVIEW)."),
    Tool(
        "approve_post",
        "posts_approve_create",
        "Approve a post IN_REVIEW (approve keys): it is SCHEDULED at its time (publishNow or a new scheduledAt "
        "if that time has passed).",
    ),
    Tool("reject_post", "posts_reject_create", "Reject a post IN_REVIEW with a note (approve keys): a DRAFT again."),
    Tool(
        "queue_post",
        "posts_queue_create",
        "Add a DRAFT or SCHEDULED post to its channels' queues: each channel gives it its next free slot.",
    ),
    Tool("move_post_to_top_of_queue", "posts_queue_top_create", "Move a queued post first in its queues."),
    Tool(
        "remove_post_from_queue",
        "posts_queue_remove_create",
        "Take a post out of its queues (a DRAFT again); its slots go to the posts after it.",
    ),
    # --- publications: each channel's outcome -----------------------------------------------
    Tool(
        "list_publications",
        "publications_list",
        "Publications (a post on one channel) with their outcome; filter by post, platform, status "
        "(FAILED for failures, with the platform's error).",
    ),
    Tool("get_publication", "publications_retrieve", "One publication with its outcome and the platform's error."),
)

# Operations of the API that are deliberately not tools, with the reason.
_WEBHOOKS = (
    "Webhook endpoints are where the team's own systems are told: set up by a person (the admin or the API); "
    "an endpoint's signing secret, which its create and rotate answers carry, does not belong in an agent's "
    "transcript."
)
_DELIVERIES = "Webhook deliveries are the log of the team's receivers, for whoever runs them (the admin or the API)."
ABSENT: dict[str, str] = {
    "posts_update": "edit_post changes the fields given (PATCH); a PUT resets every field left out to its default.",
    "posts_bulk_create": "An import of up to 500 posts in one body is a script's (the API); an agent creates "
    "posts one by one with create_post, each with its own idempotency key.",
    "connections_list": "The same accounts as list_channels, under the name a post's `channels` takes.",
    "connections_retrieve": "The same account as get_channel.",
    "webhook_endpoints_list": _WEBHOOKS,
    "webhook_endpoints_create": _WEBHOOKS,
    "webhook_endpoints_retrieve": _WEBHOOKS,
    "webhook_endpoints_update": _WEBHOOKS,
    "webhook_endpoints_partial_update": _WEBHOOKS,
    "webhook_endpoints_destroy": _WEBHOOKS,
    "webhook_endpoints_rotate_create": _WEBHOOKS,
    "webhook_endpoints_test_create": _WEBHOOKS,
    "deliveries_list": _DELIVERIES,
    "deliveries_retrieve": _DELIVERIES,
    "deliveries_redeliver_create": _DELIVERIES,
}

BY_NAME = {tool.name: tool for tool in TOOLS}
