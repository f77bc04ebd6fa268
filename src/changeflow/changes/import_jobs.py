"""Change request imports in the background: a confirmed import of more rows than
``CHANGEFLOW_CR_IMPORT_SYNC_ROWS`` becomes an ``ImportJob`` that a ``django.tasks`` task runs
(``changes.tasks.run_import``); smaller ones run at once, as before (``changes.io``).

**All or nothing, as on the request path.** The task runs ``io.change_requests_import``: every
row is checked before anything is written, then every CR is made in ONE transaction, and the
job turns ``done`` (with its counts and keys) inside that same transaction. A failure rolls it
all back and the job turns ``failed`` with the problems or the error, nothing else written.

**Progress outside that transaction.** Nothing the task writes to the database is seen by
another connection before the commit (and on SQLite a second writer would wait for the lock),
so the rows done are written to the ``progress`` cache instead: Redis when there is one, files
under CHANGEFLOW_HOME otherwise — shared by the task worker and the web's processes, unlike a
process's own locmem cache. Batches each in their own transaction would show progress in the
database, but would show half an import meanwhile (and its notifications and audit events, an
append-only chain no compensation may delete): the one-transaction rule wins. The cache holds
progress only; what the job did is on its row, written in the import's commit.

**Run again.** A worker killed mid-import loses its uncommitted transaction; the task queue runs
the task again (``core.tasks.requeue_orphans``), which claims the job ``running`` again and
imports the file anew. A run after the commit finds the job ``done`` and does nothing; two runs
at once cannot both commit (the ``done`` mark is a compare-and-set on ``running``, and the
project's unique source references refuse the second's rows).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django.db.models import F, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from changeflow.accounts.models import Project, User
from changeflow.core import audit
from changeflow.core.errors import ApplicationError, Conflict, NotFound

from . import io as cr_io
from . import services
from .models import ImportJob, ImportState

log = logging.getLogger(__name__)

DEFAULT_SYNC_ROWS = 100
PROGRESS_EVERY = 0.25  # seconds between two writes of the progress
OPEN_STATES = (ImportState.QUEUED, ImportState.RUNNING)


def sync_rows() -> int:
    """Confirmed imports of more rows than this run in the background."""
    return int(getattr(settings, "CHANGEFLOW_CR_IMPORT_SYNC_ROWS", DEFAULT_SYNC_ROWS))


def in_background(parsed: cr_io.ParsedFile) -> bool:
    return len(parsed.rows) > sync_rows()


# ---------------------------------------------------------------- progress


def _progress_key(job_id: int) -> str:
    return f"cr-import-job:{job_id}"


def progress_of(job: ImportJob) -> dict[str, Any]:
    """Where a job is: stage (``queued``, ``read``, ``check``, ``write``, or the job's end
    state), rows done and total, percent."""
    if job.state not in OPEN_STATES:
        total = job.rows_total
        return {"stage": job.state, "done": job.rows_done, "total": total,
                "percent": 100 if job.state == ImportState.DONE else 0}  # fmt: skip
    seen = (
        caches["progress"].get(_progress_key(job.pk)) if job.state == ImportState.RUNNING else None
    )
    stage, done, total = seen or ("queued" if job.state == ImportState.QUEUED else "read", 0,
                                  job.rows_total)  # fmt: skip
    # Checking is quick, writing is most of the work: 10 % and 90 % of the bar.
    share = 0.0 if not total else done / total
    percent = (
        int(10 * share) if stage == "check" else 10 + int(89 * share) if stage == "write" else 0
    )
    return {"stage": stage, "done": done, "total": total, "percent": percent}


class _Reporter:
    """``io.change_requests_import``'s ``progress``: into the cache, at most every
    ``PROGRESS_EVERY`` seconds (and at each change of stage)."""

    def __init__(self, job_id: int) -> None:
        self.key = _progress_key(job_id)
        self.stage = ""
        self.last = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage == self.stage and now - self.last < PROGRESS_EVERY:
            return
        self.stage, self.last = stage, now
        caches["progress"].set(self.key, (stage, done, total), timeout=24 * 3600)

    def clear(self) -> None:
        caches["progress"].delete(self.key)


# ---------------------------------------------------------------- services


def import_job_create(
    *, user: User, project: Project, raw: bytes, parsed: cr_io.ParsedFile, filename: str,
    fmt: str = "", submit: bool = False,
) -> ImportJob:  # fmt: skip
    """Queue the import of ``raw`` (already parsed as ``parsed``; checked by a dry run when
    the caller wants its problems at once) for the background task."""
    services.require_manager(user, project)
    with transaction.atomic():
        job = ImportJob.objects.create(
            project=project, created_by=user, filename=filename[:200], format=fmt or "",
            submit=submit, content=raw, rows_total=len(parsed.rows),
        )  # fmt: skip
        audit.record(
            actor=user, action="cr.import_queued", object_type="project", object_key=project.key,
            project=project.key,
            after={"job": job.pk, "file": job.filename, "format": parsed.format,
                   "rows": job.rows_total, "submitted": submit},
        )  # fmt: skip
        from .tasks import run_import

        transaction.on_commit(lambda: run_import.enqueue(job.pk))
    return job


def import_job_execute(job_id: int) -> None:
    """Run a queued (or, run again, an interrupted) import job: the background task's body."""
    claimed = ImportJob.objects.filter(pk=job_id, state__in=OPEN_STATES).update(
        state=ImportState.RUNNING, started_at=timezone.now(), attempts=F("attempts") + 1
    )
    if not claimed:
        return  # done, failed, or gone: nothing to do again
    job = ImportJob.objects.select_related("project", "created_by").get(pk=job_id)
    reporter = _Reporter(job_id)
    reporter("read", 0, job.rows_total)

    def finish(report: dict[str, Any]) -> None:
        # In the import's transaction: the job is done exactly when its CRs exist.
        keys = [i["key"] for i in report["items"] if i["action"] == "created"]
        marked = ImportJob.objects.filter(pk=job_id, state=ImportState.RUNNING).update(
            state=ImportState.DONE, rows_done=job.rows_total, created=report["created"],
            skipped=report["skipped"], keys=keys, warnings=report["warnings"], content=b"",
            finished_at=timezone.now(),
        )  # fmt: skip
        if not marked:
            raise Conflict(_("This import was run meanwhile."))

    try:
        parsed = cr_io.parse(bytes(job.content), filename=job.filename, fmt=job.format or None)
        cr_io.change_requests_import(
            user=job.created_by, project=job.project, parsed=parsed, submit=job.submit,
            filename=job.filename, progress=reporter, finish=finish,
        )  # fmt: skip
    except cr_io.ImportRejected as exc:
        _failed(job, problems=exc.problems)
    except ApplicationError as exc:
        _failed(job, error=exc.message)
    except Exception:  # a worker must record the failure, not leave the job 'running'
        log.exception("change request import job %s failed", job_id)
        _failed(job, error=_("The import failed unexpectedly; nothing was imported."))
        raise
    finally:
        reporter.clear()


