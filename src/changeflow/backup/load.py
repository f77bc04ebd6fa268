"""``changeflow restore``: an archive into an empty database, all or nothing."""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from django.core import serializers
from django.core.exceptions import ObjectDoesNotExist
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.color import no_style
from django.core.serializers.base import DeserializedObject
from django.db import IntegrityError, connection, models, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils.translation import gettext as _

from changeflow.core import audit, crypto
from changeflow.core.management.base import file_error

from . import archive
from .archive import BackupError, Summary, dumped_models, has_natural_key

# --------------------------------------------------------------------------------- restore


def restore(path: str | Path) -> Summary:
    """Load the archive ``path`` into this site's empty database and media storage."""
    source = Path(path)
    try:
        zf = zipfile.ZipFile(source)
    except OSError as exc:
        raise BackupError(file_error("read", source, exc)) from None
    except zipfile.BadZipFile:
        raise BackupError(_("%s is not a changeflow backup (not a zip archive)") % source) from None
    with zf:
        manifest = _read_manifest(zf, source)
        _check_members(zf, manifest)
        _check_migrations(manifest)
        summary = Summary(path=source, manifest=manifest)
        _check_empty()  # before migrating: a database in use is left as it is
        summary.migrated = _migrate()
        media_prefix = archive.MEDIA
        listed = [n[len(media_prefix) :] for n in manifest["sha256"] if n.startswith(media_prefix)]
        media = _check_media_free(listed, manifest)
        written: list[str] = []
        try:
            with transaction.atomic():
                summary.counts = _load(zf, manifest)
                for name in media:
                    with zf.open(archive.MEDIA + name) as stream:
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
        with zf.open(archive.MANIFEST) as stream:
            manifest = json.load(stream)
    except (KeyError, ValueError, zipfile.BadZipFile, OSError):
        raise BackupError(not_ours) from None
    if not isinstance(manifest, dict) or manifest.get("format") != archive.FORMAT:
        raise BackupError(not_ours)
    if manifest.get("format_version") != archive.FORMAT_VERSION:
        raise BackupError(
            _("%(file)s is a backup of format %(found)s; this changeflow reads format %(ours)s")
            % {
                "file": source,
                "found": manifest.get("format_version"),
                "ours": archive.FORMAT_VERSION,
            }
        )
    shapes = {"sha256": dict, "models": dict, "migrations": dict}
    if any(not isinstance(manifest.get(key), kind) for key, kind in shapes.items()):
        raise BackupError(not_ours)
    return manifest


def _check_members(zf: zipfile.ZipFile, manifest: dict[str, Any]) -> None:
    """Every member is listed with its SHA-256 and has it; every model has its member."""
    listed = manifest["sha256"]
    present = {info.filename for info in zf.infolist() if not info.is_dir()} - {archive.MANIFEST}
    wanted = set(listed) | {f"{archive.DATA}{label}.jsonl" for label in manifest["models"]}
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
                while chunk := stream.read(archive.CHUNK):
                    digest.update(chunk)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error):
            raise BackupError(_("the archive is damaged: %s cannot be read") % name) from None
        if digest.hexdigest() != expected:
            raise BackupError(_("checksum mismatch: %s is not what was backed up") % name)


def _safe_member(name: str) -> bool:
    if not name.startswith((archive.DATA, archive.MEDIA)) or "\\" in name or "\x00" in name:
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
            while chunk := existing.read(archive.CHUNK):
                digest.update(chunk)
        if digest.hexdigest() != manifest["sha256"][archive.MEDIA + name]:
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
        with zf.open(f"{archive.DATA}{label}.jsonl") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8")
            rows = natural.resolved(model, text)
            objects = serializers.deserialize("python", rows, handle_forward_references=True)
            try:
                for obj in objects:
                    batch.append(obj)
                    count += 1
                    if len(batch) == archive.ROWS_PER_QUERY:
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
            if f.remote_field
            and isinstance(f.related_model, type)
            and has_natural_key(f.related_model)
        ]
        m2ms = [
            (f.name, f.related_model)
            for f in opts.many_to_many
            if isinstance(f.related_model, type) and has_natural_key(f.related_model)
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
