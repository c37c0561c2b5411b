"""A team's media library: the files people upload once and use in any number of posts
(docs/workspace.md, "Media library")."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.files.storage import storages
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty

from planrrr.models import Team


class MediaStorage(LazyObject):
    """``STORAGES["media"]``, looked up when first used rather than when the model is defined (a
    FileField calls its storage callable once, at import), and again after the setting changes
    (tests)."""

    def _setup(self):
        self._wrapped = storages["media"]


_media = MediaStorage()


@receiver(setting_changed)
def _storages_changed(*, setting: str, **kwargs) -> None:
    if setting == "STORAGES":
        _media._wrapped = empty


def media_storage():
    """Where the library's files live: ``STORAGES["media"]`` (local files under MEDIA_ROOT, or an
    S3-compatible bucket: docs/configuration.md). A callable, so that the migrations name it and
    not the storage of the machine that made them."""
    return _media


def file_path(item: MediaItem, filename: str) -> str:
    # One folder per item, named by its key: the key is also in every signed URL of the item, so a
    # post's media_urls say which items it uses (workspace.media.usage).
    return f"workspace/{item.team_id}/{item.key.hex}/{filename}"


class MediaItem(models.Model):
    class Kind(models.TextChoices):
        IMAGE = "image", "Image"
        VIDEO = "video", "Video"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="media_items")
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The name the person's file had (shown); the stored file's name is made safe from it.
    name = models.CharField(max_length=255)
    file = models.FileField(storage=media_storage, upload_to=file_path, max_length=500)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    content_type = models.CharField(max_length=100)
    size = models.BigIntegerField(help_text="Bytes.")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True, help_text="Seconds, for a video.")
    thumbnail = models.FileField(storage=media_storage, upload_to=file_path, max_length=500, blank=True)
    # Why there is no thumbnail, in words shown in its place (a video without ffmpeg on the server).
    thumbnail_note = models.CharField(max_length=300, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["team", "-created_at"], name="workspace_media_team_recent")]

    def __str__(self) -> str:
        return self.name
