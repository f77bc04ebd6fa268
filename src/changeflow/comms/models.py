"""Mail received for a project: one row per Message-ID, so a mail is handled once."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from changeflow.accounts.models import Project


class AckStatus(models.TextChoices):
    NONE = "", _("Not needed")
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class InboundMessage(models.Model):
    class Outcome(models.TextChoices):
        CREATED = "created", _("Created a change request")
        COMMENTED = "commented", _("Commented on a change request")
        IGNORED = "ignored", _("Ignored")

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="inbound_messages")
    message_id = models.CharField(_("Message-ID"), max_length=998)
    in_reply_to = models.CharField(_("In-Reply-To"), max_length=998, blank=True)
    references = models.TextField(_("References"), blank=True)
    sender = models.CharField(_("sender address"), max_length=320, blank=True)
    sender_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    subject = models.CharField(_("subject"), max_length=998, blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    change_request = models.ForeignKey(
        "changes.ChangeRequest", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="inbound_messages",
    )  # fmt: skip
    comment = models.ForeignKey(
        "changes.Comment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    reason = models.TextField(pgettext_lazy("mail processing", "reason"), blank=True)
    # The acknowledgement sent back to the sender, by a retried task. Its Message-ID is fixed
    # when the mail is taken in, so a resend after a crash is the same mail to the receiver.
    ack_message_id = models.CharField(max_length=255, blank=True)
    ack_status = models.CharField(
        _("acknowledgement"), max_length=8, choices=AckStatus.choices, default=AckStatus.NONE,
        blank=True,
    )  # fmt: skip
    ack_sent_at = models.DateTimeField(null=True, blank=True)
    ack_error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("inbound message")
        verbose_name_plural = _("inbound messages")
        constraints = [
            models.UniqueConstraint(
                fields=["project", "message_id"], name="comms_inbound_unique_message_id"
            )
        ]

    def __str__(self) -> str:
        return f"{self.project.key} {self.message_id}: {self.outcome}"


class Security(models.TextChoices):
    SSL = "ssl", _("TLS (IMAPS, usually port 993)")
    STARTTLS = "starttls", _("STARTTLS (usually port 143)")
    NONE = "none", _("None (trusted network only)")


class Mailbox(models.Model):
    """The project's mailbox, polled over IMAP by a periodic job. The password is stored
    encrypted (``core.crypto``, a key derived from the site's secret key) to log in with, and
    is never shown back (forms and the API only say whether one is set)."""

    PASSWORD_PURPOSE = "comms.mailbox.password"

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="mailbox")
    host = models.CharField(_("IMAP server"), max_length=255)
    port = models.PositiveIntegerField(_("port"), default=993)
    security = models.CharField(
        _("security"), max_length=8, choices=Security.choices, default=Security.SSL
    )
    username = models.CharField(_("user name"), max_length=255)
    # A Fernet token (see set_password/get_password), never the password itself.
    password_encrypted = models.TextField(_("password (encrypted)"), blank=True, editable=False)
    # A certificate (PEM) to trust for this server besides the public authorities: a server
    # with a certificate of its own (self-signed, an in-house CA) is refused without it.
    trusted_certificate = models.TextField(_("trusted certificate (PEM)"), blank=True)
    folder = models.CharField(_("folder"), max_length=255, default="INBOX")
    poll_minutes = models.PositiveIntegerField(_("poll every (minutes)"), default=5)
    enabled = models.BooleanField(_("enabled"), default=True)
    uidvalidity = models.BigIntegerField(null=True, blank=True)
    last_uid = models.BigIntegerField(default=0)
    last_polled_at = models.DateTimeField(_("last polled"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("mailbox")
        verbose_name_plural = _("mailboxes")

    def __str__(self) -> str:
        return f"{self.username}@{self.host}/{self.folder}"

    def set_password(self, raw: str) -> None:
        from changeflow.core import crypto

        self.password_encrypted = crypto.encrypt(raw, purpose=self.PASSWORD_PURPOSE)

    def get_password(self) -> str:
        """The password to log in with; ``core.crypto.SecretUnreadable`` when the stored token
        cannot be decrypted (the site's secret key changed): the poller reports it."""
        from changeflow.core import crypto

        return crypto.decrypt(self.password_encrypted, purpose=self.PASSWORD_PURPOSE)

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)


class QuarantinedMail(models.Model):
    """A mail that could not be taken in as it is (malformed, too large, an unknown project,
    an attachment refused): kept whole and listed for the project's managers, never lost."""

    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="quarantine"
    )
    project_hint = models.CharField(_("addressed to project"), max_length=64, blank=True)
    source = models.CharField(_("source"), max_length=16)
    raw = models.BinaryField()
    size = models.PositiveBigIntegerField(_("size"))
    sender = models.CharField(_("sender"), max_length=320, blank=True)
    subject = models.CharField(_("subject"), max_length=998, blank=True)
    reason = models.TextField(pgettext_lazy("mail processing", "reason"))
    change_request = models.ForeignKey(
        "changes.ChangeRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["project", "resolved_at", "-received_at"])]
        verbose_name = _("quarantined mail")
        verbose_name_plural = _("quarantined mail")

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject[:40]}: {self.reason[:60]}"


