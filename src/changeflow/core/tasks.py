"""Background tasks: ``django.tasks`` with retries, and the worker that runs them.

``background(...)`` declares a task the way ``@django.tasks.task`` does, plus retries: when the
function raises, the same call is enqueued again with exponential back-off (``run_after``)
until ``attempts`` is reached; the failed attempt stays visible with its error. Task functions
must be idempotent: a retry, or a worker killed mid-task whose task runs again, must not do
twice what someone would see twice (callers keep a "done" mark on their own rows).

The worker (``changeflow worker``, and the one ``changeflow serve`` starts) runs the database
backend's queue, the periodic jobs of ``core.periodic``, keeps a heartbeat, and puts back in
the queue the running tasks of workers whose heartbeat stopped (killed mid-task).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections, transaction
from django.tasks import task as django_task
from django.utils import timezone
from django.utils.crypto import get_random_string

logger = logging.getLogger(__name__)

ATTEMPT_KWARG = "_attempt"
DEFAULT_ATTEMPTS = 5
DEFAULT_BACKOFF = dt.timedelta(seconds=30)


def backoff_delay(attempt: int, base: dt.timedelta = DEFAULT_BACKOFF) -> dt.timedelta:
    """The wait before attempt ``attempt + 1``: base, 2×base, 4×base… capped at one hour."""
    return min(base * (2 ** max(0, attempt - 1)), dt.timedelta(hours=1))


class GiveUp(Exception):  # noqa: N818 - a verb on purpose: "give up" now, no retry
    """Raised by a task when retrying cannot help (bad data): fails at once, no retry."""


def background(
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff: dt.timedelta = DEFAULT_BACKOFF,
    on_give_up: Callable[..., None] | None = None,
    **task_options: Any,
):
    """``@django.tasks.task`` with retries; ``on_give_up(exc, *args, **kwargs)`` runs once
    after the last failed attempt (to record "failed, with the reason" on the caller's row)."""

    def decorate(func: Callable[..., Any]):
        holder: dict[str, Any] = {}

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            attempt = int(kwargs.pop(ATTEMPT_KWARG, 1))
            try:
                return func(*args, **kwargs)
            except Exception as exc:
                final = isinstance(exc, GiveUp) or attempt >= attempts
                if not final:
                    when = timezone.now() + backoff_delay(attempt, backoff)
                    retry = holder["task"].using(run_after=when)
                    retry.enqueue(*args, **{**kwargs, ATTEMPT_KWARG: attempt + 1})
                    logger.warning(
                        "task %s failed (attempt %d of %d), retrying: %s",
                        func.__qualname__, attempt, attempts, exc,
                    )  # fmt: skip
                elif on_give_up is not None:
                    try:
                        on_give_up(exc, *args, **kwargs)
                    except Exception:
                        logger.exception("on_give_up of %s failed", func.__qualname__)
                raise

        run.max_attempts = attempts  # type: ignore[attr-defined]
        holder["task"] = django_task(**task_options)(run)
        return holder["task"]

    return decorate


def enqueue_on_commit(task, *args: Any, **kwargs: Any) -> None:
    """Enqueue after the current transaction commits (never for a rolled-back write)."""
    transaction.on_commit(lambda: task.enqueue(*args, **kwargs))


# --- the worker -------------------------------------------------------------------------------


def _db_backend_names() -> list[str]:
    from django.tasks import task_backends
    from django_tasks_db.backend import DatabaseBackend

    return [alias for alias in settings.TASKS if isinstance(task_backends[alias], DatabaseBackend)]


def requeue_orphans(now: dt.datetime | None = None) -> int:
    """Put back in the queue the tasks marked running by workers that are dead (no heartbeat
    for ``WORKER_DEAD_AFTER`` seconds): a worker killed mid-task must not lose its task."""
    from django_tasks_db.models import DBTaskResult

    from .models import WorkerHeartbeat

    now = now or timezone.now()
    alive = set(
        WorkerHeartbeat.objects.filter(
            seen_at__gte=now - dt.timedelta(seconds=settings.WORKER_DEAD_AFTER)
        ).values_list("worker_id", flat=True)
    )
    count = 0
    for row in DBTaskResult.objects.filter(status="RUNNING").only("id", "worker_ids"):
        worker = row.worker_ids[-1] if row.worker_ids else ""
        if worker in alive:
            continue
        # Compare-and-set: only if still running under the same (dead) worker.
        count += DBTaskResult.objects.filter(
            pk=row.pk, status="RUNNING", worker_ids=row.worker_ids
        ).update(status="READY", started_at=None)
        logger.warning("task %s of dead worker %s queued again", row.pk, worker)
    WorkerHeartbeat.objects.filter(seen_at__lt=now - dt.timedelta(days=1)).delete()
    return count


def _worker_class():
    """django-tasks-db's worker, with our heartbeat, orphan recovery and periodic jobs."""
    from django_tasks_db.management.commands.db_worker import Worker

    class ChangeflowWorker(Worker):
        def __init__(self, *, periodic: bool = True, in_process: bool = False, **kwargs) -> None:
            super().__init__(**kwargs)
            self.periodic = periodic
            # In the caller's process and transaction (tests, --batch from code): no heartbeat
            # thread, and the caller's connection is left alone.
            self.in_process = in_process
            self._last_housekeeping = 0.0
            self._stop_heartbeat = threading.Event()

        def _beat(self) -> None:
            from .models import WorkerHeartbeat

            WorkerHeartbeat.objects.update_or_create(
                worker_id=self.worker_id,
                defaults={"seen_at": timezone.now(), "host": socket.gethostname()[:100]},
            )

        def _heartbeat_loop(self) -> None:
            # Its own thread, so that a long task still shows its worker alive.
            try:
                while not self._stop_heartbeat.wait(max(1.0, settings.WORKER_DEAD_AFTER / 4)):
                    try:
                        self._beat()
                    except Exception:
                        logger.exception("worker heartbeat failed")
                    finally:
                        close_old_connections()
            finally:
                connections.close_all()  # the thread ends: its connection goes with it

        def housekeeping(self) -> None:
            from . import periodic

            try:
                self._beat()
                requeue_orphans()
                if self.periodic:
                    periodic.run_due(worker_id=self.worker_id)
            except Exception:  # the worker outlives a failing job or a database hiccup
                logger.exception("worker housekeeping failed")

        def _tidy(self) -> None:
            if not self.in_process:
                close_old_connections()

        def run(self) -> None:
            if self.in_process:
                return self._loop()
            beat = threading.Thread(target=self._heartbeat_loop, daemon=True, name="heartbeat")
            self._beat()
            beat.start()
            try:
                self._loop()
            finally:
                self._stop_heartbeat.set()

        def _loop(self) -> None:
            from django.db.utils import OperationalError
            from django_tasks_db.models import DBTaskResult
            from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

            while self.running:
                self._tidy()
                due = time.monotonic() - self._last_housekeeping >= max(self.interval * 5, 5)
                if not self._last_housekeeping or (due and not self.batch):
                    self._last_housekeeping = time.monotonic()
                    self.housekeeping()
                tasks = DBTaskResult.objects.ready().filter(backend_name=self.backend_name)
                if not self.process_all_queues:
                    tasks = tasks.filter(queue_name__in=self.queue_names)
                task_result = None
                try:
                    with exclusive_transaction(tasks.db):
                        task_result = tasks.get_locked()
                        if task_result is not None:
                            task_result.claim(self.worker_id)
                except OperationalError as exc:
                    if not is_locked_database_exception(exc):
                        raise
                if task_result is not None:
                    self.run_task(task_result)
                elif self.batch:
                    return
                if self.max_tasks is not None and self._run_tasks >= self.max_tasks:
                    return
                self._tidy()
                if self.running and task_result is None:
                    time.sleep(self.interval)

    return ChangeflowWorker


def make_worker(
    *,
    interval: float = 1.0,
    batch: bool = False,
    periodic: bool = True,
    max_tasks: int | None = None,
    queues: str = "*",
    worker_id: str | None = None,
    in_process: bool = False,
):
    names = _db_backend_names()
    if not names:
        raise RuntimeError("no database task backend is configured")
    return _worker_class()(
        queue_names=queues.split(","),
        interval=interval,
        batch=batch,
        backend_name=names[0],
        startup_delay=False,
        max_tasks=max_tasks,
        worker_id=worker_id
        or "%s-%d-%s" % (socket.gethostname()[:20], os.getpid(), get_random_string(6)),
        excluded_queue_names=[],
        periodic=periodic,
        in_process=in_process,
    )


def run_pending(*, periodic: bool = False, max_tasks: int | None = None) -> int:
    """Run the queued tasks that are due now, in this process, then return how many ran
    (tests, and ``changeflow worker --batch``)."""
    worker = make_worker(
        interval=0, batch=True, periodic=periodic, max_tasks=max_tasks, in_process=True
    )
    worker.run()
    return worker._run_tasks


def install_signal_handlers(worker) -> None:
    """SIGTERM/SIGINT: finish the current task, then stop (a second signal stops at once)."""
    signal.signal(signal.SIGTERM, worker.shutdown)
    signal.signal(signal.SIGINT, worker.shutdown)
