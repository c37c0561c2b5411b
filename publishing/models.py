"""A Post is written once; a Publication is its life on one platform."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from connections.models import Connection
from connections.platforms import choices as platform_choices
from planrrr.models import Team
from publishing.rules import MAX_MEDIA_URL_LENGTH


class Post(models.Model):
    class Status(models.TextChoices):
        DRAFT = "DRAFT"
        # Submitted, waiting for an ADMIN or OWNER (Team.requires_approval): never published.
        IN_REVIEW = "IN_REVIEW"
        SCHEDULED = "SCHEDULED"
        PUBLISHING = "PUBLISHING"
        PUBLISHED = "PUBLISHED"
        PARTIAL = "PARTIAL"
        FAILED = "FAILED"
        CANCELLED = "CANCELLED"

    FINAL = {Status.PUBLISHED, Status.PARTIAL, Status.FAILED, Status.CANCELLED}

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="posts")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="posts"
    )
    content = models.TextField()
    # The accounts (Connection ids, "channels") the post goes to, in the order chosen. ``platforms``
    # is kept in step by the services (the platforms of these channels). A row written straight
    # into the database with ``platforms`` only still publishes: each platform no channel covers
    # resolves at dispatch to the team's one active account on it (rules.platform_targets).
    channels = ArrayField(
        models.BigIntegerField(),
        default=list,
        db_default=models.Value([], output_field=ArrayField(models.BigIntegerField())),
        blank=True,
    )
    platforms = ArrayField(models.CharField(max_length=20, choices=platform_choices))
    media_urls = ArrayField(models.URLField(max_length=MAX_MEDIA_URL_LENGTH), default=list, blank=True)
    # Per-platform overrides of the text and media: {PLATFORM: {"content"?, "media_urls"?}}. A
    # platform without an entry (or an entry without a key) gets the main one
    # (publishing.rules.content_for). db_default: rows inserted by SQL without it still work.
    variants = models.JSONField(
        default=dict,
        db_default=models.Value({}, output_field=models.JSONField()),
        blank=True,
        help_text=(
            'Optional per-platform text and media, as JSON: {"TWITTER": {"content": "Short text for X"}, '
            '"INSTAGRAM": {"content": "Caption #hashtags", "media_urls": ["https://…/photo.jpg"]}}. '
            "A platform not listed here, or a key left out, uses the main text and media above. "
            "Only platforms of this post; keys: content, media_urls."
        ),
    )
    # Follow-up parts published as replies chained to the post, in order (rules.THREAD_PLATFORMS):
    # [{"content", "media_urls"?}]. A variant may carry its own "thread". The publication records
    # each part's id in metadata["parts"] before the next is sent (publishing.services.publish).
    thread = models.JSONField(
        default=list,
        db_default=models.Value([], output_field=models.JSONField()),
        blank=True,
        help_text=(
            'Optional follow-up parts, each a reply to the previous one, as JSON: [{"content": "2/3 …"}, '
            '{"content": "3/3 …", "media_urls": ["https://…/chart.png"]}]. '
            # Not the list of platforms with threads: a new one would change the field (a migration).
            "Only the platforms with threads take them (the API's message names them); give the others a "
            "variant without one."
        ),
    )
    # Commented on the new post right after it is published, on its own job and counter: a failed
    # comment never fails or re-publishes the post (metadata["firstComment"]).
    first_comment = models.TextField(
        blank=True,
        default="",
        db_default="",
        help_text=(
            "Optional comment posted on the new post right after it is published (on X, Bluesky and "
            "Mastodon, a reply to it)."
        ),
    )
    # RFC 5545 RRULE in the team's time zone, on the first post of a series; each occurrence is a
    # post of its own (``series`` points at the first), made when the one before ends.
    repeat = models.CharField(
        max_length=500,
        blank=True,
        default="",
        db_default="",
        help_text="Optional RFC 5545 rule in the team's time zone, e.g. FREQ=WEEKLY;BYDAY=MO;COUNT=8.",
    )
    series = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="occurrences", editable=False
    )
    # Why an ADMIN or OWNER sent the post back to its author (rejection), or "" .
    review_note = models.TextField(blank=True, default="", db_default="", editable=False)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    # Why the post as a whole failed (a row that cannot be published at all); each
    # publication's own reason is on the publication.
    error = models.TextField(blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # The sweep: due posts.
            models.Index(fields=["scheduled_at"], name="post_due_idx", condition=models.Q(status="SCHEDULED")),
            models.Index(fields=["team", "status"]),
        ]
        constraints = [
            # One occurrence per time of a series, however often the one before is finalized.
            models.UniqueConstraint(
                fields=["series", "scheduled_at"],
                name="post_series_occurrence_unique",
                condition=models.Q(series__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        text = self.content if len(self.content) <= 50 else self.content[:49] + "…"
        return f"#{self.pk} {text}"


class Publication(models.Model):
    """One post on one platform: what was sent, what came back, what happens next.

    A publication waiting for a retry or a rate-limit window is PENDING with
    ``next_attempt_at`` set and ``error`` saying why it waits.
    """

    class Status(models.TextChoices):
        PENDING = "PENDING"
        PUBLISHING = "PUBLISHING"
        PUBLISHED = "PUBLISHED"
        FAILED = "FAILED"

    FINAL = {Status.PUBLISHED, Status.FAILED}

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="publications")
    connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.SET_NULL, related_name="publications"
    )
    platform = models.CharField(max_length=20, choices=platform_choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    external_id = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    # The one attempt counter (publishing.services.attempts): raised by the claim, before the
    # platform is called; waits the platform asked for give theirs back. At
    # PUBLISH_MAX_ATTEMPTS the publication gives up.
    attempt_count = models.PositiveIntegerField(default=0)
    # Adapter state kept across attempts: mediaIds, containers, usage, reconciliation.
    metadata = models.JSONField(default=dict, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Set while PUBLISHING: past it, the attempt is presumed dead (worker killed) and the
    # sweep hands the publication to another worker, which reconciles first.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Fencing token of the attempt holding the lease; an outcome is written only by it.
    lease_token = models.UUIDField(null=True, blank=True)
    # Staging's own lease (media uploaded ahead of the slot while the post is SCHEDULED): a
    # publish claim waits for a live one; an expired one is simply taken over.
    stage_token = models.UUIDField(null=True, blank=True)
    stage_expires_at = models.DateTimeField(null=True, blank=True)
    # An earlier attempt may have reached the platform without us learning the result:
    # the next attempt asks the platform first.
    outcome_unknown = models.BooleanField(default=False)
    # The RQ job that will carry the next attempt, so the sweep can tell a lost one.
    job_id = models.CharField(max_length=100, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    # The target's own time; null: the post's. Its effective time is
    # COALESCE(scheduled_at, post.scheduled_at), except in a queue (publishing.services.queue).
    scheduled_at = models.DateTimeField(null=True, blank=True)
    # Its place in its channel's queue (1 first), while it is queued; its time is then the queue's
    # (scheduled_at), and none while the queue is paused (held: never due).
    queue_position = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # One publication per account of the post. Publications without one are not held
            # unique per platform: deleting two accounts of one platform that a post went to
            # leaves both its publications without an account (SET_NULL), and the history of
            # both is kept; the dispatch, which alone makes such rows, makes each once (it holds
            # the post's row and looks at what the post has: dispatch._ensure_publications).
            models.UniqueConstraint(
                fields=["post", "connection"],
                name="publication_unique_channel",
                condition=models.Q(connection__isnull=False),
            ),
        ]
        indexes = [
            models.Index(fields=["status", "lease_expires_at"], name="publication_lease_idx"),
            models.Index(fields=["status", "platform"]),
            # A channel's queue, in order.
            models.Index(
                fields=["connection", "queue_position"],
                name="publication_queue_idx",
                condition=models.Q(queue_position__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} for post #{self.post_id}"

    @property
    def held(self) -> bool:
        """Queued in a paused queue: no time, never due."""
        return self.queue_position is not None and self.scheduled_at is None

    @property
    def effective_at(self):
        """When this target is due: its own time, else its post's (None while held)."""
        if self.queue_position is not None:
            return self.scheduled_at
        return self.scheduled_at or self.post.scheduled_at

    @property
    def channel_id(self) -> int | None:
        """The account (channel) this publication goes to: its connection's id."""
        return self.connection_id


