"""System checks of a deployment: ``changeflow check --deploy``."""

from __future__ import annotations

from django.core import checks

from . import storage


@checks.register("storage", deploy=True)
def object_storage_answers(app_configs, **kwargs):
    """The object storage (``CHANGEFLOW_S3_BUCKET``) answers: its bucket exists and takes the
    credentials. Asked only with ``--deploy``: it is a request to the storage."""
    why = storage.problem()
    return [checks.Error(why, id="changeflow.E001")] if why else []
