"""Periodic jobs run by the workers: IMAP polling, SLA checks, reminders, delivery retries.

An app registers a job once, at import time (its ``AppConfig.ready``)::

    periodic.register("comms.poll_mailboxes", every=timedelta(minutes=1), func=poll_all)

or as a decorator ``@periodic.register("sla.check", every=timedelta(minutes=5))``.

Every worker calls ``run_due()`` now and then. A job runs once per period however many workers
there are: each job has a ``PeriodicJob`` row whose ``next_run`` a worker moves forward with a
compare-and-set before running it; the one whose update hit the row runs the job, the others see
zero rows and skip it. Jobs must not raise for expected trouble (a mail server down); whatever
they raise is logged and kept on the row (``last_error``), and the worker carries on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError
from django.utils import timezone

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    every: dt.timedelta
    func: Callable[[], object]


_registry: dict[str, Job] = {}


def register(name: str, every: dt.timedelta, func: Callable[[], object] | None = None):
    """Register ``func`` to run every ``every``; usable as a decorator when ``func`` is None."""
    if every <= dt.timedelta(0):
        raise ValueError("a periodic job's period must be positive")

    def add(f: Callable[[], object]) -> Callable[[], object]:
        _registry[name] = Job(name=name, every=every, func=f)
        return f

    return add(func) if func is not None else add


def jobs() -> list[Job]:
    return sorted(_registry.values(), key=lambda j: j.name)


def _claim(job: Job, now: dt.datetime, worker_id: str) -> bool:
    """Whether this worker won the job's current period (compare-and-set on next_run)."""
    from .models import PeriodicJob

    row = PeriodicJob.objects.filter(name=job.name).values_list("next_run", flat=True).first()
    if row is None:
        # Another worker may create it at the same moment: fine, theirs counts.
        with contextlib.suppress(IntegrityError):
            PeriodicJob.objects.create(name=job.name, next_run=now)
        row = PeriodicJob.objects.filter(name=job.name).values_list("next_run", flat=True).first()
    if row is None or row > now:
        return False
    won = PeriodicJob.objects.filter(name=job.name, next_run=row).update(
        next_run=now + job.every, last_started_at=now, last_worker=worker_id[:64]
    )
    return won == 1


def run_due(*, now: dt.datetime | None = None, worker_id: str = "") -> list[str]:
    """Run the jobs whose time has come and that no other worker took; their names."""
    from .models import PeriodicJob

    now = now or timezone.now()
    ran = []
    for job in jobs():
        try:
            if not _claim(job, now, worker_id):
                continue
        except Exception:
            logger.exception("periodic job %s could not be claimed", job.name)
            continue
        error = ""
        try:
            job.func()
        except Exception as exc:
            logger.exception("periodic job %s failed", job.name)
            error = "".join(traceback.format_exception_only(exc)).strip()[:2000]
        PeriodicJob.objects.filter(name=job.name).update(
            last_finished_at=timezone.now(), last_error=error
        )
        ran.append(job.name)
    return ran
