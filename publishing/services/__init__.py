"""Writes of the publishing app, one module per seam of the flow (docs/architecture.md):

    posts      post_create, post_create_problems, post_save_new, post_schedule,
               post_cancel, post_submit, post_approve, post_reject      (the door, review)
    editing    post_update, post_update_problems                        (what is not yet out)
    series     series_continue, occurrence_after                        (recurring posts)
    staging    post_stage, publication_stage                            (media ahead of the slot)
    dispatch   posts_dispatch, due_posts_dispatch, publication_enqueue,
               publications_enqueue                                     (due -> jobs)
    attempts   claim, record_step                                       (the state machine)
    outcome    settle, publication_recover                              (an attempt's end)
    comments   publication_first_comment, first_comments_requeue       (the first comment)
    publish    publication_publish: claim, ask the platform, settle     (one attempt)
               publications_publish: several, one after another         (a burst's job)
    expiry     connection_expire, the connection signals' receivers,
               publications_requeue_after_reconnect                     (tokens that die)
    finalize   post_finalize, post_fail                                 (the post's outcome)
    retry      publications_retry                                       (failed ones again)
    queue      post_queue, post_queue_top, post_queue_remove, channel_queue_*,
               channel_slots_set, channel_queue_recompute              (slots and queues)
    caps       cap_problem, cap_live_store, cap_live_refresh, cap_live_read (publishing caps)
    signals    webhook events and metric rows

The rules every entry point checks are in ``publishing.rules``; jobs (``publishing.jobs``)
are enqueued by dotted path, so this package never imports them. Every state change is a
guarded ``UPDATE … WHERE status = …``: concurrent workers, duplicate jobs and the sweep can
all call these safely, exactly one wins each transition.
"""

from publishing.rules import active_accounts, door_targets, post_problems
from publishing.services.attempts import claim, record_step
from publishing.services.caps import cap_live_read, cap_live_refresh
from publishing.services.checks import is_approver
from publishing.services.comments import first_comments_requeue, publication_first_comment
from publishing.services.dispatch import (
    due_posts_dispatch,
    posts_dispatch,
    publication_enqueue,
    publications_enqueue,
)
from publishing.services.editing import post_update, post_update_problems
from publishing.services.expiry import (
    connection_expire,
    publications_fail_for_expired,
    publications_requeue_after_reconnect,
    requeueable,
)
from publishing.services.finalize import post_fail, post_finalize
from publishing.services.outcome import publication_recover, settle
from publishing.services.posts import (
    post_approve,
    post_cancel,
    post_create,
    post_create_problems,
    post_reject,
    post_save_new,
    post_schedule,
    post_submit,
)
from publishing.services.publish import publication_publish, publications_publish
from publishing.services.queue import (
    channel_queue,
    channel_queue_pause,
    channel_queue_recompute,
    channel_queue_resume,
    channel_queue_shuffle,
    channel_slots_set,
    post_queue,
    post_queue_remove,
    post_queue_top,
)
from publishing.services.retry import publications_retry
from publishing.services.series import occurrence_after, series_continue
from publishing.services.staging import post_stage, publication_stage, stage_enqueue, stage_job_id

__all__ = [
    "active_accounts",
    "door_targets",
    "cap_live_read",
    "cap_live_refresh",
    "channel_queue",
    "channel_queue_pause",
    "channel_queue_recompute",
    "channel_queue_resume",
    "channel_queue_shuffle",
    "channel_slots_set",
    "post_queue",
    "post_queue_remove",
    "post_queue_top",
    "claim",
    "connection_expire",
    "due_posts_dispatch",
    "first_comments_requeue",
    "is_approver",
    "occurrence_after",
    "post_approve",
    "post_cancel",
    "post_reject",
    "post_submit",
    "series_continue",
    "post_create",
    "post_create_problems",
    "post_fail",
    "post_finalize",
    "post_problems",
    "post_save_new",
    "post_schedule",
    "post_stage",
    "post_update",
    "post_update_problems",
    "posts_dispatch",
    "publications_fail_for_expired",
    "publications_requeue_after_reconnect",
    "requeueable",
    "publication_enqueue",
    "publications_enqueue",
    "publication_first_comment",
    "publication_publish",
    "publications_publish",
    "publication_recover",
    "publication_stage",
    "publications_retry",
    "record_step",
    "settle",
    "stage_enqueue",
    "stage_job_id",
]
