"""A whole site in one file and back: ``changeflow backup FILE`` and ``changeflow restore FILE``.

The archive is a **zip** file. Zip rather than tar.gz because its members are found by name
through the central directory: ``restore`` reads the manifest, checks every member's checksum
and refuses a bad archive before it writes anything, reading each member as a stream of its
own, without unpacking the rest to disk; a tar.gz is one compressed stream that must be read
from the start for each of these. Zip64 keeps large archives working, and every operating
system opens one. Its members:

- ``manifest.json``: the format and its version, when and by which changeflow the archive was
  made, from which database vendor, the migrations applied per app, the rows per model, the
  SHA-256 of every other member, and a fingerprint (never the key) of the secret key that
  encrypts the stored secrets (``core.crypto``: mailbox passwords, webhook secrets);
- ``data/<app>.<model>.jsonl``: each model's rows in Django's JSON Lines serialization (what
  ``dumpdata`` writes), in dependency order. Foreign keys to models with a natural key (users)
  are written as natural keys; primary keys are kept, because other rows name them outside
  any foreign key (the audit events' objects, whose hash chain must verify after a restore).
  Content types and permissions are not in it: ``migrate`` makes them, and the rows that
  refer to them do so by natural key, whatever their ids on the target database;
- ``media/<name>``: every file of the default storage (attachments, kept mail).

The data is read in one read-only transaction (on PostgreSQL a REPEATABLE READ snapshot, on
SQLite a deferred read transaction of the WAL), so a write committed meanwhile is either all in
the backup or not at all. The archive is streamed into a temporary file beside FILE and renamed
into place when complete: a failed backup leaves no FILE behind.

``restore`` loads into an empty database (migrating it first when it is not), in one
transaction with the media files: on any failure nothing is written and the files it wrote are
removed. Then it resets PostgreSQL's sequences, rebuilds the search index, and verifies the
audit chain.
"""

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
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.apps import apps
from django.conf import settings
from django.core import serializers
from django.core.exceptions import ObjectDoesNotExist
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.color import no_style
from django.core.serializers.base import DeserializedObject
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, models, router, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone
from django.utils.translation import gettext as _

from changeflow.core import audit, crypto
from changeflow.core.errors import ApplicationError

FORMAT = "changeflow-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATA, MEDIA = "data/", "media/"
# Made by ``migrate`` on every database; rows refer to them by natural key.
NOT_DUMPED = {"contenttypes.contenttype", "auth.permission"}
CHUNK = 1 << 16
ROWS_PER_QUERY = 2000


class BackupError(ApplicationError):
    """The backup or restore cannot be done (the CLI prints the message and exits 1)."""

    status = 422
    code = "backup_failed"


@dataclass
class Summary:
    """What a backup wrote or a restore loaded."""

    path: Path
    manifest: dict[str, Any]
    rows: int = 0
    files: int = 0
    size: int = 0
    audit: audit.VerifyResult | None = None
    migrated: bool = False
    # Stored secrets (mailbox passwords, webhook secrets) this site's keys cannot decrypt.
    unreadable_secrets: int = 0
    key_differs: bool = False
    counts: dict[str, int] = field(default_factory=dict)


def dumped_models() -> list[type[models.Model]]:
    """The models a backup holds, in an order in which they can be loaded (as ``dumpdata``
    orders them for natural keys)."""
    app_list = [(config, None) for config in apps.get_app_configs() if config.models_module]
    ordered = serializers.sort_dependencies(app_list, allow_cycles=True)
    return [
        model
        for model in ordered
        if not model._meta.proxy
        and model._meta.managed
        and model._meta.label_lower not in NOT_DUMPED
        and router.allow_migrate_model(DEFAULT_DB_ALIAS, model)
    ]


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
        raise BackupError(_cannot("write", target.parent, exc)) from None
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


def _natural(model: type[models.Model]) -> bool:
    return hasattr(model, "natural_key") and hasattr(model._default_manager, "get_by_natural_key")


