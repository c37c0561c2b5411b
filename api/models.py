"""API keys of a team, and the answers kept for Idempotency-Key replays."""

from django.db import models

from planrrr.crypto import EncryptedTextField
from planrrr.models import Membership, Team


class ApiKey(models.Model):
    """A team's key for the HTTP API. Only a SHA-256 hash of the key is stored (the key has
    256 random bits: a hash is enough, and a leaked table gives nobody a key); ``prefix`` is
    its first characters, for people to tell keys apart."""

    class Role(models.TextChoices):
        READ = "read", "read: GET only"
        WRITE = "write", "write: read, create, change, cancel, submit for review"
        # Acts as an ADMIN of the team: approves and rejects posts in review (Team.requires_approval).
        # Keys are made by the team's ADMINs and OWNERs only, who can approve themselves.
        APPROVE = "approve", "approve: write, and approve or reject posts in review"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="What uses this key, e.g. “CMS” or “CI release notes”.")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.READ)
    prefix = models.CharField(max_length=32, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Written at most once a minute per key: a request is not a write.
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def member_role(self) -> str:
        """The team role the key acts with (publishing.services: who may approve)."""
        return Membership.Role.ADMIN if self.role == self.Role.APPROVE else Membership.Role.MEMBER


class IdempotencyKey(models.Model):
    """The first answer to a POST with an ``Idempotency-Key``, kept API_IDEMPOTENCY_HOURS per
    team. The row is inserted first, in the request's transaction: a second request with the
    same key waits on the unique index until the first commits, then replays its answer."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # SHA-256 of the method, path and JSON body: the same key with another request is refused.
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    body = models.JSONField(null=True)
    # The answer instead of ``body`` when it carries a secret (api.idempotency), encrypted.
    sealed_body = EncryptedTextField(blank=True, default="")
    headers = models.JSONField(default=dict)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "key"], name="idempotency_unique_team_key")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code})"
