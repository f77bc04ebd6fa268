"""``changeflow backup``: the site into one archive, read in one snapshot."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import posixpath
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core import serializers
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone
from django.utils.translation import gettext as _

from changeflow.core import crypto
from changeflow.core.management.base import file_error
from changeflow.web import STAGING

from .archive import (
    CHUNK,
    DATA,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    MEDIA,
    ROWS_PER_QUERY,
    BackupError,
    Summary,
    dumped_models,
    has_natural_key,
)

# ---------------------------------------------------------------------------------- backup


def backup(path: str | Path, *, force: bool = False) -> Summary:
    """Write the whole site (data and media files) to the zip archive ``path``."""
    target = Path(path)
    if target.is_dir():
        raise BackupError(_("%s is a directory") % target)
    if target.exists() and not force:
        raise BackupError(_("%s exists already (--force replaces it)") % target)
    if not target.parent.is_dir():
        raise BackupError(_("no such directory: %s") % target.parent)
    try:
        fd, temporary = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".partial", dir=target.parent
        )
    except OSError as exc:
        raise BackupError(file_error("write", target.parent, exc)) from None
    summary = Summary(path=target, manifest={})
    try:
        # Password hashes and encrypted secrets inside: readable by its owner only (mkstemp).
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
            sums: dict[str, str] = {}
            with read_snapshot():
                manifest = _describe_database()
                counts: dict[str, int] = {}
                for model in dumped_models():
                    counts[model._meta.label_lower] = _dump_model(zf, model, sums)
            summary.files = _dump_media(zf, sums)
            manifest.update(models=counts, media_files=summary.files, sha256=sums)
            zf.writestr(MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False))
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    summary.manifest = manifest
    summary.counts = counts
    summary.rows = sum(counts.values())
    summary.size = target.stat().st_size
    return summary


@contextlib.contextmanager
def read_snapshot() -> Iterator[None]:
    """One consistent view of the database for everything read inside.

    Already in a transaction (a caller's, a test's): that one's view. PostgreSQL: a
    REPEATABLE READ, READ ONLY transaction. SQLite: a deferred transaction, which in WAL mode
    reads one snapshot and takes no write lock (Django's atomic() would BEGIN IMMEDIATE here,
    keeping every writer waiting for the whole backup)."""
    if connection.in_atomic_block:
        yield
    elif connection.vendor == "postgresql":
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield
    else:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("ROLLBACK")


def _describe_database() -> dict[str, Any]:
    from changeflow.cli import version

    applied: dict[str, list[str]] = {}
    for app_label, name in sorted(MigrationRecorder(connection).applied_migrations()):
        applied.setdefault(app_label, []).append(name)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": timezone.now().astimezone(dt.UTC).isoformat(timespec="seconds"),
        "changeflow_version": version(),
        "database_vendor": connection.vendor,
        "migrations": applied,
        "secret_key_fingerprint": crypto.fingerprint(settings.SECRET_KEY),
    }


class _ExactEncoder(DjangoJSONEncoder):
    """Django's encoder, but times keep their microseconds: DjangoJSONEncoder cuts them to
    milliseconds (ECMA-262), which ``dumpdata`` loses, and the audit chain's hashes cover them."""

    def default(self, o):
        if isinstance(o, dt.datetime | dt.time):
            text = o.isoformat()
            return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text
        return super().default(o)


class _HashingWriter(io.RawIOBase):
    """Writes through to ``target`` and keeps the SHA-256 of what went by."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.digest.update(data)
        self.target.write(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.target.close()
        super().close()


@contextlib.contextmanager
def _member(zf: zipfile.ZipFile, name: str, sums: dict[str, str]) -> Iterator[_HashingWriter]:
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    writer = _HashingWriter(zf.open(info, "w", force_zip64=True))
    with writer:
        yield writer
    sums[name] = writer.digest.hexdigest()


def _dump_model(zf: zipfile.ZipFile, model: type[models.Model], sums: dict[str, str]) -> int:
    """Stream one model's rows into its member; returns how many."""
    opts = model._meta
    rows = model._base_manager.order_by(opts.pk.name)
    # The serializer reads each natural foreign key's object: fetched with the row, not once a
    # row each (as dumpdata would).
    joined = [
        f.name
        for f in opts.concrete_fields
        if f.remote_field and isinstance(f.related_model, type) and has_natural_key(f.related_model)
    ]
    m2m = [
        f.name
        for f in opts.many_to_many
        if (through := f.remote_field.through) is not None and through._meta.auto_created
    ]
    if joined:
        rows = rows.select_related(*joined)
    if m2m:
        rows = rows.prefetch_related(*m2m)
    count = 0

    def counted():
        nonlocal count
        for row in rows.iterator(chunk_size=ROWS_PER_QUERY):
            count += 1
            yield row

    with _member(zf, f"{DATA}{opts.label_lower}.jsonl", sums) as raw:
        text = io.TextIOWrapper(io.BufferedWriter(raw, CHUNK), encoding="utf-8", newline="\n")
        with text:
            serializers.serialize(
                "jsonl", counted(), stream=text, use_natural_foreign_keys=True, cls=_ExactEncoder
            )
    return count


def _media_names(top: str = "") -> Iterator[str]:
    try:
        folders, files = default_storage.listdir(top)
    except FileNotFoundError:  # no media folder yet
        return
    for name in sorted(files):
        yield posixpath.join(top, name)
    for folder in sorted(folders):
        if not top and folder == STAGING:
            continue  # an import's file between preview and confirmation: a session's, transient
        yield from _media_names(posixpath.join(top, folder))


def _dump_media(zf: zipfile.ZipFile, sums: dict[str, str]) -> int:
    count = 0
    for name in _media_names():
        with default_storage.open(name, "rb") as source, _member(zf, MEDIA + name, sums) as out:
            while chunk := source.read(CHUNK):
                out.write(chunk)
        count += 1
    return count
