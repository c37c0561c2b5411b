"""Engagement figures over time (docs/analytics.md): what each published post did on its platform,
and each channel's followers, read from the platforms on a decaying schedule.

* :class:`Tracking`: one row per published publication, its schedule (``next_sync_at``) and its
  latest figures, which the summaries sum (no scan of the time series).
* :class:`Snapshot`: the time series, one row per reading; a table partitioned by month on
  ``captured_at`` (migration 0001: PostgreSQL declarative partitioning), so that it stays fast at
  tens of millions of rows and retention drops whole months (docs/performance.md).
* :class:`ChannelSync`: per channel, its analytics' own state: when its account figures are due,
  its claim by a sync job, its budget of calls, and why it waits, in words shown to the team.
* :class:`ChannelDay`: a channel's followers and account figures, one row a day, kept as history.

The common names are the API's (``connections.platforms.figures``); a column holds null where the
platform did not give the figure (``unavailable`` says which and why): never a zero.
"""

from django.db import models

from connections.models import Connection
from connections.platforms import choices as platform_choices
from planrrr.models import Team
from publishing.models import Publication


class Figured(models.Model):
    """The common figures as columns (null: not given)."""

    views = models.BigIntegerField(null=True, blank=True)
    reach = models.BigIntegerField(null=True, blank=True)
    likes = models.BigIntegerField(null=True, blank=True)
    comments = models.BigIntegerField(null=True, blank=True)
    shares = models.BigIntegerField(null=True, blank=True)
    saves = models.BigIntegerField(null=True, blank=True)
    clicks = models.BigIntegerField(null=True, blank=True)
    video_views = models.BigIntegerField(null=True, blank=True)
    # Seconds watched (YouTube's estimatedMinutesWatched times 60).
    watch_seconds = models.BigIntegerField(null=True, blank=True)

    class Meta:
        abstract = True


# Column of each common name (connections.platforms.figures.POST_NAMES).
COLUMNS = {
    "views": "views",
    "reach": "reach",
    "likes": "likes",
    "comments": "comments",
    "shares": "shares",
    "saves": "saves",
    "clicks": "clicks",
    "videoViews": "video_views",
    "watchSeconds": "watch_seconds",
}


class Tracking(Figured):
    """A published publication followed on its platform: when it is read next (null: no longer),
    and what the last reading said."""

    publication = models.OneToOneField(Publication, on_delete=models.CASCADE, primary_key=True, related_name="tracking")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(Connection, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    platform = models.CharField(max_length=20, choices=platform_choices)
    external_id = models.CharField(max_length=200)
    published_at = models.DateTimeField()
    next_sync_at = models.DateTimeField(null=True, blank=True)
    first_captured_at = models.DateTimeField(null=True, blank=True)
    captured_at = models.DateTimeField(null=True, blank=True)
    syncs = models.PositiveIntegerField(default=0)
    # Readings in a row in which the platform did not return the post (deleted): tracking stops at 3.
    misses = models.PositiveSmallIntegerField(default=0)
    # The platform's own names and values of the last reading, and the names it did not give, with why.
    raw = models.JSONField(default=dict, blank=True)
    unavailable = models.JSONField(default=dict, blank=True)
    # Why the last reading failed or why tracking stopped, in words; "" when it went well.
    error = models.TextField(blank=True, default="")
    # A thread's parts after the first (their platform ids, in order: Publication.metadata["parts"]),
    # read apart where the platform counts them apart; the columns above are then the thread's sum,
    # and ``parts`` each part's latest figures ([{"externalId", <common names>, "unavailable"}]).
    part_ids = models.JSONField(default=list, blank=True)
    parts = models.JSONField(default=list, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["connection", "next_sync_at"],
                name="tracking_due_idx",
                condition=models.Q(next_sync_at__isnull=False),
            ),
            models.Index(fields=["team", "published_at"], name="tracking_team_published_idx"),
            # The sweep's newest tracked post (max(published_at)).
            models.Index(fields=["published_at"], name="tracking_published_idx"),
        ]

    def __str__(self) -> str:
        return f"Figures of publication #{self.publication_id}"


class Snapshot(Figured):
    """One reading of one publication (the time series). Partitioned by month on ``captured_at``."""

    pk = models.CompositePrimaryKey("publication_id", "captured_at")
    # The publication's id; the table's foreign key deletes its readings with it (ON DELETE CASCADE,
    # in PostgreSQL: the ORM never loads a post's thousands of readings to delete them).
    publication_id = models.BigIntegerField()
    captured_at = models.DateTimeField()
    team_id = models.BigIntegerField()
    raw = models.JSONField(default=dict)
    # The names the platform did not give in this reading (the reasons are on the Tracking).
    unavailable = models.JSONField(default=list)

    class Meta:
        # The table is made by migration 0001 with SQL (PARTITION BY RANGE; the model is its state
        # only), and its partitions by analytics.services.storage. Managed, so that the tests'
        # flush truncates it with the publications it refers to.
        db_table = "analytics_snapshot"

    def __str__(self) -> str:
        return f"Publication #{self.publication_id} at {self.captured_at:%Y-%m-%d %H:%M}"