def _failed(job: ImportJob, *, problems: list[str] | None = None, error: str = "") -> None:
    """Mark ``job`` failed (only if still running: a run that lost to another leaves the
    winner's ``done``), audited; its file is dropped."""
    with transaction.atomic():
        marked = ImportJob.objects.filter(pk=job.pk, state=ImportState.RUNNING).update(
            state=ImportState.FAILED, problems=(problems or [])[:500], error=error, content=b"",
            finished_at=timezone.now(),
        )  # fmt: skip
        if marked:
            audit.record(
                actor=job.created_by, action="cr.import_failed", object_type="project",
                object_key=job.project.key, project=job.project.key,
                after={"job": job.pk, "file": job.filename, "problems": len(problems or []),
                       "error": error},
            )  # fmt: skip


# ---------------------------------------------------------------- selectors


def import_job_get(*, user: User, project: Project, job_id: int) -> ImportJob:
    """A job of ``project``, for those who may import (403 for its other members; 404 for
    outsiders, whom ``project_get`` already refused, and for another project's job)."""
    services.require_manager(user, project)
    job = (
        ImportJob.objects.filter(pk=job_id, project=project)
        .select_related("created_by")
        .defer("content")
        .first()
    )
    if job is None:
        raise NotFound(_("No such import."))
    job.project = project
    return job


def import_job_list(*, user: User, project: Project, limit: int = 10) -> QuerySet[ImportJob]:
    """The project's latest import jobs, newest first (its managers only)."""
    services.require_manager(user, project)
    return (
        ImportJob.objects.filter(project=project)
        .select_related("created_by")
        .defer("content")[:limit]
    )


def job_data(job: ImportJob, request: Any = None) -> dict[str, Any]:
    """A job for the API: state, progress, counts, keys, problems, and its URL."""
    url = reverse("api-cr-import-job", kwargs={"key": job.project.key, "id": job.pk})
    return {
        "id": job.pk,
        "url": request.build_absolute_uri(url) if request is not None else url,
        "project": job.project.key,
        "created_by": job.created_by.username,
        "filename": job.filename,
        "format": job.format,
        "submit": job.submit,
        "state": job.state,
        "progress": progress_of(job),
        "rows_total": job.rows_total,
        "created": job.created,
        "skipped": job.skipped,
        "keys": job.keys,
        "problems": job.problems,
        "warnings": job.warnings,
        "error": job.error,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }
