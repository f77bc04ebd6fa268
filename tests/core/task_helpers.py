"""Module-level tasks for the worker tests (tasks must be importable by path)."""

import time
from pathlib import Path

from changeflow.core.tasks import background

CALLS: list[str] = []


@background(attempts=3)
def flaky(path: str, fail_times: int) -> str:
    """Fails ``fail_times`` times, then succeeds; every call appends a line to ``path``."""
    file = Path(path)
    runs = len(file.read_text().splitlines()) if file.exists() else 0
    with file.open("a") as fh:
        fh.write("run\n")
    if runs < fail_times:
        raise ConnectionError("attempt %d failed" % (runs + 1))
    return "ok"


@background(attempts=1)
def slow_once(path: str) -> str:
    """Appends "start"; sleeps the first time (to be killed), finishes the next time."""
    file = Path(path)
    first = not file.exists()
    with file.open("a") as fh:
        fh.write("start\n")
    if first:
        time.sleep(120)
    with file.open("a") as fh:
        fh.write("done\n")
    return "done"


@background(attempts=1)
def record_base_url(path: str) -> str:
    """Writes the address the worker's notifications link to."""
    from changeflow.notifications.urlcheck import base_url

    Path(path).write_text(base_url())
    return "ok"
