"""Core models: the hash-chained audit log and API idempotency records."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    """One append-only, hash-chained record of something that happened.

    ``hash = sha256(prev_hash + canonical_json(event))`` (see ``core.audit``). Rows are never
    updated or deleted; on PostgreSQL a trigger refuses both. ``actor`` and ``project`` are kept
    as plain strings (username, project key) so that nothing can cascade into the log.
    """

    seq = models.BigIntegerField(unique=True)
    at = models.DateTimeField(db_index=True)
    actor = models.CharField(max_length=150, blank=True, db_index=True)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=40)
    object_key = models.CharField(max_length=64)
    project = models.CharField(max_length=10, blank=True, db_index=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    channel = models.CharField(max_length=16, blank=True)
    ip = models.CharField(max_length=45, blank=True)
    internal = models.BooleanField(
        default=False, help_text=_("Hidden from customer roles (internal comments, cost notes).")
    )
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["object_type", "object_key", "seq"])]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_key}"


class AuditHead(models.Model):
    """The chain head: one row holding the last sequence number and hash.

    Writers lock this row (``select_for_update``) as the last step of their transaction, which
    keeps the serialisation point short.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("audit chain head")

    def __str__(self) -> str:
        return f"head #{self.seq}"


class IdempotencyRecord(models.Model):
    """The first answer to a write that carried an ``Idempotency-Key`` (kept for 24 h)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=512)
    body_sha256 = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField()
    # The answer's data as JSON text, not a JSONField: PostgreSQL's jsonb reorders an object's
    # keys, and a replay must be the first answer itself, byte for byte.
    response = models.TextField(null=True)
    headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key_unique")
        ]

    def __str__(self) -> str:
        return self.key


class WorkerHeartbeat(models.Model):
    """A task worker's last sign of life; a task running under a silent worker runs again."""

    worker_id = models.CharField(max_length=64, unique=True)
    host = models.CharField(max_length=100, blank=True)
    seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.worker_id} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"


class PeriodicJob(models.Model):
    """When a periodic job (``core.periodic``) next runs; workers compare-and-set ``next_run``
    so that each period runs once however many workers there are."""

    name = models.CharField(max_length=100, unique=True)
    next_run = models.DateTimeField()
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_worker = models.CharField(max_length=64, blank=True)
    last_error = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.name
