"""A team's account on one platform, with its tokens encrypted at rest and their lifecycle."""

from django.db import models

from connections.platforms import DECLARATIONS, choices
from connections.platforms.mastodon.models import MastodonApp  # noqa: F401 - one of this app's models, kept with its platform
from planrrr.crypto import EncryptedTextField, is_undecryptable, mask
from planrrr.models import Team

# The platforms are declared once, each by its package, listed in the registry; the choices are
# built from it so that a name or a label can never disagree between the database, the admin
# and the adapters' messages. Platform.FACEBOOK, Platform.values, Platform("TWITTER").label work
# as with any TextChoices. The fields name the registry's ``choices`` (a callable): the migrations
# name it too, so a new platform needs none.
Platform = models.TextChoices(
    "Platform", [(declared.name, (declared.name, declared.label)) for declared in DECLARATIONS]
)


class Connection(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "ACTIVE"
        EXPIRED = "EXPIRED"
        REVOKED = "REVOKED"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="connections")
    platform = models.CharField(max_length=20, choices=choices)
    # The platform's id for the account: Facebook page id, Instagram user id, X user id,
    # LinkedIn author URN.
    account_id = models.CharField(max_length=200)
    name = models.CharField(max_length=200, blank=True, help_text="A label people recognise, e.g. the page name.")
    # The account's picture where the platform gives one at connect (a Facebook page's picture,
    # X's profile_image_url, LinkedIn's picture or logo, Bluesky's and Mastodon's avatar): what
    # the channel pickers show beside the name.
    avatar_url = models.URLField(max_length=1000, blank=True, default="", db_default="")
    access_token = EncryptedTextField()
    # Empty when the platform issues none (Facebook, LinkedIn apps without refresh, pasted
    # tokens): such a connection cannot be renewed and is announced CONNECTION_EXPIRY_WARNING_DAYS
    # ahead instead. db_default: rows inserted by raw SQL (other programs, tests) keep working.
    refresh_token = EncryptedTextField(blank=True, default="", db_default="")
    # When the access token and the refresh token stop working; null when unknown or never
    # (Facebook page tokens).
    expires_at = models.DateTimeField(null=True, blank=True)
    refresh_expires_at = models.DateTimeField(null=True, blank=True)
    scopes = models.TextField(blank=True, default="", db_default="", help_text="As granted, space-separated.")
    base_url = models.CharField(
        max_length=500, blank=True, default="", db_default="", help_text="Mastodon instance, Bluesky PDS."
    )
    # Bluesky: the app password a session was created with, kept to create a new session when
    # the refresh token is dead (a session is otherwise created once and refreshed).
    app_password = EncryptedTextField(blank=True, default="", db_default="")
    # The token lifecycle (connections.services): when it was last renewed, how many renewals
    # failed in a row (transiently: a dead grant expires the connection), when to try next
    # (ahead of expiry, or after a backoff), why the last attempt failed, and when the team
    # was told that a token which cannot be renewed is about to expire.
    refreshed_at = models.DateTimeField(null=True, blank=True)
    refresh_failures = models.PositiveIntegerField(default=0, db_default=0)
    next_refresh_at = models.DateTimeField(null=True, blank=True)
    refresh_error = models.TextField(blank=True, default="", db_default="")
    expiry_warned_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    status_detail = models.TextField(blank=True, help_text="Why the connection is not ACTIVE, in the platform's words.")
    # Set when the platform said to slow down; publications of this account wait until then.
    rate_limited_until = models.DateTimeField(null=True, blank=True)
    # The account's queue is paused: its queued targets are held, with no time, until it resumes
    # (publishing.services.queue).
    queue_paused = models.BooleanField(default=False, db_default=False)
    # What the platform told about the account at connect and since, which its adapter reads
    # (TikTok's creator_info, a Pinterest default board): never a secret.
    details = models.JSONField(
        default=dict,
        blank=True,
        db_default=models.Value({}, output_field=models.JSONField()),
        help_text="What the platform said about the account (no secrets).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "platform", "account_id"], name="connection_unique_account"),
        ]
        indexes = [
            models.Index(fields=["team", "platform", "status"]),
            models.Index(fields=["status", "next_refresh_at"], name="connection_refresh_due"),
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} {self.name or self.account_id}"

    @property
    def masked_token(self) -> str:
        """The token's last characters, or "cannot be decrypted: reconnect"."""
        return mask(self.access_token)

    @property
    def token_undecryptable(self) -> bool:
        """True when the stored token cannot be decrypted (TOKEN_ENCRYPTION_KEY changed, corrupt
        row): nothing can be published with it until the account is reconnected."""
        return is_undecryptable(self.access_token)

    @property
    def refreshable(self) -> bool:
        """True when a new access token can be had without the person: a refresh token is stored."""
        return bool(self.refresh_token) and not is_undecryptable(self.refresh_token)

    @property
    def grant_expires_at(self):
        """When the account must be reconnected at the latest: the refresh token's end if the
        connection is refreshable (LinkedIn does not extend it by refreshing), else the access
        token's; None when neither is known to expire."""
        return self.refresh_expires_at if self.refreshable else self.expires_at
