"""What the backup and the restore share: the archive's layout, the models it holds, errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.core import serializers
from django.db import DEFAULT_DB_ALIAS, models, router

from changeflow.core import audit
from changeflow.core.errors import ApplicationError

FORMAT = "changeflow-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATA, MEDIA = "data/", "media/"
# Made by ``migrate`` on every database; rows refer to them by natural key.
NOT_DUMPED = {"contenttypes.contenttype", "auth.permission"}
CHUNK = 1 << 16
ROWS_PER_QUERY = 2000


class BackupError(ApplicationError):
    """The backup or restore cannot be done (the CLI prints the message and exits 1)."""

    status = 422
    code = "backup_failed"


@dataclass
class Summary:
    """What a backup wrote or a restore loaded."""

    path: Path
    manifest: dict[str, Any]
    rows: int = 0
    files: int = 0
    size: int = 0
    audit: audit.VerifyResult | None = None
    migrated: bool = False
    # Stored secrets (mailbox passwords, webhook secrets) this site's keys cannot decrypt.
    unreadable_secrets: int = 0
    key_differs: bool = False
    counts: dict[str, int] = field(default_factory=dict)


def dumped_models() -> list[type[models.Model]]:
    """The models a backup holds, in an order in which they can be loaded (as ``dumpdata``
    orders them for natural keys)."""
    app_list = [(config, None) for config in apps.get_app_configs() if config.models_module]
    ordered = serializers.sort_dependencies(app_list, allow_cycles=True)
    return [
        model
        for model in ordered
        if not model._meta.proxy
        and model._meta.managed
        and model._meta.label_lower not in NOT_DUMPED
        and router.allow_migrate_model(DEFAULT_DB_ALIAS, model)
    ]


def has_natural_key(model: type[models.Model]) -> bool:
    """Whether rows that refer to ``model`` name it by natural key (users do)."""
    return hasattr(model, "natural_key") and hasattr(model._default_manager, "get_by_natural_key")
