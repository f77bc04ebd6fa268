"""The site administrators' view of background tasks: queued, running and failed, with the
error, and a button to run a failed one again."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from . import audit
from .http import AuthenticatedHttpRequest
from .tasks import ATTEMPT_KWARG


def _admin_only(request: HttpRequest) -> None:
    if not request.user.is_superuser:
        raise Http404()  # the page does not exist for anyone else


def task_rows(limit: int = 300) -> list[dict]:
    """Queued, running and failed tasks, newest first, with what an admin needs to judge."""
    from django.conf import settings
    from django_tasks_db.models import DBTaskResult

    if settings.TASKS_BACKEND != "database":
        return []
    rows = []
    qs = DBTaskResult.objects.exclude(status="SUCCESSFUL").order_by("-enqueued_at")[:limit]
    for r in qs.defer("return_value"):
        kwargs = (r.args_kwargs or {}).get("kwargs", {})
        attempt = int(kwargs.get(ATTEMPT_KWARG, 1))
        trace = (r.traceback or "").strip().splitlines()
        rows.append(
            {
                "id": r.id, "status": r.status, "name": r.task_path.rsplit(".", 1)[-1],
                "path": r.task_path, "attempt": attempt, "enqueued_at": r.enqueued_at,
                "run_after": r.run_after, "started_at": r.started_at,
                "finished_at": r.finished_at,
                "error": trace[-1] if trace else "", "traceback": r.traceback,
                "args": (r.args_kwargs or {}).get("args", []),
            }
        )  # fmt: skip
    return rows


@require_safe
@login_required
def task_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    _admin_only(request)
    from django.conf import settings

    from changeflow.comms.selectors import quarantine_list

    rows = task_rows()
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in ("READY", "RUNNING", "FAILED")}
    # Mail addressed to no known project has no project manager to see it: the admins do.
    orphans = quarantine_list(user=request.user, project=None)[:100]
    return render(
        request, "core/tasks.html",
        {"rows": rows, "counts": counts, "backend": settings.TASKS_BACKEND, "orphans": orphans},
    )  # fmt: skip


def task_retry_service(*, user, task_id) -> str:
    """Queue a failed task again, as a new task with the same arguments (its first attempt)."""
    from django.utils.module_loading import import_string
    from django_tasks_db.models import DBTaskResult

    with transaction.atomic():
        row = DBTaskResult.objects.select_for_update().filter(pk=task_id, status="FAILED").first()
        if row is None:
            raise Http404()
        task = import_string(row.task_path)
        kwargs = {k: v for k, v in row.args_kwargs.get("kwargs", {}).items() if k != ATTEMPT_KWARG}
        result = task.enqueue(*row.args_kwargs.get("args", []), **kwargs)
        audit.record(
            actor=user, action="task.retried", object_type="task", object_key=str(row.pk),
            after={"task": row.task_path, "new_id": str(result.id)}, internal=True,
        )  # fmt: skip
    return str(result.id)


@login_required
@require_POST
def task_retry(request: AuthenticatedHttpRequest, task_id) -> HttpResponse:
    _admin_only(request)
    task_retry_service(user=request.user, task_id=task_id)
    messages.success(request, _("The task was queued again."))
    return redirect("admin-tasks")
