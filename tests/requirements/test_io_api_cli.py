"""Import/export through the API and the CLI: allowed / forbidden / outsider, bad input."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from changeflow import cli
from changeflow.requirements.models import Requirement
from tests.api.conftest import error_of
from tests.factories import advance, make_cr
from tests.requirements.helpers import make_baseline, make_req

WRITERS = ["pm", "tech_lead", "admin"]
NON_WRITERS = ["qa", "developer", "customer_rep", "customer", "viewer"]
READERS = WRITERS + NON_WRITERS


def import_url(project="ACME"):
    return f"/api/v1/projects/{project}/requirements/import/"


def export_url(project="ACME", fmt="csv"):
    return f"/api/v1/projects/{project}/requirements/export/?format={fmt}"


def upload(content: bytes, name="r.csv"):
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


@pytest.mark.parametrize("who", WRITERS)
def test_import_allowed(personas, api, who):
    client = api(getattr(personas, who))
    body = "title,kind\n登录,user\nExport,functional\n".encode()
    r = client.post(import_url(), {"file": upload(body), "dry_run": "true"}, format="multipart")
    assert r.status_code == 200, r.content
    assert r.json()["dry_run"] and r.json()["added"] == 2
    assert not Requirement.objects.exists()
    r = client.post(import_url(), {"file": upload(body)}, format="multipart")
    assert r.status_code == 200 and r.json()["added"] == 2
    assert Requirement.objects.count() == 2


@pytest.mark.parametrize("who", NON_WRITERS)
def test_import_forbidden(personas, api, who):
    r = api(getattr(personas, who)).post(
        import_url(), {"file": upload(b"title\nx\n")}, format="multipart"
    )
    assert r.status_code == 403 and error_of(r)["code"] == "forbidden"


def test_import_outsider_and_anonymous(personas, api):
    r = api(personas.outsider).post(import_url(), {"file": upload(b"title\nx\n")},
                                    format="multipart")  # fmt: skip
    assert r.status_code == 404
    assert api(None).post(import_url(), {}, format="multipart").status_code == 401


def test_import_bad_input(personas, api):
    client = api(personas.pm)
    r = client.post(import_url(), {}, format="multipart")
    assert r.status_code == 400 and "file" in error_of(r)["fields"]
    r = client.post(import_url(), {"file": upload(b"titel\nx\n")}, format="multipart")
    err = error_of(r)
    assert r.status_code == 400 and err["code"] == "import_invalid"
    assert "unknown column 'titel'" in err["fields"]["file"][0]
    r = client.post(import_url(), {"file": upload(b"<REQ-IF>", "x.reqif")}, format="multipart")
    assert r.status_code == 400 and "Broken XML" in error_of(r)["fields"]["file"][0]
    r = client.post(import_url(), {"file": upload(b"x", "x.doc")}, format="multipart")
    assert r.status_code == 400
    r = client.post(import_url(), {"file": upload(b"title\nx\n"), "format": "pdf"},
                    format="multipart")  # fmt: skip
    assert r.status_code == 400
    assert not Requirement.objects.exists()


def test_import_baselined_needs_cr(personas, api):
    p = personas
    a = make_req(p.project, by=p.pm, title="Frozen")
    make_baseline(p.project, by=p.pm)
    body = f"key,title\n{a.key},Changed\n".encode()
    r = api(p.pm).post(import_url(), {"file": upload(body)}, format="multipart")
    assert r.status_code == 422 and error_of(r)["code"] == "change_request_required"
    cr = advance(make_cr(p.project, by=p.customer), p, "implementing")
    r = api(p.pm).post(import_url(), {"file": upload(body), "change_request": cr.key},
                       format="multipart")  # fmt: skip
    assert r.status_code == 200 and r.json()["modified"] == 1


@pytest.mark.parametrize("who", READERS)
@pytest.mark.parametrize("fmt", ["csv", "xlsx", "reqif"])
def test_export_allowed(personas, api, who, fmt):
    make_req(personas.project, by=personas.pm, title="登录")
    r = api(getattr(personas, who)).get(export_url(fmt=fmt))
    assert r.status_code == 200
    assert r["Content-Disposition"].startswith('attachment; filename="ACME-requirements-')
    assert r["Content-Disposition"].endswith(f'.{fmt}"')
    assert len(r.content) > 100


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "reqif"])
def test_export_media_type_is_the_documented_one(personas, api, fmt):
    """Found by the schema fuzzing (test_fuzz.py): the exports were documented as
    application/octet-stream but answer text/csv, XLSX's or XML's media type."""
    from django.test import Client

    make_req(personas.project, by=personas.pm, title="登录")
    sent = api(personas.pm).get(export_url(fmt=fmt))["Content-Type"].split(";")[0]
    paths = Client().get("/api/v1/schema/?format=json").json()["paths"]
    for path in ("/api/v1/projects/{key}/requirements/export/",
                 "/api/v1/projects/{key}/matrix/export/"):  # fmt: skip
        documented = paths[path]["get"]["responses"]["200"]["content"]
        assert "application/octet-stream" not in documented
        if path.endswith("requirements/export/") or fmt != "reqif":
            assert sent in documented, (path, sent)


def test_export_outsider_and_bad_format(personas, api):
    assert api(personas.outsider).get(export_url()).status_code == 404
    r = api(personas.pm).get(export_url(fmt="pdf"))
    assert r.status_code == 400 and "format" in error_of(r)["fields"]


# ---------------------------------------------------------------- CLI


@pytest.fixture
def run_cli(capsys, english_terminal):
    def run(*args: str):
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_cli_import_export(personas, run_cli, tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes("key,parent,title\na,,Top\nb,a,子需求\n".encode("gb18030"))
    code, out, err = run_cli("requirements", "import", str(source), "--project", "ACME",
                             "--dry-run")  # fmt: skip
    assert code == 0, err
    assert "would add ACME-R-1 [line 2]" in out and "dry run" in out
    assert not Requirement.objects.exists()
    assert err == ""  # no progress display when stderr is not a terminal
    code, out, err = run_cli("requirements", "import", str(source), "--project", "ACME")
    assert code == 0 and "2 added" in out
    assert Requirement.objects.get(key="ACME-R-2").parent.key == "ACME-R-1"
    for fmt in ("csv", "xlsx", "reqif"):
        target = tmp_path / f"out.{fmt}"
        code, out, err = run_cli("requirements", "export", str(target), "--project", "ACME")
        assert code == 0 and target.exists(), err
        code, out, err = run_cli("requirements", "import", str(target), "--project", "ACME")
        assert code == 0 and "0 added, 0 modified, 2 unchanged" in out, (fmt, out, err)


def test_cli_errors(personas, run_cli, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("title,parent\nx,ACME-R-7\n")
    code, out, err = run_cli("requirements", "import", str(bad), "--project", "ACME")
    assert code == 1
    assert err.count("\n") == 1 and "line 2" in err and "Traceback" not in err
    code, _o, err = run_cli("requirements", "import", str(tmp_path / "none.csv"), "--project",
                            "ACME")  # fmt: skip
    assert code == 1 and "cannot read" in err
    code, _o, err = run_cli("requirements", "import", str(bad), "--project", "NOPE")
    assert code == 1 and "unknown project" in err
    code, _o, err = run_cli("requirements", "import", str(bad))
    assert code == 2
    a = make_req(personas.project, by=personas.pm, title="Frozen")
    make_baseline(personas.project, by=personas.pm)
    frozen = tmp_path / "frozen.csv"
    frozen.write_text(f"key,title\n{a.key},Changed\n")
    code, _o, err = run_cli("requirements", "import", str(frozen), "--project", "ACME")
    assert code == 1 and a.key in err and "change request" in err
    assert not Requirement.objects.filter(title="Changed").exists()


def test_progress_only_on_a_terminal():
    import io as stdio

    from changeflow.requirements.management.commands.requirements import Progress

    class Terminal(stdio.StringIO):
        def isatty(self):
            return True

    quiet, live = stdio.StringIO(), Terminal()
    for stream in (quiet, live):
        progress = Progress(stream, every=0)
        progress("check", 500, 1000)
        progress("write", 1000, 1000)
        progress.done()
    assert quiet.getvalue() == ""
    assert "checking 500/1000  50%" in live.getvalue() and "writing 1000/1000" in live.getvalue()
