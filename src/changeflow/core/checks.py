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


@checks.register("directory", deploy=True)
def directory_answers(app_configs, **kwargs):
    """The organisation's directory (``CHANGEFLOW_LDAP_URL``) answers: it is reachable, takes
    the service account, and the search base (and required group) exist. Asked only with
    ``--deploy``: it is a request to the directory."""
    from changeflow.accounts import directory

    why = directory.problem()
    return [checks.Error(why, id="changeflow.E002")] if why else []