def _dump_model(zf: zipfile.ZipFile, model: type[models.Model], sums: dict[str, str]) -> int:
    """Stream one model's rows into its member; returns how many."""
    opts = model._meta
    rows = model._base_manager.order_by(opts.pk.name)
    # The serializer reads each natural foreign key's object: fetched with the row, not once a
    # row each (as dumpdata would).
    joined = [
        f.name
        for f in opts.concrete_fields
        if f.remote_field and isinstance(f.related_model, type) and _natural(f.related_model)
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
        yield from _media_names(posixpath.join(top, folder))


def _dump_media(zf: zipfile.ZipFile, sums: dict[str, str]) -> int:
    count = 0
    for name in _media_names():
        with default_storage.open(name, "rb") as source, _member(zf, MEDIA + name, sums) as out:
            while chunk := source.read(CHUNK):
                out.write(chunk)
        count += 1
    return count


def _cannot(what: str, path: Path | str, exc: OSError) -> str:
    """Why ``path`` cannot be read or written, in the words ``read_input`` uses."""
    if what == "read":
        text = _("cannot read %(file)s: %(why)s")
    else:
        text = _("cannot write %(file)s: %(why)s")
    return text % {"file": path, "why": exc.strerror or exc}


# --------------------------------------------------------------------------------- restore


def restore(path: str | Path) -> Summary:
    """Load the archive ``path`` into this site's empty database and media storage."""
    source = Path(path)
    try:
        zf = zipfile.ZipFile(source)
    except OSError as exc:
        raise BackupError(_cannot("read", source, exc)) from None
    except zipfile.BadZipFile:
        raise BackupError(_("%s is not a changeflow backup (not a zip archive)") % source) from None
    with zf:
        manifest = _read_manifest(zf, source)
        _check_members(zf, manifest)
        _check_migrations(manifest)
        summary = Summary(path=source, manifest=manifest)
        _check_empty()  # before migrating: a database in use is left as it is
        summary.migrated = _migrate()
        listed = [n[len(MEDIA) :] for n in manifest["sha256"] if n.startswith(MEDIA)]
        media = _check_media_free(listed, manifest)
        written: list[str] = []
        try:
            with transaction.atomic():
                summary.counts = _load(zf, manifest)
                for name in media:
                    with zf.open(MEDIA + name) as stream:
                        saved = default_storage.save(name, File(stream, name=name))
                    written.append(saved)
                    if saved != name:  # a file appeared there meanwhile
                        raise BackupError(_("the media storage has %s already") % name)
        except BaseException as exc:
            for name in written:
                default_storage.delete(name)
            if isinstance(exc, IntegrityError):  # the rows do not hold together
                raise BackupError(
                    _("the backup's data cannot be loaded (%s): nothing was restored")
                    % str(exc).strip().split("\n")[0]
                ) from None
            raise
    summary.rows = sum(summary.counts.values())
    summary.files = len(listed)
    summary.audit = audit.verify()
    if manifest.get("secret_key_fingerprint") not in crypto.readable_fingerprints():
        summary.key_differs = True
        summary.unreadable_secrets = _stored_secrets()
    return summary


def _read_manifest(zf: zipfile.ZipFile, source: Path) -> dict[str, Any]:
    not_ours = _("%s is not a changeflow backup (no valid manifest.json)") % source
    try:
        with zf.open(MANIFEST) as stream:
            manifest = json.load(stream)
    except (KeyError, ValueError, zipfile.BadZipFile, OSError):
        raise BackupError(not_ours) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(not_ours)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            _("%(file)s is a backup of format %(found)s; this changeflow reads format %(ours)s")
            % {"file": source, "found": manifest.get("format_version"), "ours": FORMAT_VERSION}
        )
    shapes = {"sha256": dict, "models": dict, "migrations": dict}
    if any(not isinstance(manifest.get(key), kind) for key, kind in shapes.items()):
        raise BackupError(not_ours)
    return manifest


def _check_members(zf: zipfile.ZipFile, manifest: dict[str, Any]) -> None:
    """Every member is listed with its SHA-256 and has it; every model has its member."""
    listed = manifest["sha256"]
    present = {info.filename for info in zf.infolist() if not info.is_dir()} - {MANIFEST}
    wanted = set(listed) | {f"{DATA}{label}.jsonl" for label in manifest["models"]}
    wrong = sorted(wanted ^ present)
    # A file goes back under its own name in the media storage, never outside it.
    wrong += sorted(n for n in wanted if not _safe_member(n) and n not in wrong)
    if wrong:
        raise BackupError(
            _("the archive does not match its manifest (missing, unlisted or misnamed: %s)")
            % ", ".join(wrong[:5])
        )
    for name, expected in listed.items():
        digest = hashlib.sha256()
        try:
            with zf.open(name) as stream:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error):
            raise BackupError(_("the archive is damaged: %s cannot be read") % name) from None
        if digest.hexdigest() != expected:
            raise BackupError(_("checksum mismatch: %s is not what was backed up") % name)