class ChannelSync(models.Model):
    """A channel's analytics: its account figures' next reading, the claim of its sync job, the
    calls spent in the current budget window, and why it waits."""

    connection = models.OneToOneField(Connection, on_delete=models.CASCADE, primary_key=True, related_name="analytics")
    next_account_sync_at = models.DateTimeField(null=True, blank=True)
    # Set by the sweep that enqueued its job, until the job ends (or this passes: a dead worker).
    claimed_until = models.DateTimeField(null=True, blank=True)
    # The platform's own 429 for the analytics' calls (publishing keeps Connection.rate_limited_until),
    # a spent budget, or a transient failure's backoff: no reading before then.
    waits_until = models.DateTimeField(null=True, blank=True)
    budget_window_start = models.DateTimeField(null=True, blank=True)
    budget_used = models.PositiveIntegerField(default=0)
    # Why figures wait or cannot be read, in words shown in the admin and the channel's answer.
    status_detail = models.TextField(blank=True, default="")
    last_synced_at = models.DateTimeField(null=True, blank=True)
    calls = models.PositiveBigIntegerField(default=0, help_text="Calls made for figures, in all.")
    # The backfill of the account's posts made outside planrrr (ExternalPost): how far back it goes
    # (fixed when it starts), the platform's cursor of the next page (kept after every page, so a
    # killed worker's backfill resumes there), when it ended, how many posts it found, and, where
    # the platform lists no posts, why.
    backfill_since = models.DateTimeField(null=True, blank=True)
    backfill_cursor = models.TextField(blank=True, default="")
    backfill_done_at = models.DateTimeField(null=True, blank=True)
    backfill_found = models.PositiveIntegerField(default=0)
    backfill_detail = models.TextField(blank=True, default="")

    class Meta:
        verbose_name = "channel analytics"
        verbose_name_plural = "channel analytics"

    def __str__(self) -> str:
        return f"Analytics of {self.connection}"


class ChannelDay(models.Model):
    """A channel's account figures on one day (UTC): the day's last reading."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="analytics_days")
    day = models.DateField()
    captured_at = models.DateTimeField()
    followers = models.BigIntegerField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    unavailable = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "day"], name="channel_day_unique")]

    def __str__(self) -> str:
        return f"{self.connection} on {self.day}"


class QuotaUse(models.Model):
    """Units of a platform app's daily quota the analytics spent on one of the quota's days (YouTube:
    the Google Cloud project's, a Pacific day), counted across the installation (every team, every
    channel), so that they stay within what publishing leaves them (analytics.services.quota)."""

    platform = models.CharField(max_length=20, choices=platform_choices)
    day = models.DateField()
    units = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["platform", "day"], name="quota_use_unique")]

    def __str__(self) -> str:
        return f"{self.platform} analytics on {self.day}: {self.units} units"


class ExternalPost(Figured):
    """A post an account made outside planrrr, found by the channel's backfill (its recent posts,
    as far back as the platform lists them, at most 90 days), and read on the decaying schedule by
    its age like a published post: its latest figures here, shown on the channel and in the summary
    as not published by planrrr. Not a planrrr Post: nothing else (publishing, the caps, the
    quota, the calendar) ever sees it."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="external_posts")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    platform = models.CharField(max_length=20, choices=platform_choices)
    external_id = models.CharField(max_length=200)
    published_at = models.DateTimeField()
    text = models.CharField(max_length=300, blank=True, default="")
    url = models.URLField(max_length=500, blank=True, default="")
    found_at = models.DateTimeField()
    next_sync_at = models.DateTimeField(null=True, blank=True)
    captured_at = models.DateTimeField(null=True, blank=True)
    syncs = models.PositiveIntegerField(default=0)
    misses = models.PositiveSmallIntegerField(default=0)
    raw = models.JSONField(default=dict, blank=True)
    unavailable = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "external_id"], name="external_post_unique"),
        ]
        indexes = [
            models.Index(
                fields=["connection", "next_sync_at"],
                name="external_post_due_idx",
                condition=models.Q(next_sync_at__isnull=False),
            ),
            models.Index(fields=["team", "published_at"], name="external_post_team_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} post {self.external_id} (not by planrrr)"
