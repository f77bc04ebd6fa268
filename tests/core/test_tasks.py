"""Background tasks: retries with back-off, give-up, orphan recovery, periodic jobs, and real
worker processes (killed mid-task, stopped by SIGTERM)."""

import datetime as dt
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from changeflow.core import periodic, tasks
from changeflow.core.models import PeriodicJob, WorkerHeartbeat
from tests.cli.conftest import changeflow_command
from tests.core import task_helpers

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_backoff_doubles_and_is_capped():
    base = dt.timedelta(seconds=30)
    assert [tasks.backoff_delay(n, base).total_seconds() for n in (1, 2, 3)] == [30, 60, 120]
    assert tasks.backoff_delay(30, base) == dt.timedelta(hours=1)


def test_a_failing_task_is_retried_later_then_succeeds(tmp_path):
    path = str(tmp_path / "calls")
    task_helpers.flaky.enqueue(path, 1)
    assert tasks.run_pending() == 1
    first = DBTaskResult.objects.get(status="FAILED")
    assert "attempt 1 failed" in first.traceback
    retry = DBTaskResult.objects.get(status="READY")
    assert retry.args_kwargs["kwargs"] == {"_attempt": 2}
    assert retry.run_after > timezone.now() + dt.timedelta(seconds=20)  # back-off: not yet due
    assert tasks.run_pending() == 0
    DBTaskResult.objects.filter(pk=retry.pk).update(run_after=timezone.now())
    assert tasks.run_pending() == 1
    assert DBTaskResult.objects.get(pk=retry.pk).status == "SUCCESSFUL"


def test_a_task_gives_up_after_its_attempts(tmp_path):
    path = str(tmp_path / "calls")
    task_helpers.flaky.enqueue(path, 10)
    for _ in range(5):
        DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())
        tasks.run_pending()
    assert DBTaskResult.objects.filter(status="FAILED").count() == 3  # attempts=3
    assert not DBTaskResult.objects.filter(status="READY").exists()
    assert Path(path).read_text().count("run") == 3


def test_running_tasks_of_a_dead_worker_are_queued_again(settings):
    result = task_helpers.flaky.enqueue("/nonexistent/x", 0)
    now = timezone.now()
    WorkerHeartbeat.objects.create(worker_id="alive", seen_at=now)
    WorkerHeartbeat.objects.create(worker_id="dead", seen_at=now - dt.timedelta(minutes=5))
    DBTaskResult.objects.filter(pk=result.id).update(status="RUNNING", worker_ids=["dead"])
    other = task_helpers.flaky.enqueue("/nonexistent/y", 0)
    DBTaskResult.objects.filter(pk=other.id).update(status="RUNNING", worker_ids=["alive"])
    assert tasks.requeue_orphans(now) == 1
    assert DBTaskResult.objects.get(pk=result.id).status == "READY"
    assert DBTaskResult.objects.get(pk=other.id).status == "RUNNING"


def test_periodic_jobs_run_once_per_period_whatever_the_number_of_workers(monkeypatch):
    monkeypatch.setattr(periodic, "_registry", {})
    ran = []
    periodic.register("test.tick", every=dt.timedelta(minutes=5), func=lambda: ran.append(1))

    @periodic.register("test.broken", every=dt.timedelta(minutes=1))
    def broken():
        raise RuntimeError("mailbox unreachable")

    t0 = timezone.now()
    assert periodic.run_due(now=t0, worker_id="a") == ["test.broken", "test.tick"]
    assert periodic.run_due(now=t0, worker_id="b") == []  # the second worker: nothing due
    assert periodic.run_due(now=t0 + dt.timedelta(minutes=2), worker_id="b") == ["test.broken"]
    assert periodic.run_due(now=t0 + dt.timedelta(minutes=6), worker_id="a") == [
        "test.broken",
        "test.tick",
    ]
    assert ran == [1, 1]
    assert "mailbox unreachable" in PeriodicJob.objects.get(name="test.broken").last_error
    with pytest.raises(ValueError):
        periodic.register("test.never", every=dt.timedelta(0), func=print)