def _safe_member(name: str) -> bool:
    if not name.startswith((DATA, MEDIA)) or "\\" in name or "\x00" in name:
        return False
    return (
        posixpath.normpath(name) == name
        and not name.startswith("/")
        and ".." not in name.split("/")
    )


def _check_migrations(manifest: dict[str, Any]) -> None:
    """The archive's database had exactly the migrations this version has."""
    executor = MigrationExecutor(connection)
    graph = executor.loader.graph
    ours = set(graph.nodes)
    theirs = {
        (app_label, name)
        for app_label, names in manifest["migrations"].items()
        for name in (names if isinstance(names, list) else [])
    }
    # A squashed migration counts for the ones it replaces, and they for it.
    replaced = {
        old: key
        for key, migration in executor.loader.disk_migrations.items()
        for old in (migration.replaces or [])
    }
    unknown = sorted(m for m in theirs if m not in ours and m not in replaced)
    lacking = sorted(m for m in graph.leaf_nodes() if m not in theirs)
    if unknown:
        raise BackupError(
            _(
                "the backup was made by another changeflow version: its database has migrations "
                "this version does not have (%(names)s)"
            )
            % {"names": _names(unknown)}
        )
    if lacking:
        raise BackupError(
            _(
                "the backup was made by another changeflow version: its database lacks "
                "migrations this version has (%(names)s)"
            )
            % {"names": _names(lacking)}
        )


def _names(migrations: list[tuple[str, str]]) -> str:
    shown = ", ".join(f"{app}.{name}" for app, name in migrations[:5])
    return shown + (" …" if len(migrations) > 5 else "")


def _migrate() -> bool:
    """Migrate this database when it is not; True when it was."""
    executor = MigrationExecutor(connection)
    if not executor.migration_plan(executor.loader.graph.leaf_nodes()):
        return False
    call_command("migrate", interactive=False, verbosity=0)
    return True


def _check_empty() -> None:
    from changeflow.accounts.models import Project, User
    from changeflow.core.models import AuditEvent

    tables = set(connection.introspection.table_names())
    found = [
        "%s: %d" % (model._meta.verbose_name_plural, count)
        for model in (User, Project, AuditEvent)
        if model._meta.db_table in tables and (count := model._base_manager.count())
    ]
    if found:
        raise BackupError(
            _("the database is not empty (%s): restore only into a new, empty database")
            % ", ".join(found)
        )


def _check_media_free(names: list[str], manifest: dict[str, Any]) -> list[str]:
    """The files to write: one the storage has with the same bytes is left as it is; one it
    has with other bytes is refused (a restore never overwrites a file)."""
    to_write = []
    for name in names:
        if not default_storage.exists(name):
            to_write.append(name)
            continue
        digest = hashlib.sha256()
        with default_storage.open(name, "rb") as existing:
            while chunk := existing.read(CHUNK):
                digest.update(chunk)
        if digest.hexdigest() != manifest["sha256"][MEDIA + name]:
            raise BackupError(_("the media storage has %s already, with other content") % name)
    return to_write


