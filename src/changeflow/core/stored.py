"""Generated files kept with their SHA-256 (review reports, change orders): read back checked,
and handed out as downloads."""

from __future__ import annotations

import hashlib
import io

from django.core.files.storage import default_storage
from django.http import FileResponse

from .errors import Conflict, NotFound


def read_checked(name: str, sha256: str, *, missing: str, changed: str) -> bytes:
    """The stored file ``name``, checked against ``sha256``: a file that is gone is a NotFound
    (``missing``), one that no longer matches the hash a Conflict (``changed``, code
    ``integrity``): it is never served as the record."""
    try:
        with default_storage.open(name, "rb") as handle:
            content = handle.read()
    except (FileNotFoundError, OSError):
        raise NotFound(missing) from None
    if hashlib.sha256(content).hexdigest() != sha256:
        raise Conflict(changed, code="integrity")
    return content


def download(content: bytes, filename: str, content_type: str) -> FileResponse:
    """A download of checked content: an attachment, never shown as a page of the site."""
    response = FileResponse(
        io.BytesIO(content), as_attachment=True, filename=filename, content_type=content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response
