"""Notifications (in-app inbox and e-mail), what each user wants, watches, and webhooks.

Every delivery that leaves the process (an e-mail, a webhook call) is a row with a stable
idempotency ``key``: it is created once per (event, recipient) and keeps its key through every
retry, so a receiver that saw an attempt whose answer we lost can drop the repeat.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Kind(models.TextChoices):
    """What happened, as users choose it in their preferences and webhooks filter on it."""

    CR_SUBMITTED = "cr.submitted", _("Change request submitted")
    STATE_CHANGED = "cr.state_changed", _("State changed")
    ASSESSMENT_ADDED = "cr.assessment_added", _("Impact assessment added")
    VOTE_NEEDED = "cr.vote_needed", _("Your vote is needed")
    DECIDED = "cr.decided", _("Decision made")
    COMMENTED = "cr.commented", _("New comment")
    MENTIONED = "cr.mentioned", _("You were mentioned")
    SLA_BREACHED = "sla.breached", _("SLA breached")
    MEETING_REMINDER = "meeting.reminder", _("Meeting reminder")
    VOTES_RESET = "votes.reset", _("Votes reset")
    ASSIGNED = "cr.assigned", _("Change request assigned to you")
    IMPROVEMENT_OVERDUE = "improvement.overdue", _("Improvement action overdue")
    IMPROVEMENT_DUE = "improvement.due_soon", _("Improvement action due soon")
    RATED_LOW = "cr.rated_low", _("Low outcome rating")
    REPORT_READY = "report.ready", _("Review report ready")
    ORDER_ISSUED = "order.issued", _("Change order to sign")
    ORDER_SIGNED = "order.signed", _("Change order signed")
    ORDER_DECLINED = "order.declined", _("Change order declined")
    DUPLICATE = "cr.duplicate", _("Change request closed as a duplicate")


class Channel(models.TextChoices):
    IN_APP = "in_app", _("In the app")
    EMAIL = "email", _("E-mail")
    BOTH = "both", _("In the app and by e-mail")
    NONE = "none", _("Not at all")


class NotificationPreference(models.Model):
    """A user's choice for one kind of event; kinds without a row use ``events.DEFAULTS``."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_prefs"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notification_pref_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.kind} → {self.channel}"


class NotificationProfile(models.Model):
    """Per-user settings of notifications: the language e-mails are written in."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_profile"
    )
    language = models.CharField(_("e-mail language"), max_length=10, blank=True)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.language or '-'}"


class Watch(models.Model):
    """A user who asked to hear about everything that happens to a change request."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    change_request = models.ForeignKey(
        "changes.ChangeRequest", on_delete=models.CASCADE, related_name="watches"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "change_request"], name="watch_unique")
        ]
        indexes = [models.Index(fields=["change_request", "user"])]

    def __str__(self) -> str:
        return f"{self.user_id} watches {self.change_request_id}"


class HistoryMark(models.Model):
    """Events of a project up to ``seq`` were loaded as history (the demo, an import): they
    make in-app notifications but no e-mails and no webhook calls."""

    project = models.OneToOneField("accounts.Project", on_delete=models.CASCADE, related_name="+")
    seq = models.PositiveBigIntegerField()

    def __str__(self) -> str:
        return f"{self.project_id} history up to #{self.seq}"


class Notification(models.Model):
    """One thing one user is told, once per (audit event, user). Rendered in the reader's
    language when shown, from ``kind`` and ``data``."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    # No database constraint: the audit log is append-only and outlives everything, and a
    # tampering drill (tests/core) must be able to delete its rows to show verify() notices.
    event = models.ForeignKey(
        "core.AuditEvent", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="+")
    object_key = models.CharField(max_length=40, blank=True)
    actor = models.CharField(max_length=150, blank=True)
    data = models.JSONField(default=dict)
    in_app = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "user"], name="notification_once_per_event")
        ]
        indexes = [
            # The inbox and its unread count: a user's in-app rows, newest first.
            models.Index(fields=["user", "in_app", "read_at"], name="notif_unread"),
            models.Index(fields=["user", "-created_at"], name="notif_inbox"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.user_id}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class Delivery(models.Model):
    """What every outgoing delivery has: its key, its state and its attempts."""

    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    state = models.CharField(
        max_length=8, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # While ``sending``: until when the worker that claimed it owns it. A worker killed
    # mid-delivery leaves the row ``sending``; after the lease it is retried with the same key.
    lease_until = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class EmailDelivery(Delivery):
    """The e-mail of one notification."""

    notification = models.OneToOneField(
        Notification, on_delete=models.CASCADE, related_name="email"
    )
    to = models.EmailField()
    language = models.CharField(max_length=10)

    class Meta:
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="email_due")]

    def __str__(self) -> str:
        return f"e-mail {self.key} to {self.to}: {self.state}"


class WebhookKind(models.TextChoices):
    GENERIC = "generic", _("Generic JSON (HMAC-SHA256 signed)")
    DINGTALK = "dingtalk", _("DingTalk custom robot")
    FEISHU = "feishu", _("Feishu / Lark custom bot")
    WECOM = "wecom", _("WeCom group robot")
    SLACK = "slack", _("Slack incoming webhook")


class Webhook(models.Model):
    """A project's outgoing webhook. Its secret signs requests; it is stored encrypted
    (``core.crypto``, a key derived from the site's secret key), read back only to sign, and
    never shown (forms and the API only say whether one is set)."""

    SECRET_PURPOSE = "notifications.webhook.secret"

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=100, blank=True)
    url = models.URLField(_("URL"), max_length=2000)
    kind = models.CharField(_("format"), max_length=10, choices=WebhookKind.choices)
    events = models.JSONField(_("events"), default=list)
    # A Fernet token (see set_secret/get_secret), never the secret itself.
    secret_encrypted = models.TextField(_("secret (encrypted)"), blank=True, editable=False)
    language = models.CharField(_("language"), max_length=10, blank=True)
    active = models.BooleanField(_("active"), default=True)
    # Only events recorded after the webhook was made are sent: a new webhook replays nothing.
    since_seq = models.PositiveBigIntegerField(default=0, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["project", "active"])]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.project_id}: {self.kind} {self.name or self.pk}"

    def set_secret(self, raw: str) -> None:
        from changeflow.core import crypto

        self.secret_encrypted = crypto.encrypt(raw, purpose=self.SECRET_PURPOSE)

    def get_secret(self) -> str:
        """The secret to sign with; ``core.crypto.SecretUnreadable`` when the stored token
        cannot be decrypted (the site's secret key changed): the delivery reports it."""
        from changeflow.core import crypto

        return crypto.decrypt(self.secret_encrypted, purpose=self.SECRET_PURPOSE)

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_encrypted)


class WebhookDelivery(Delivery):
    """One event sent (or to be sent) to one webhook, with its last attempt's outcome."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(
        "core.AuditEvent", null=True, blank=True, on_delete=models.DO_NOTHING,
        db_constraint=False, related_name="+",
    )  # fmt: skip
    kind = models.CharField(max_length=32)
    # What the worker sends, built once: the same body on every attempt (signatures and
    # timestamps are added per attempt).
    payload = models.JSONField(default=dict)
    request_url = models.TextField(blank=True)
    request_body = models.TextField(blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["webhook", "event"],
                condition=models.Q(event__isnull=False),
                name="webhook_delivery_once_per_event",
            )
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="webhook_due"),
            models.Index(fields=["webhook", "-created_at"], name="webhook_log"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} → webhook {self.webhook_id}: {self.state}"
