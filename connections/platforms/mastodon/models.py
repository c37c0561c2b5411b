"""Mastodon's own row: planrrr's app on each instance (an app of the ``connections`` Django app,
registered through connections/models.py)."""

from django.db import models

from planrrr.crypto import EncryptedTextField


class MastodonApp(models.Model):
    """planrrr's OAuth app on one Mastodon instance, registered on first use there
    (``POST /api/v1/apps``): every instance is its own authorization server."""

    base_url = models.CharField(max_length=500)
    redirect_uri = models.CharField(max_length=500)
    client_id = models.CharField(max_length=200)
    client_secret = EncryptedTextField()
    scopes = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["base_url", "redirect_uri"], name="mastodon_app_unique_instance"),
        ]

    def __str__(self) -> str:
        return f"planrrr on {self.base_url}"
