"""Reads of the publishing app: the stored metrics, the dashboard's series, RQ's state.

Every figure about work done comes from rows in PostgreSQL (JobMetric, one per publish job
run; webhooks' DeliveryAttempt, one per HTTP attempt), so it survives restarts and is the
same whichever process asks. Only the queue figures come from Redis, read live.

One module per reader: stored (the summaries), collector (Prometheus), queues (RQ), dashboard
(the admin's); callers use them as ``selectors.<name>``.
"""

from publishing.selectors.collector import (  # noqa: F401
    Histogram,
    connection_states,
    job_counts,
    job_histograms,
    overdue_posts,
    peak_rss_bytes,
    post_states,
    publication_states,
    webhook_attempt_counts,
    webhook_delivery_states,
)
from publishing.selectors.dashboard import (  # noqa: F401
    failing_connections,
    publications_per_hour,
    slowest_connections,
)
from publishing.selectors.queues import (  # noqa: F401
    QueueState,
    RqState,
    rq_state,
)
from publishing.selectors.stored import (  # noqa: F401
    COUNTS,
    PUBLISHED,
    PercentileCont,
    metrics_summary,
    webhook_summary,
)
