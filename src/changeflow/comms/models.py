"""Mail received for a project: one row per Message-ID, so a mail is handled once."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from changeflow.accounts.models import Project


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
    reason = models.TextField(_("reason"), blank=True)

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
