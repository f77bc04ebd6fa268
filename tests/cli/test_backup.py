"""``changeflow backup`` and ``restore``: the demo there and back, across databases, and every
way an archive or a target can be wrong.

The demo is built once for the module (committed: a backup reads in a transaction of its own),
backed up, and the database emptied again; each test restores that archive into the emptied
test database (or, through the real console script, into databases of their own).
"""

import hashlib
import json
import os
import shutil
import threading
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from changeflow import backup, demo
from changeflow.accounts import services as accounts
from changeflow.accounts.models import Project, User
from changeflow.changes.models import Attachment, ChangeRequest
from changeflow.changes.services import change_request_create
from changeflow.core import audit, search
from tests.cli.conftest import one_line
from tests.factories import make_user

# Every test needs the test database set up, even those that only run the console script.
pytestmark = pytest.mark.django_db

PM = "wang.lei"


def _counts() -> dict[str, int]:
    return {m._meta.label_lower: m._base_manager.count() for m in backup.dumped_models()}


@pytest.fixture(scope="module")
def site(django_db_setup, django_db_blocker, tmp_path_factory):
    """The demo with an API token, committed, backed up to ``archive``; then the database is
    emptied again, as every other test expects it."""
    tmp = tmp_path_factory.mktemp("backup")
    with django_db_blocker.unblock(), override_settings(HOME=tmp, MEDIA_ROOT=tmp / "media"):
        try:
            loaded = demo.load()
            pm = User.objects.get(username=PM)
            token = accounts.token_create(user=pm)
            attachment = Attachment.objects.order_by("pk").first()
            # An import's file waiting between its preview and confirmation: not kept.
            default_storage.save("imports/1765000000-staged", ContentFile(b"title\nstaged\n"))
            with attachment.file.open("rb") as fh:
                content = fh.read()
            facts = SimpleNamespace(
                archive=tmp / "site.zip",
                counts=_counts(),
                head=audit.verify(),
                password={u: p for u, _r, p in loaded.credentials}[PM],
                token=token,
                attachment=(attachment.pk, attachment.file.name, content),
                last_cr=ChangeRequest.objects.order_by("-pk").values_list("pk", "number")[0],
                summary=backup.backup(tmp / "site.zip"),
            )
        finally:
            call_command("flush", interactive=False, verbosity=0)
    return facts


