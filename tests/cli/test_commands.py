"""The CLI run in-process on the test database: createuser, token create, audit verify."""

import io
import json

import pytest
from django.db import connection

from changeflow.accounts.models import User
from changeflow.accounts.services import token_authenticate
from changeflow.core.models import AuditEvent, AuditHead
from tests.cli.conftest import one_line
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def test_createuser_with_a_password(run_cli):
    code, out, err = run_cli("createuser", "alice", "--password", PASSWORD, "--email", "a@x.cn")
    assert (code, err) == (0, "")
    assert "alice" in out
    user = User.objects.get(username="alice")
    assert user.check_password(PASSWORD) and user.email == "a@x.cn"
    assert not user.is_superuser
    event = AuditEvent.objects.get(action="user.created", object_key="alice")
    assert event.channel == "cli"


def test_createuser_admin(run_cli):
    code, _out, _err = run_cli("createuser", "root2", "--password", PASSWORD, "--admin")
    assert code == 0
    assert User.objects.get(username="root2").is_superuser


def test_createuser_asks_for_the_password_on_a_terminal(run_cli, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr("getpass.getpass", lambda prompt="": PASSWORD)
    code, _out, err = run_cli("createuser", "carol")
    assert (code, err) == (0, "")
    assert User.objects.get(username="carol").check_password(PASSWORD)


def test_createuser_without_a_password_or_a_terminal_is_bad_usage(run_cli, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, out, err = run_cli("createuser", "dave")
    assert code == 2
    assert "--password" in one_line(err)
    assert not User.objects.filter(username="dave").exists()


def test_createuser_mistakes_fail_in_one_line(run_cli):
    make_user("erin")
    code, _out, err = run_cli("createuser", "erin", "--password", PASSWORD)
    assert code == 1
    assert "taken" in one_line(err)
    code, _out, err = run_cli("createuser", "frank", "--password", "123")
    assert code == 1
    assert "password" in one_line(err).lower()
    assert not User.objects.filter(username="frank").exists()


def test_token_create_prints_the_token_alone(run_cli):
    user = make_user("grace")
    code, out, err = run_cli("token", "create", "grace")
    assert (code, err) == (0, "")
    assert out.endswith("\n") and out.count("\n") == 1
    assert token_authenticate(out.strip()) == user


def test_token_create_for_nobody_fails(run_cli):
    code, out, err = run_cli("token", "create", "nobody")
    assert (code, out) == (1, "")
    assert "nobody" in one_line(err)


def test_audit_verify_intact(run_cli):
    make_user("heidi")
    code, out, err = run_cli("audit", "verify")
    assert (code, err) == (0, "")
    head = AuditHead.objects.get(pk=1)
    assert str(head.seq) in out and head.hash in out
    code, out, _err = run_cli("audit", "verify", "--json")
    assert code == 0
    assert json.loads(out) == {"ok": True, "events": head.seq, "head": head.hash}


def _tamper(seq: int) -> None:
    """Change one audit row behind the application's back, as a DBA could."""
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("ALTER TABLE core_auditevent DISABLE TRIGGER core_auditevent_append_only")
        cur.execute("UPDATE core_auditevent SET actor = %s WHERE seq = %s", ["mallory", seq])
        if connection.vendor == "postgresql":
            cur.execute("ALTER TABLE core_auditevent ENABLE TRIGGER core_auditevent_append_only")


def test_audit_verify_names_the_first_broken_event(run_cli):
    for name in ("ivan", "judy", "ken"):
        make_user(name)
    _tamper(2)
    code, out, err = run_cli("audit", "verify")
    assert (code, out) == (1, "")
    line = one_line(err)
    broken = AuditEvent.objects.get(seq=2)
    assert "#2" in line and f"id {broken.pk}" in line and "hash" in line
    code, out, _err = run_cli("audit", "verify", "--json")
    assert code == 1
    result = json.loads(out)
    assert result["ok"] is False and result["broken_seq"] == 2 and result["broken_id"] == broken.pk


@pytest.mark.parametrize(
    "args",
    [
        ("frobnicate",),
        ("createuser",),
        ("token",),
        ("token", "delete", "x"),
        ("audit",),
        ("serve", "--port", "http"),
        ("serve", "--workers", "0"),
        ("createuser", "x", "--no-such-option"),
        ("--workers", "2"),
    ],
)
def test_bad_usage_exits_2_with_one_line(run_cli, args):
    code, out, err = run_cli(*args)
    assert code == 2
    assert one_line(err).startswith("changeflow: ")
    assert out == ""


def test_help(run_cli):
    code, out, _err = run_cli("help")
    assert code == 0
    for command in ("serve", "createuser", "token create", "demo", "audit verify", "backup FILE",
                    "restore FILE"):  # fmt: skip
        assert command in out
    # the apps' own commands are listed with their help, under their documented names
    own, _sep, django = out.partition("Other commands")
    for command in ("ingest-email ", "estimate ", "requirements ", "simulate ", "meetings "):
        assert command in own
    # ... each with what it takes, in the style of the hand-written lines
    lines = {line.split()[0]: line for line in own.splitlines() if line.startswith("  ")}
    assert lines["requirements"].split()[1] == "import|export"
    assert "import or export a project's requirements (CSV, XLSX, ReqIF)" in lines["requirements"]
    assert lines["ingest-email"].split()[1:4] == ["FILE", "--project", "KEY"]
    assert "backtest|" in lines["estimate"] and "estimation tools" in lines["estimate"]
    assert "Monte Carlo simulation" in lines["simulate"]  # a name keeps its capital
    assert not any(line.endswith(".") for line in lines.values())
    assert "ingest_email" not in out and "makemigrations" in django
    code, out, _err = run_cli("help", "ingest-email")
    assert code == 0 and "usage: changeflow ingest-email" in out
    code, out, _err = run_cli("help", "serve")
    assert code == 0 and "--workers" in out
    code, out, _err = run_cli("serve", "--help")
    assert code == 0 and "--port" in out


def test_django_commands_pass_through(run_cli):
    code, out, err = run_cli("makemigrations", "--check", "--dry-run")
    assert code == 0, err
    assert "No changes detected" in out


@pytest.mark.own_home
def test_a_new_home_is_made_when_the_secret_key_comes_from_the_environment(sh, tmp_path):
    """With the key in the environment nothing wrote the secret key file, which made the folder:
    the default SQLite database then could not be opened ("unable to open database file")."""
    home = tmp_path / "new" / "home"
    code, _out, err = sh(
        "migrate", "--verbosity", "0", home=home,
        extra_env={"CHANGEFLOW_SECRET_KEY": "k" * 50},
    )  # fmt: skip
    assert code == 0, err
    assert (home / "changeflow.sqlite3").is_file() and not (home / "secret_key").exists()
