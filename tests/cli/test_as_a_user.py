"""The installed ``changeflow`` script run as a person runs it: a process, its own
CHANGEFLOW_HOME (SQLite), exit codes and what it prints."""

import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from tests.cli.conftest import changeflow_command, free_port, one_line
from tests.factories import PASSWORD


def test_a_fresh_home_without_migrations_fails_cleanly(sh, tmp_path):
    code, out, err = sh("audit", "verify", home=tmp_path)
    assert code == 1 and out == ""
    assert "changeflow migrate" in one_line(err)


def test_unknown_command_is_bad_usage(sh):
    code, out, err = sh("frobnicate")
    assert code == 2 and out == ""
    assert "frobnicate" in one_line(err)


@pytest.mark.slow
def test_migrate_createuser_token_verify(sh):
    code, _out, err = sh("migrate", "--no-input", "--verbosity", "0")
    assert code == 0, err
    code, out, err = sh("createuser", "alice", "--password", PASSWORD, "--admin")
    assert code == 0, err
    code, out, err = sh("createuser", "bob")  # no --password, stdin is not a terminal
    assert code == 2 and "--password" in one_line(err)
    code, out, err = sh("token", "create", "alice")
    assert code == 0, err
    token = one_line(out)
    assert len(token) >= 40 and " " not in token
    code, out, err = sh("token", "create", "nobody")
    assert code == 1 and out == "" and "nobody" in one_line(err)
    code, out, err = sh("audit", "verify")
    assert code == 0, err
    assert "2 events" in one_line(out)


def test_serve_refuses_an_address_in_use(sh):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = sh("serve", "--port", str(port), "--no-migrate", timeout=60)
    assert code == 1
    assert str(port) in one_line(err)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_serve_answers_healthz_and_stops_on_sigterm(sh, cli_home):
    port = free_port()
    server = subprocess.Popen(
        [*changeflow_command(), "serve", "--port", str(port), "--workers", "1", "--threads", "2"],
        env=sh.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        status = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                status, _body = _get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                time.sleep(0.2)
        assert status == 200, server.stdout.read() if server.poll() is not None else status
        # Static files come from whitenoise, collected into CHANGEFLOW_HOME.
        assert (cli_home / "static").is_dir()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            output, _ = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
    assert server.returncode == 0, output
    assert f"http://127.0.0.1:{port}/" in output
    assert "gthread" in output