class LogChannel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    PHONE = "phone", _("Phone")
    IM = "im", _("Instant message")
    MEETING = "meeting", _("Meeting")
    LETTER = "letter", _("Letter")


class CommunicationEntry(models.Model):
    """One exchange with the customer (a call, a chat, a letter…), linked to the CRs it was
    about; shown on each of those CRs' timelines beside their audit history."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="communications")
    channel = models.CharField(
        pgettext_lazy("communication record", "channel"), max_length=8, choices=LogChannel.choices
    )
    occurred_at = models.DateTimeField(_("when"))
    participants = models.JSONField(_("participants"), default=list, blank=True)
    summary = models.TextField(_("summary"), max_length=20_000)
    change_requests = models.ManyToManyField(
        "changes.ChangeRequest", blank=True, related_name="communications",
        verbose_name=_("change requests"),
    )  # fmt: skip
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["project", "-occurred_at"])]
        verbose_name = _("communication")
        verbose_name_plural = _("communication log")

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.occurred_at:%Y-%m-%d}: {self.summary[:40]}"


class SlaTarget(models.Model):
    """How long a CR may stay in a stage (its state) at a priority before it is a breach;
    a project without its own row for a stage and priority uses ``sla.DEFAULT_HOURS``."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="sla_targets")
    stage = models.CharField(_("stage"), max_length=16)
    priority = models.CharField(_("priority"), max_length=2)
    hours = models.PositiveIntegerField(_("target (hours)"))

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "stage", "priority"], name="comms_sla_target_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.project_id} {self.stage} {self.priority}: {self.hours} h"


class SlaBreach(models.Model):
    """A CR over its stage's target: level 1 tells the assignee (or the PM), level 2, a
    further period later, the PM. Each level once per entry into the stage."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="sla_breaches")
    change_request = models.ForeignKey(
        "changes.ChangeRequest", on_delete=models.CASCADE, related_name="sla_breaches"
    )
    stage = models.CharField(_("stage"), max_length=16)
    priority = models.CharField(_("priority"), max_length=2, blank=True)
    stage_entered_at = models.DateTimeField(_("in the stage since"))
    target_hours = models.PositiveIntegerField(_("target (hours)"))
    level = models.PositiveSmallIntegerField(_("level"))
    notified = models.JSONField(_("notified"), default=list)
    breached_at = models.DateTimeField(_("detected at"))

    class Meta:
        ordering = ["-breached_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["change_request", "stage", "stage_entered_at", "level"],
                name="comms_sla_breach_once_per_level",
            )
        ]
        indexes = [models.Index(fields=["project", "-breached_at"])]

    def __str__(self) -> str:
        return f"{self.change_request_id} {self.stage} L{self.level}"

    @property
    def stage_label(self) -> str:
        from changeflow.changes.workflow import State

        return str(State(self.stage).label) if self.stage in State.values else self.stage