def _load(zf: zipfile.ZipFile, manifest: dict[str, Any]) -> dict[str, int]:
    """Every model's rows, through Django's deserializer (as ``loaddata`` does), in the
    caller's transaction; then the sequences and the search index."""
    by_label = {model._meta.label_lower: model for model in dumped_models()}
    counts: dict[str, int] = {}
    loaded: list[type[models.Model]] = []
    deferred: list[DeserializedObject] = []
    natural = _NaturalKeys()
    for label in manifest["models"]:
        model = by_label.get(label)
        if model is None:  # the migrations matched, so this cannot be a model of ours
            raise BackupError(_("the backup holds rows of an unknown model: %s") % label)
        # Rows a migration seeded (the audit chain's head) make way for the backup's own.
        model._base_manager.all()._raw_delete(connection.alias)
        count = 0
        batch: list[DeserializedObject] = []
        with zf.open(f"{DATA}{label}.jsonl") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8")
            rows = natural.resolved(model, text)
            objects = serializers.deserialize("python", rows, handle_forward_references=True)
            try:
                for obj in objects:
                    batch.append(obj)
                    count += 1
                    if len(batch) == ROWS_PER_QUERY:
                        _insert(model, batch, deferred)
                        batch = []
            except serializers.base.DeserializationError as exc:
                raise BackupError(
                    _("the rows of %(model)s cannot be loaded: %(why)s")
                    % {"model": label, "why": exc}
                ) from None
        _insert(model, batch, deferred)
        counts[label] = count
        loaded.append(model)
    for obj in deferred:
        obj.save_deferred_fields()
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), loaded):
            cursor.execute(sql)
    from changeflow.changes.services import search_index_rebuild

    search_index_rebuild()
    return counts


class _NaturalKeys:
    """The rows of a JSON Lines member with their natural foreign keys made primary keys, each
    looked up once. (The JSON Lines deserializer is ``json.loads`` and the Python one; the Python
    one looks a natural key up for every row that names it, which was half of the time a
    restore of 100,000 change requests took, for a handful of users.) A key not found yet is
    left as it is, for the deserializer to defer as a forward reference."""

    def __init__(self) -> None:
        self.found: dict[tuple[type[models.Model], str, tuple], Any] = {}

    def resolved(self, model: type[models.Model], lines: Iterable[str]) -> Iterator[dict]:
        opts = model._meta
        fks = [
            (f.name, f.related_model, f.remote_field.field_name or "pk")
            for f in opts.concrete_fields
            if f.remote_field and isinstance(f.related_model, type) and _natural(f.related_model)
        ]
        m2ms = [
            (f.name, f.related_model)
            for f in opts.many_to_many
            if isinstance(f.related_model, type) and _natural(f.related_model)
        ]
        for line in lines:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                values = row["fields"]
                for name, related, attname in fks:
                    if isinstance(values.get(name), list):
                        values[name] = self._pk(related, attname, values[name])
                for name, related in m2ms:
                    if isinstance(values.get(name), list):
                        values[name] = [
                            self._pk(related, "pk", v) if isinstance(v, list) else v
                            for v in values[name]
                        ]
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise serializers.base.DeserializationError(exc) from exc
            yield row

    def _pk(self, model: type[models.Model], attname: str, key: list) -> Any:
        index = (model, attname, tuple(key))
        if index not in self.found:
            try:
                obj = model._default_manager.get_by_natural_key(*key)  # type: ignore[attr-defined]
            except ObjectDoesNotExist:  # not loaded yet: the deserializer defers it
                return key
            self.found[index] = getattr(obj, attname)
        return self.found[index]


def _insert(
    model: type[models.Model], batch: list[DeserializedObject], deferred: list[DeserializedObject]
) -> None:
    """Insert deserialized rows a batch per statement, as they are: the raw insert that
    ``DeserializedObject.save()`` (``loaddata``) makes one row at a time, which was 10 times
    slower on 100,000 change requests. Not ``bulk_create``: it would stamp ``auto_now`` fields
    with the time of the restore. Then each row's many-to-many links, as ``save()`` sets them."""
    if not batch:
        return
    if model._meta.parents:  # multi-table inheritance: one row at a time, through each table
        for obj in batch:
            obj.save(force_insert=True)
    else:
        rows = [obj.object for obj in batch]
        fields = model._meta.local_concrete_fields
        size = connection.ops.bulk_batch_size(fields, rows) or len(rows)
        queryset: Any = model._base_manager.all()  # _insert: save_base's own, not in the stubs
        for start in range(0, len(rows), size):
            queryset._insert(rows[start : start + size], fields=fields, raw=True)
        for obj in batch:
            for name, values in (obj.m2m_data or {}).items():
                getattr(obj.object, name).set(values)
    deferred.extend(obj for obj in batch if obj.deferred_fields)


def _stored_secrets() -> int:
    from changeflow.comms.models import Mailbox
    from changeflow.notifications.models import Webhook

    return (
        Mailbox.objects.exclude(password_encrypted="").count()
        + Webhook.objects.exclude(secret_encrypted="").count()
    )