@pytest.mark.slow
@pytest.mark.own_home
def test_selecting_redis_rq_runs_tasks_on_redis(tmp_path):
    """CHANGEFLOW_TASKS_BACKEND=rq: enqueued on the local Redis, run by an RQ worker."""
    import redis

    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/15").ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    path = tmp_path / "calls"
    code = (
        "from django.conf import settings; assert settings.TASKS_BACKEND == 'rq';"
        "from tests.core.task_helpers import flaky;"
        "r = flaky.enqueue(%r, 0); print(r.id)" % str(path)
    )
    env = _env(tmp_path, CHANGEFLOW_TASKS_BACKEND="rq", REDIS_URL="redis://127.0.0.1:6379/15")
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    proc = _sh(env, "shell", "-c", code)
    assert proc.returncode == 0, proc.stderr
    proc = _sh(env, "worker", "--batch", "--no-periodic")
    assert proc.returncode == 0, proc.stderr
    assert path.read_text() == "run\n"


def _env(home: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    env.update(
        CHANGEFLOW_HOME=str(home), LANG="C.UTF-8", PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT)
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(extra)
    return env


def _sh(env, *args, timeout=120):
    return subprocess.run(
        [*changeflow_command(), *args], env=env, capture_output=True, text=True,
        timeout=timeout, stdin=subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip


def _wait_for(predicate, timeout=180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
@pytest.mark.own_home
def test_a_worker_killed_mid_task_the_task_runs_again(tmp_path):
    home = tmp_path / "home"
    env = _env(home, CHANGEFLOW_WORKER_DEAD_AFTER="2")
    assert _sh(env, "migrate", "--no-input", "--verbosity", "0").returncode == 0
    marker = tmp_path / "marker"
    code = "from tests.core.task_helpers import slow_once; slow_once.enqueue(%r)" % str(marker)
    proc = _sh(env, "shell", "-c", code)
    assert proc.returncode == 0, proc.stderr
    args = [*changeflow_command(), "worker", "--interval", "0.2", "--no-periodic"]
    first = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        assert _wait_for(lambda: marker.exists()), "the first worker never started the task"
    finally:
        first.kill()  # SIGKILL mid-task: no chance to clean up
        first.wait()
    assert marker.read_text() == "start\n"
    second = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        assert _wait_for(lambda: "done" in marker.read_text()), "the task never ran again"
    finally:
        second.send_signal(signal.SIGTERM)
        output, _ = second.communicate(timeout=30)
    assert marker.read_text() == "start\nstart\ndone\n"
    assert second.returncode == 0, output
    assert "Traceback" not in output


@pytest.mark.slow
@pytest.mark.own_home
def test_serve_runs_tasks_in_its_own_worker_and_stops_it_on_sigterm(tmp_path):
    import re

    from tests.cli.conftest import free_port

    home = tmp_path / "home"
    env = _env(home)
    assert _sh(env, "migrate", "--no-input", "--verbosity", "0").returncode == 0
    marker, link = tmp_path / "calls", tmp_path / "link"
    code = (
        "from tests.core.task_helpers import flaky, record_base_url;"
        "flaky.enqueue(%r, 0); record_base_url.enqueue(%r)" % (str(marker), str(link))
    )
    assert _sh(env, "shell", "-c", code).returncode == 0
    port = free_port()
    server = subprocess.Popen(
        [*changeflow_command(), "serve", "--port", str(port), "--workers", "1", "--no-migrate"],
        env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert _wait_for(lambda: marker.exists() and link.exists()), "serve's worker ran no task"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            output, _ = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
    assert server.returncode == 0, output
    pid = int(re.search(r"changeflow worker \S+-(\d+)-\w+: serving", output).group(1))
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the worker stopped with the server
    assert "Traceback" not in output
    # No CHANGEFLOW_BASE_URL: links point at where this server listens, and it says so.
    assert link.read_text() == f"http://127.0.0.1:{port}"
    assert f"Links in notifications point at http://127.0.0.1:{port}/ " in output
    assert "Task id=" not in output  # no line per task at the default log level


def test_serve_links_default_to_the_address_it_listens_on():
    from changeflow.core.management.commands.serve import default_base_url

    assert default_base_url("127.0.0.1", 8765) == "http://127.0.0.1:8765"
    assert default_base_url("::1", 9000) == "http://[::1]:9000"
    assert default_base_url("0.0.0.0", 80) == f"http://{socket.getfqdn()}:80"


def test_serve_no_worker_starts_none(tmp_path):
    from changeflow.core.management.commands.serve import Command

    parser = Command().create_parser("changeflow", "serve")
    assert parser.parse_args(["--no-worker"]).no_worker is True