def _rewrite(source: Path, target: Path, change, extra: dict[str, bytes] | None = None) -> None:
    """Copy an archive, passing each member's bytes through ``change(name, data)``; add the
    ``extra`` members."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            new.writestr(info.filename, change(info.filename, old.read(info.filename)))
        for name, data in (extra or {}).items():
            new.writestr(name, data)


def _manifest(path: Path) -> dict:
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("manifest.json"))


def _media_files() -> list[Path]:
    return [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


# ------------------------------------------------------------------------ the archive itself


def test_the_archive_holds_a_manifest_the_data_and_the_files(site):
    manifest = _manifest(site.archive)
    assert manifest["format"] == "changeflow-backup" and manifest["format_version"] == 1
    assert manifest["database_vendor"] == connection.vendor
    assert manifest["changeflow_version"] and manifest["created_at"]
    assert "0001_initial" in manifest["migrations"]["changes"]
    assert manifest["models"] == site.counts
    assert manifest["models"]["changes.changerequest"] == site.last_cr[1]
    # A fingerprint of the key, never the key.
    assert manifest["secret_key_fingerprint"].startswith("hkdf-sha256:")
    assert settings.SECRET_KEY not in site.archive.read_bytes().decode("latin-1")
    with zipfile.ZipFile(site.archive) as zf:
        names = set(zf.namelist()) - {"manifest.json"}
        assert names == set(manifest["sha256"])
        for name, digest in manifest["sha256"].items():
            assert hashlib.sha256(zf.read(name)).hexdigest() == digest
        media = [n for n in names if n.startswith("media/")]
        assert len(media) == manifest["media_files"] >= 1
        assert not [n for n in media if n.startswith("media/imports/")]
        assert zf.read("media/" + site.attachment[1]) == site.attachment[2]
        # Users are named by their natural key where rows refer to them.
        cr = json.loads(zf.read("data/changes.changerequest.jsonl").splitlines()[0])
        assert cr["fields"]["created_by"] == [cr["fields"]["created_by"][0]]
        assert isinstance(cr["fields"]["created_by"][0], str)
    assert os.stat(site.archive).st_mode & 0o077 == 0  # password hashes inside: owner only


# ---------------------------------------------------------------------------- round trip


@pytest.mark.django_db(transaction=True)
def test_round_trip_of_the_demo(site, run_cli, client):
    assert not User.objects.exists()
    code, out, err = run_cli("restore", str(site.archive))
    assert (code, err) == (0, "")
    assert f"Audit chain intact: {site.head.events} events, head {site.head.head}" in out
    assert _counts() == site.counts
    result = audit.verify()
    assert (result.ok, result.events, result.head) == (True, site.head.events, site.head.head)

    pk, _name, content = site.attachment
    with Attachment.objects.get(pk=pk).file.open("rb") as fh:
        assert fh.read() == content

    # A demo user signs in with the same password; the API token still works.
    answer = client.post(reverse("login"), {"username": PM, "password": site.password})
    assert answer.status_code == 302, answer.content[:500]
    pm = User.objects.get(username=PM)
    assert accounts.token_authenticate(site.token) == pm
    api = client.get("/api/v1/projects/", HTTP_AUTHORIZATION=f"Token {site.token}")
    assert api.status_code == 200 and "ACME" in api.content.decode()

    # The search index was rebuilt (it is no model: the archive does not carry it).
    title_word = ChangeRequest.objects.get(pk=site.last_cr[0]).title.split()[0]
    sql, params = search.matching_ids_sql(title_word)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        assert site.last_cr[0] in {row[0] for row in cursor.fetchall()}

    # Sequences follow the restored rows (PostgreSQL): a new CR gets the next key and id.
    cr = change_request_create(
        user=pm, project=Project.objects.get(key="ACME"), title="After the restore",
        description="A new change request.",
    )  # fmt: skip
    assert cr.key == f"ACME-{site.last_cr[1] + 1}" and cr.pk > site.last_cr[0]
    assert audit.verify().ok


@pytest.mark.django_db(transaction=True)
def test_a_failed_restore_writes_nothing(site, run_cli, tmp_path):
    """A row that names a change request the archive lacks (its checksum made to match): the
    load fails on the foreign key at the end, and the database and the media stay empty."""
    bad = tmp_path / "bad.zip"
    member = "data/changes.comment.jsonl"
    with zipfile.ZipFile(site.archive) as zf:
        row = json.loads(zf.read(member).splitlines()[0])
    row["pk"], row["fields"]["change_request"] = 999_999, 999_999
    extra = (json.dumps(row) + "\n").encode()

    def change(name, data):
        if name == member:
            return data + extra
        if name == "manifest.json":
            manifest = json.loads(data)
            manifest["sha256"][member] = hashlib.sha256(
                zipfile.ZipFile(site.archive).read(member) + extra
            ).hexdigest()
            return json.dumps(manifest).encode()
        return data

    _rewrite(site.archive, bad, change)
    code, out, err = run_cli("restore", str(bad))
    assert code == 1, out + err
    assert "nothing was restored" in one_line(err)
    assert not User.objects.exists() and not Project.objects.exists()
    assert _media_files() == []


@pytest.mark.django_db(transaction=True)
def test_a_backup_taken_while_others_write_is_consistent(site, run_cli, tmp_path):
    """Change requests are created without pause while the backup runs: the archive holds a
    state that was, each time: every CR the project's counter has handed out (the project is
    dumped before the CRs) and every audit event its chain head counts (the head before the
    events)."""
    assert run_cli("restore", str(site.archive))[0] == 0
    project = Project.objects.get(key="ACME")
    pm = User.objects.get(username=PM)
    stop, commits, errors = threading.Event(), [], []

    def write() -> None:
        try:
            while not stop.is_set():
                change_request_create(
                    user=pm, project=project, title="Written meanwhile", description="…"
                )
                commits.append(time.monotonic())
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)
        finally:
            connection.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while not commits:  # the writer is under way
            time.sleep(0.01)
        started = time.monotonic()
        code, _out, err = run_cli("backup", str(tmp_path / "busy.zip"))
        ended = time.monotonic()
    finally:
        stop.set()
        writer.join()
    assert (code, err, errors) == (0, "", [])
    assert any(started < t < ended for t in commits)  # it did write while the backup ran
    with zipfile.ZipFile(tmp_path / "busy.zip") as zf:
        rows = {
            name: [json.loads(line) for line in zf.read(f"data/{name}.jsonl").splitlines()]
            for name in ("accounts.project", "changes.changerequest", "core.audithead")
        }
        events = len(zf.read("data/core.auditevent.jsonl").splitlines())
    acme = next(r for r in rows["accounts.project"] if r["fields"]["key"] == "ACME")
    numbers = sorted(r["fields"]["number"] for r in rows["changes.changerequest"])
    assert numbers == list(range(1, acme["fields"]["next_cr_number"]))
    assert rows["core.audithead"][0]["fields"]["seq"] == events


# ------------------------------------------------------------------------- wrong archives


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "cannot read"),
        ("directory", "cannot read"),
        ("not an archive", "not a changeflow backup"),
        ("a zip of something else", "not a changeflow backup"),
        ("tampered member", "checksum mismatch: data/changes.changerequest.jsonl"),
        ("member added", "does not match its manifest"),
        ("file outside the media", "misnamed: media/../outside"),
        ("newer migrations", "does not have (changes.0999_from_the_future)"),
        ("older migrations", "lacks migrations this version has (changes."),
        ("other format version", "format 99"),
    ],
)
def test_a_wrong_archive_is_refused_in_one_line(site, run_cli, tmp_path, case, message):
    path = tmp_path / "archive.zip"
    if case == "directory":
        path.mkdir()
    elif case == "not an archive":
        path.write_text("not a zip\n")
    elif case == "a zip of something else":
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("readme.txt", "hello")
    elif case != "missing":

        def change(name, data):
            if case == "tampered member" and name == "data/changes.changerequest.jsonl":
                return data.replace(b"ACME-1", b"ACME-X", 1)
            if name != "manifest.json":
                return data
            manifest = json.loads(data)
            if case == "member added":
                manifest["sha256"]["media/extra"] = hashlib.sha256(b"").hexdigest()
            elif case == "file outside the media":
                manifest["sha256"]["media/../outside"] = hashlib.sha256(b"x").hexdigest()
            elif case == "newer migrations":
                manifest["migrations"]["changes"].append("0999_from_the_future")
            elif case == "older migrations":
                manifest["migrations"]["changes"].pop()
            elif case == "other format version":
                manifest["format_version"] = 99
            return json.dumps(manifest).encode()

        outside = {"media/../outside": b"x"} if case == "file outside the media" else {}
        _rewrite(site.archive, path, change, outside)
    code, out, err = run_cli("restore", str(path))
    assert (code, out) == (1, "")
    assert message in one_line(err)
    assert not User.objects.exists() and _media_files() == []


def test_a_database_that_is_not_empty_is_refused(site, run_cli):
    make_user("someone")
    code, out, err = run_cli("restore", str(site.archive))
    assert (code, out) == (1, "")
    assert "the database is not empty (users: 1" in one_line(err)
    assert User.objects.count() == 1 and _media_files() == []


def test_restore_without_a_file_is_bad_usage(run_cli):
    code, _out, err = run_cli("restore")
    assert code == 2 and "FILE" in one_line(err)


def test_backup_keeps_an_existing_file_unless_forced(run_cli, tmp_path):
    target = tmp_path / "site.zip"
    target.write_bytes(b"precious")
    code, out, err = run_cli("backup", str(target))
    assert (code, out) == (1, "")
    assert "exists already (--force replaces it)" in one_line(err)
    assert target.read_bytes() == b"precious"
    code, out, err = run_cli("backup", str(target), "--force")
    assert (code, err) == (0, "")
    assert _manifest(target)["models"]["accounts.user"] == 0
    assert [p.name for p in tmp_path.iterdir()] == ["site.zip"]  # no temporary file left


def test_backup_into_a_missing_folder_fails_and_leaves_nothing(run_cli, tmp_path):
    code, out, err = run_cli("backup", str(tmp_path / "nowhere" / "site.zip"))
    assert (code, out) == (1, "")
    assert "no such directory" in one_line(err)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------- across the databases


@pytest.fixture
def spare_postgres(django_db_blocker):
    """A PostgreSQL database the test may empty: CHANGEFLOW_TEST_SPARE_DATABASE_URL, or when
    the suite runs on PostgreSQL one made beside the test database (and dropped after)."""
    import psycopg

    url = os.environ.get("CHANGEFLOW_TEST_SPARE_DATABASE_URL")
    made = None
    if not url:
        if connection.vendor != "postgresql":
            pytest.skip("needs PostgreSQL: run on it, or set CHANGEFLOW_TEST_SPARE_DATABASE_URL")
        made = connection.settings_dict["NAME"] + "_restore"
        with django_db_blocker.unblock(), connection._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{made}"')
            cursor.execute(f'CREATE DATABASE "{made}"')
        parts = urlsplit(os.environ["DATABASE_URL"])
        url = urlunsplit(parts._replace(path="/" + made))

    def wipe():
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")

    if made is None:
        wipe()
    try:
        yield url
    finally:
        if made is None:
            wipe()
        else:
            with django_db_blocker.unblock(), connection._nodb_cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{made}"')


def test_from_one_database_to_the_other_and_back(site, sh, spare_postgres, tmp_path):
    """The module's archive (from the suite's database) into PostgreSQL or SQLite, backed up
    there, and into the other one: SQLite → PostgreSQL and PostgreSQL → SQLite, through the
    real console script, each time every count and the audit chain's head the same."""
    key = {"CHANGEFLOW_SECRET_KEY": settings.SECRET_KEY}
    sqlite = {**key, "CHANGEFLOW_HOME": str(tmp_path / "sqlite")}
    postgres = {**key, "CHANGEFLOW_HOME": str(tmp_path / "pg"), "DATABASE_URL": spare_postgres}
    first, second = (postgres, sqlite) if connection.vendor == "sqlite" else (sqlite, postgres)
    archive = site.archive
    for n, target in enumerate((first, second)):
        Path(target["CHANGEFLOW_HOME"]).mkdir()
        code, out, err = sh("restore", str(archive), extra_env=target)
        assert (code, err) == (0, ""), out + err
        assert f"head {site.head.head}" in out and "migrated first" in out
        code, out, err = sh("audit", "verify", "--json", extra_env=target)
        assert json.loads(out) == {"ok": True, "events": site.head.events, "head": site.head.head}
        _pk, name, content = site.attachment
        assert Path(target["CHANGEFLOW_HOME"], "media", name).read_bytes() == content
        copy = tmp_path / f"copy{n}.zip"
        code, out, err = sh("backup", str(copy), extra_env=target)
        assert (code, err) == (0, ""), out + err
        manifest = _manifest(copy)
        assert manifest["models"] == site.counts
        assert manifest["database_vendor"] == ("postgresql" if target is postgres else "sqlite")
        archive = copy


def test_another_secret_key_is_warned_about(site, sh, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    code, out, err = sh(
        "restore", str(site.archive), home=home, extra_env={"CHANGEFLOW_SECRET_KEY": "another"}
    )
    assert code == 0, err
    assert "Audit chain intact" in out
    warning = one_line(err)
    assert "secret key" in warning and "cannot be decrypted: 1." in warning
    assert "CHANGEFLOW_SECRET_KEY" in warning
    shutil.rmtree(home)
