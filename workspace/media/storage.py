"""The media library's files in an S3-compatible bucket (AWS S3, MinIO, Cloudflare R2, Backblaze
B2, Wasabi ...), through django-minio-storage on MinIO's S3 client; settings.py selects it when
MEDIA_S3_BUCKET is set (docs/configuration.md).

Not django-storages' S3Storage: it needs boto3, whose botocore requires python-dateutil below 3,
and planrrr pins python-dateutil 4 (the RRULEs of repeating posts). MinIO's client speaks the
same S3 API (Signature V4) over urllib3, with no such pin.

The bucket stays private: nothing here makes it public, and no storage URL is ever handed out.
People see the files through the workspace (members only) and the platforms through planrrr's
signed URLs, which stream from here (workspace.media.views.signed_file). A file read is first
copied to a spooled temporary file (django-minio-storage's default: memory, then disk), so that a
store's failure is known before the answer starts, and a connection is never held by a slow reader."""

from __future__ import annotations

from urllib.parse import urlsplit

import urllib3
from django.core.exceptions import ImproperlyConfigured
from django.utils.deconstruct import deconstructible
from minio import Minio
from minio.credentials import ChainedProvider, EnvAWSProvider, IamAwsProvider
from minio_storage.storage import MinioStorage

AWS = "https://s3.amazonaws.com"


@deconstructible
class S3MediaStorage(MinioStorage):
    """An S3-compatible bucket, named by plain settings. ``endpoint``: the store's URL
    (https://s3.eu-west-3.amazonaws.com, http://minio:9000); without keys, the credentials come from
    the environment (AWS_ACCESS_KEY_ID ...) or the instance's IAM role, as AWS's SDKs find them."""

    def __init__(
        self,
        *,
        bucket: str,
        endpoint: str = "",
        region: str = "",
        access_key: str = "",
        secret_key: str = "",
        **kwargs,
    ):
        parts = urlsplit(endpoint or AWS)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ImproperlyConfigured(
                f"MEDIA_S3_ENDPOINT_URL={endpoint!r} is not a URL: set it to the store's address, e.g. "
                "https://s3.eu-west-3.amazonaws.com or http://minio:9000."
            )
        if bool(access_key) != bool(secret_key):
            raise ImproperlyConfigured(
                "Set both MEDIA_S3_ACCESS_KEY_ID and MEDIA_S3_SECRET_ACCESS_KEY, or neither (the environment's "
                "or the instance's credentials are then used)."
            )
        # MinIO's own default waits 5 minutes for an answer and retries 5 times: a person's upload
        # and a platform's fetch wait for this, so a store that does not answer is said in seconds.
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5, read=60),
            retries=urllib3.Retry(total=3, backoff_factor=0.1, status_forcelist=[500, 502, 503, 504]),
            maxsize=10,
        )
        client = Minio(
            parts.netloc,
            access_key=access_key or None,
            secret_key=secret_key or None,
            secure=parts.scheme == "https",
            region=region or None,
            credentials=None if access_key else ChainedProvider([EnvAWSProvider(), IamAwsProvider()]),
            http_client=http,
        )
        super().__init__(client, bucket, **kwargs)
