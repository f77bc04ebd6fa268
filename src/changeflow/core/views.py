"""Health checks for load balancers and orchestrators (no authentication, no session)."""

from __future__ import annotations

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import storage


@never_cache
@require_GET
def healthz(request):
    """200 while the process is up."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    """200 when the database answers and every migration is applied, and the object storage
    answers when files are kept in one (``storage``: absent on a filesystem); 503 otherwise."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError:
        return JsonResponse({"status": "unavailable", "database": False}, status=503)
    answer = {"database": True, "pending_migrations": len(pending)}
    ready = not pending
    if storage.is_object_storage():
        why = storage.problem()
        answer["storage"] = not why
        if why:
            answer["storage_problem"] = why
            ready = False
    if not ready:
        return JsonResponse({"status": "unavailable", **answer}, status=503)
    return JsonResponse({"status": "ok", **answer})
