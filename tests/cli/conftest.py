import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from changeflow import cli


@pytest.fixture(autouse=True)
def _english(english_terminal):
    """The CLI follows the terminal's language; these tests read its English."""


@pytest.fixture
def run_cli(capsys):
    """Run ``changeflow ARGS…`` in this process (on the test database): (code, out, err)."""

    def run(*args: str):
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def changeflow_command() -> list[str]:
    script = Path(sys.executable).with_name("changeflow")
    if script.exists():
        return [str(script)]
    found = shutil.which("changeflow")
    return [found] if found else [sys.executable, "-m", "changeflow.cli"]


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory):
    """A CHANGEFLOW_HOME of its own, on SQLite whatever database the suite runs on."""
    return tmp_path_factory.mktemp("changeflow-home")


@pytest.fixture(scope="module")
def sh(cli_home):
    """Run the installed ``changeflow`` script as a user would: (code, stdout, stderr)."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(CHANGEFLOW_HOME=str(cli_home), LANG="C.UTF-8", PYTHONUNBUFFERED="1")

    def run(
        *args: str, timeout: float = 120, home: Path | None = None, extra_env=None, **kw
    ):  # fmt: skip
        run_env = env if home is None else {**env, "CHANGEFLOW_HOME": str(home)}
        run_env = {**run_env, **(extra_env or {})}
        proc = subprocess.run(
            [*changeflow_command(), *args], env=run_env, capture_output=True, text=True,
            timeout=timeout, stdin=kw.pop("stdin", subprocess.DEVNULL), **kw,
        )  # fmt: skip
        return proc.returncode, proc.stdout, proc.stderr

    run.env = env
    return run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_line(text: str) -> str:
    """The text, asserted to be exactly one line and no traceback."""
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]
