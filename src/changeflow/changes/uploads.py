"""Checks on uploaded attachments: size, allowed types, and content that matches the type."""

from __future__ import annotations

import mimetypes
import unicodedata
from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings
from django.http import FileResponse
from django.utils.translation import gettext as _

from changeflow.core.errors import NotFound, TooLarge, ValidationError

# Allowed types, keyed by extension: (content type, magic prefixes or None for text).
_ZIP = (b"PK\x03\x04",)
_OLE = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)
ALLOWED: dict[str, tuple[str, tuple[bytes, ...] | None]] = {
    ".pdf": ("application/pdf", (b"%PDF-",)),
    ".png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    ".jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".gif": ("image/gif", (b"GIF87a", b"GIF89a")),
    ".webp": ("image/webp", (b"RIFF",)),
    ".zip": ("application/zip", _ZIP),
    ".docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", _ZIP),
    ".xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _ZIP),
    ".pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", _ZIP),
    ".doc": ("application/msword", _OLE),
    ".xls": ("application/vnd.ms-excel", _OLE),
    ".txt": ("text/plain", None),
    ".md": ("text/markdown", None),
    ".csv": ("text/csv", None),
    ".json": ("application/json", None),
    ".xml": ("application/xml", None),
    ".reqif": ("application/xml", None),
    ".eml": ("message/rfc822", None),
    ".log": ("text/plain", None),
}


@dataclass(frozen=True)
class Checked:
    filename: str
    content_type: str
    size: int


def _safe_name(name: str) -> str:
    name = unicodedata.normalize("NFC", PurePath(name.replace("\\", "/")).name)
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"/|?*')
    return name.strip(" .")[:255]


def check(upload) -> Checked:
    """Raise ``TooLarge`` or ``ValidationError`` unless ``upload`` is an allowed, honest file."""
    if upload is None:
        raise ValidationError(_("No file was sent."), fields={"file": [_("Required.")]})
    limit = settings.ATTACHMENT_MAX_BYTES
    if upload.size > limit:
        raise TooLarge(
            _("The file is larger than the limit of %(mb).1f MB.") % {"mb": limit / 1048576},
            fields={"file": [_("Too large.")]},
        )
    filename = _safe_name(upload.name or "")
    if not filename:
        raise ValidationError(_("The file has no usable name."), fields={"file": [_("No name.")]})
    if upload.size == 0:
        raise ValidationError(_("The file is empty."), fields={"file": [_("Empty file.")]})
    ext = PurePath(filename).suffix.lower()
    if ext not in ALLOWED:
        raise ValidationError(
            _("Files of type %(ext)s are not accepted.") % {"ext": ext or "?"},
            fields={"file": [_("Allowed: %s") % ", ".join(sorted(ALLOWED))]},
        )
    content_type, magics = ALLOWED[ext]
    upload.seek(0)
    head = upload.read(8192)
    upload.seek(0)
    if magics is None:
        honest = b"\x00" not in head
    else:
        honest = any(head.startswith(m) for m in magics)
        if ext == ".webp":
            honest = honest and head[8:12] == b"WEBP"
    declared = (getattr(upload, "content_type", "") or "").split(";")[0].strip().lower()
    guessed = mimetypes.guess_type(filename)[0]
    generic = {"", "application/octet-stream", guessed, content_type}
    if not honest or declared not in generic and not declared.startswith("text/"):
        raise ValidationError(
            _("The file's content does not match its type %(ext)s.") % {"ext": ext},
            fields={"file": [_("Content and type differ.")]},
        )
    return Checked(filename=filename, content_type=content_type, size=upload.size)


def download(attachment) -> FileResponse:
    """The stored file, always as a download that no browser renders or sniffs."""
    try:
        handle = attachment.file.open("rb")
    except (FileNotFoundError, ValueError):
        raise NotFound(_("The file of this attachment is missing.")) from None
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.filename,
        content_type=attachment.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