class PostingSlot(models.Model):
    """A weekly time at which a channel (a team's Connection) publishes what is in its queue:
    a weekday (0 Monday .. 6 Sunday) and a wall-clock time in the team's zone, which stays that
    wall-clock time across a DST change (docs/posts.md, "Queues")."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0
        TUESDAY = 1
        WEDNESDAY = 2
        THURSDAY = 3
        FRIDAY = 4
        SATURDAY = 5
        SUNDAY = 6

    channel = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="slots")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    time = models.TimeField(help_text="Local time in the team's time zone, e.g. 09:00.")

    class Meta:
        ordering = ["weekday", "time"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "weekday", "time"], name="postingslot_unique"),
            models.CheckConstraint(condition=models.Q(weekday__gte=0, weekday__lte=6), name="postingslot_weekday"),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.time:%H:%M}"


# Upper bounds (seconds) of the Prometheus histogram buckets; JobMetricRollup stores its counts
# against these, so changing them needs a data migration of the rollups.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)


class JobMetric(models.Model):
    """One row per job run: what it did and what it cost. Counters are aggregates of these
    and of JobMetricRollup, which sums them once they are older than METRICS_RAW_RETENTION_HOURS."""

    class Outcome(models.TextChoices):
        PUBLISHED = "PUBLISHED"
        FAILED = "FAILED"
        RETRY = "RETRY", "retry scheduled"
        RATE_LIMITED = "RATE_LIMITED"
        RECONCILED = "RECONCILED", "found already published"
        SKIPPED = "SKIPPED", "nothing to do"

    kind = models.CharField(max_length=20, default="publish")
    platform = models.CharField(max_length=20, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    publication_id = models.BigIntegerField(null=True, blank=True)
    attempt = models.PositiveIntegerField(default=0)
    duration_ms = models.FloatField()
    # From scheduled_at to the moment the platform request was sent (first attempt only).
    lag_ms = models.FloatField(null=True, blank=True)
    peak_rss_bytes = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["outcome", "platform"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.platform} {self.outcome} in {self.duration_ms:.0f} ms"


class JobMetricRollup(models.Model):
    """The JobMetric rows of one hour, kind, platform and outcome, summed once they are older
    than METRICS_RAW_RETENTION_HOURS; the rows themselves are then deleted. Counters and
    histograms are these plus the rows still kept: they never go back, and a scrape reads
    a bounded number of rows however long planrrr has run."""

    hour = models.DateTimeField()
    kind = models.CharField(max_length=20)
    platform = models.CharField(max_length=20, blank=True)
    outcome = models.CharField(max_length=20, choices=JobMetric.Outcome.choices)
    jobs = models.PositiveIntegerField()
    duration_ms_sum = models.FloatField()
    duration_ms_max = models.FloatField()
    # Jobs at or under each bound of DURATION_BUCKETS / LAG_BUCKETS (cumulative, as Prometheus).
    duration_buckets = ArrayField(models.PositiveIntegerField())
    lag_count = models.PositiveIntegerField()
    lag_ms_sum = models.FloatField()
    lag_ms_max = models.FloatField(null=True, blank=True)
    lag_buckets = ArrayField(models.PositiveIntegerField())
    peak_rss_bytes = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hour", "kind", "platform", "outcome"], name="jobmetric_rollup_unique")
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00 {self.kind} {self.platform} {self.outcome}: {self.jobs}"
