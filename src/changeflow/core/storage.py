"""The default storage of uploaded and generated files: MEDIA_ROOT, or an S3-compatible bucket
when ``CHANGEFLOW_S3_BUCKET`` is set (settings, README "Object storage").

Everything reads and writes files through ``default_storage``; this module only answers the
questions a deployment asks: is it a bucket, does it answer, and where is a file.
"""

from __future__ import annotations

import logging

from django.core.files.storage import default_storage, storages
from django.utils.translation import gettext as _

from .errors import StorageUnavailable

log = logging.getLogger(__name__)


def _bucket_storage():
    """The default storage when it is django-storages' S3 backend, else None."""
    storage = storages["default"]
    return storage if hasattr(storage, "bucket_name") and hasattr(storage, "connection") else None


def is_object_storage() -> bool:
    return _bucket_storage() is not None


def problem() -> str:
    """Why the object storage does not answer, in one line; "" when it does (the bucket exists
    and takes these credentials). A filesystem storage is always there: "" too."""
    storage = _bucket_storage()
    if storage is None:
        return ""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    bucket = storage.bucket_name
    try:
        storage.connection.meta.client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = exc.response.get("Error", {}).get("Code", "")
        if status == 404 or code == "NoSuchBucket":
            return _("object storage: the bucket %s does not exist") % bucket
        if status in (401, 403):
            return (
                _(
                    "object storage: the bucket %s refuses these credentials "
                    "(check CHANGEFLOW_S3_ACCESS_KEY_ID and CHANGEFLOW_S3_SECRET_ACCESS_KEY)"
                )
                % bucket
            )
        return _("object storage: the bucket %(bucket)s answers %(status)s %(code)s") % {
            "bucket": bucket,
            "status": status,
            "code": code,
        }
    except NoCredentialsError:
        return _(
            "object storage: no credentials (set CHANGEFLOW_S3_ACCESS_KEY_ID and "
            "CHANGEFLOW_S3_SECRET_ACCESS_KEY)"
        )
    except BotoCoreError as exc:
        return _("object storage: cannot reach it: %s") % exc
    return ""


def unavailable(exc: BaseException) -> StorageUnavailable | None:
    """The error to answer (503) for ``exc`` when it is the object storage's client failing
    (the bucket refuses, disappears or does not answer mid-request); None for anything else.
    Logged with its cause, for the operator: the user is only told to try again."""
    if _bucket_storage() is None:
        return None
    from botocore.exceptions import BotoCoreError, ClientError

    if not isinstance(exc, (BotoCoreError, ClientError)):
        return None
    log.error("object storage failed: %s", exc, exc_info=exc)
    return StorageUnavailable(_("The file storage does not answer. Try again in a moment."))


def where(name: str) -> str:
    """Where the stored file ``name`` is, for an operator: its path on disk, or its object's
    address (``s3://bucket/key``)."""
    storage = _bucket_storage()
    if storage is None:
        return default_storage.path(name)
    key = storage._normalize_name(name)
    return f"s3://{storage.bucket_name}/{key}"
