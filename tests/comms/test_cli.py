"""``changeflow ingest-email FILE --project KEY`` as a user runs it."""

import io
import sys

import pytest
from django.core.management import call_command
from django.utils import translation

from changeflow.changes.models import ChangeRequest
from tests.cli.conftest import one_line
from tests.comms.test_intake import make_mail

pytestmark = pytest.mark.django_db


@pytest.fixture
def eml(tmp_path):
    path = tmp_path / "new.eml"
    path.write_bytes(make_mail())
    return path


def test_call_command(personas, eml):
    out = io.StringIO()
    with translation.override("en"):
        call_command("ingest_email", str(eml), project="acme", stdout=out)
    cr = ChangeRequest.objects.get(project=personas.project)
    assert out.getvalue().strip() == "created %s" % cr.key
    out = io.StringIO()
    with translation.override("zh-hans"):
        call_command("ingest_email", str(eml), project="ACME", stdout=out)
    assert out.getvalue().strip() == "已创建 %s" % cr.key  # the same mail: the same CR


def test_run_cli_outcomes_and_errors(personas, eml, run_cli, monkeypatch, tmp_path):
    code, out, err = run_cli("ingest-email", str(eml), "--project", "ACME")
    key = ChangeRequest.objects.get(project=personas.project).key
    assert (code, out.strip(), err) == (0, "created %s" % key, "")
    reply = make_mail(subject="Re: [%s]" % key, message_id="<r1@acme.cn>")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(reply)))
    code, out, err = run_cli("ingest-email", "-", "--project", "ACME")
    assert (code, out.strip()) == (0, "commented %s" % key)
    code, _out, err = run_cli("ingest-email", str(eml), "--project", "NOPE")
    assert code == 1 and "unknown project" in one_line(err)
    code, _out, err = run_cli("ingest-email", str(tmp_path / "missing.eml"), "--project", "ACME")
    assert code == 1 and "missing.eml" in one_line(err)
    code, _out, err = run_cli("ingest-email", str(eml))
    assert code == 2 and "--project" in one_line(err)


@pytest.mark.slow
@pytest.mark.own_home
def test_subprocess(sh, tmp_path):
    """The installed script, its own SQLite home: the demo project takes a mail from stdin."""
    from changeflow.demo import PROJECT_KEY

    assert sh("migrate", "-v", "0")[0] == 0
    code, _out, err = sh("demo")
    assert code == 0, err
    path = tmp_path / "new.eml"
    path.write_bytes(make_mail(message_id="<s1@x.cn>"))
    with path.open("rb") as stdin:
        code, out, err = sh("ingest-email", "-", "--project", PROJECT_KEY, stdin=stdin)
    assert code == 0, err
    assert one_line(out).startswith("created %s-" % PROJECT_KEY)
    code, out, err = sh("ingest-email", str(path), "--project", PROJECT_KEY)
    assert (code, one_line(out)) == (0, "created %s" % out.split()[1])  # the same CR, once
    code, out, err = sh("ingest-email", str(path), "--project", "NOPE")
    assert code == 1 and "NOPE" in one_line(err)
