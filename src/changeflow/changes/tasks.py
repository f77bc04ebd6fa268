"""Background tasks of change requests (``django.tasks``; the backend is chosen in settings)."""

from __future__ import annotations

from django.tasks import task


@task
def run_import(job_id: int) -> None:
    """Run a queued change request import; its job row shows the outcome (and the progress
    cache the rows done meanwhile). Safe to run again: see ``changes.import_jobs``."""
    from .import_jobs import import_job_execute

    import_job_execute(job_id)
