"""``changeflow cr import|export``: through the services, dry run, one line on stderr and
exit 1 on bad input."""

import pytest

from changeflow.changes.models import ChangeRequest
from tests.api.test_cr_import_export import GOOD, GOOD_OK
from tests.cli.conftest import one_line

pytestmark = pytest.mark.django_db


def test_cli_import_and_export(run_cli, personas, tmp_path):
    p = personas
    source = tmp_path / "crs.csv"
    source.write_bytes(GOOD_OK)
    code, out, err = run_cli("cr", "import", str(source), "--project", "acme", "--dry-run")
    assert (code, err) == (0, "") and "would create ACME-1 [row 2] 第一个" in out
    assert "dry run, nothing written: 2 created, 0 skipped" in out
    assert not ChangeRequest.objects.exists()
    code, out, err = run_cli("cr", "import", str(source), "--project", "ACME")
    assert (code, err) == (0, "") and out.strip().endswith("2 created, 0 skipped")
    assert ChangeRequest.objects.get(source_ref="R-1").created_by == p.pm
    assert ChangeRequest.objects.get(source_ref="R-1").state == "draft"
    again = tmp_path / "more.csv"
    again.write_bytes(b"ref,title\nR-9,Ninth\n")
    code, out, err = run_cli("cr", "import", str(again), "--project", "ACME", "--submit")
    assert code == 0 and ChangeRequest.objects.get(source_ref="R-9").state == "submitted"
    target = tmp_path / "out.xlsx"
    code, out, err = run_cli("cr", "export", str(target), "--project", "ACME", "--user", "qa_acme")
    assert code == 0 and target.read_bytes()[:2] == b"PK"
    code, out, err = run_cli("cr", "export", str(tmp_path / "out"), "--project", "ACME")
    assert code == 1 and one_line(err)


def test_cli_errors_are_one_line_exit_1(run_cli, personas, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(GOOD)
    code, out, err = run_cli("cr", "import", str(bad), "--project", "ACME")
    assert code == 1 and one_line(err) and "row 3, column 优先级" in err
    code, out, err = run_cli("cr", "import", str(tmp_path / "none.csv"), "--project", "ACME")
    assert code == 1 and one_line(err)
    code, out, err = run_cli("cr", "import", str(bad), "--project", "NOPE")
    assert code == 1 and one_line(err)
    good = tmp_path / "good.csv"
    good.write_bytes(GOOD_OK)
    code, out, err = run_cli(
        "cr", "import", str(good), "--project", "ACME", "--user", "developer_acme"
    )
    assert code == 1 and one_line(err) and "project managers" in err
    assert not ChangeRequest.objects.exists()
    code, out, err = run_cli("cr", "import", str(good), "--project", "ACME", "--format", "pdf")
    assert code == 2


def test_cli_imports_a_large_file_in_process_with_progress_on_a_terminal(
    personas, tmp_path, monkeypatch, settings
):
    """Above the web's background limit the CLI still imports at once (no job), and a progress
    line goes to stderr when stderr is a terminal (none otherwise: the test above)."""
    import io as stdio
    import sys

    from changeflow import cli
    from changeflow.changes.models import ImportJob

    class Terminal(stdio.StringIO):
        def isatty(self):
            return True

    settings.CHANGEFLOW_CR_IMPORT_SYNC_ROWS = 5
    source = tmp_path / "big.csv"
    source.write_text("ref,title\n" + "".join(f"L-{i},Large {i}\n" for i in range(300)))
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert cli.main(["cr", "import", str(source), "--project", "ACME"]) == 0
    assert ChangeRequest.objects.count() == 300 and not ImportJob.objects.exists()
    shown = terminal.getvalue()
    assert "\rchecking 0/300" in shown and "\rwriting " in shown and shown.endswith("\r\x1b[K")
