"""API shapes of the communication app: mailbox, quarantine, communication log, SLA."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from changeflow.accounts.models import User
from changeflow.changes.models import ChangeRequest
from changeflow.core.api_views import StrictSerializer

from .models import CommunicationEntry, LogChannel, Mailbox, QuarantinedMail, Security, SlaBreach


class MailboxSerializer(StrictSerializer):
    host = serializers.CharField(max_length=255)
    port = serializers.IntegerField(min_value=1, max_value=65535, required=False, default=993)
    security = serializers.ChoiceField(choices=Security.values, required=False, default="ssl")
    username = serializers.CharField(max_length=255)
    password = serializers.CharField(
        max_length=500, required=False, allow_blank=True, write_only=True,
        help_text=_("Write-only: never shown back. Blank or absent keeps the stored one."),
    )  # fmt: skip
    trusted_certificate = serializers.CharField(
        required=False, allow_blank=True, default="", trim_whitespace=False,
        help_text=_(
            "A certificate (PEM) to trust for this server besides the public authorities, for "
            "a server with a certificate of its own; empty for none."
        ),
    )  # fmt: skip
    folder = serializers.CharField(max_length=255, required=False, default="INBOX")
    poll_minutes = serializers.IntegerField(min_value=1, max_value=1440, required=False, default=5)
    enabled = serializers.BooleanField(required=False, default=True)


class MailboxStatusSerializer(serializers.ModelSerializer):
    has_password = serializers.SerializerMethodField()

    class Meta:
        model = Mailbox
        fields = [
            "host", "port", "security", "username", "has_password", "trusted_certificate",
            "folder", "poll_minutes", "enabled", "last_polled_at", "last_error",
        ]  # fmt: skip

    def get_has_password(self, obj: Mailbox) -> bool:
        return obj.has_password


class QuarantinedMailSerializer(serializers.ModelSerializer):
    change_request: serializers.SlugRelatedField[ChangeRequest] = serializers.SlugRelatedField(
        slug_field="key", read_only=True
    )

    class Meta:
        model = QuarantinedMail
        fields = [
            "id", "source", "size", "sender", "subject", "reason", "change_request",
            "received_at", "resolved_at",
        ]  # fmt: skip


class CommunicationSerializer(serializers.ModelSerializer):
    change_requests: serializers.SlugRelatedField[ChangeRequest] = serializers.SlugRelatedField(
        slug_field="key", many=True, read_only=True
    )
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = CommunicationEntry
        fields = [
            "id", "channel", "occurred_at", "participants", "summary", "change_requests",
            "created_by", "created_at",
        ]  # fmt: skip


class CommunicationCreateSerializer(StrictSerializer):
    channel = serializers.ChoiceField(choices=LogChannel.choices)
    occurred_at = serializers.DateTimeField()
    participants = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, default=list, max_length=50
    )
    summary = serializers.CharField(max_length=20_000)
    change_requests = serializers.ListField(
        child=serializers.CharField(max_length=24), required=False, default=list, max_length=100,
        help_text=_("Keys of this project's change requests, e.g. ACME-12."),
    )  # fmt: skip


class SlaTargetRowSerializer(StrictSerializer):
    stage = serializers.CharField(max_length=16)
    priority = serializers.CharField(max_length=2)
    hours = serializers.IntegerField()


class SlaTargetsUpdateSerializer(StrictSerializer):
    targets = SlaTargetRowSerializer(many=True)


class SlaTargetsSerializer(serializers.Serializer):
    targets = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField()),
        help_text=_('Hours per stage, then per priority: {"triaged": {"P1": 8, …}, …}.'),
    )


class SlaBreachSerializer(serializers.ModelSerializer):
    change_request: serializers.SlugRelatedField[ChangeRequest] = serializers.SlugRelatedField(
        slug_field="key", read_only=True
    )
    current = serializers.BooleanField(
        read_only=True, help_text=_("The CR is still in the stage it breached.")
    )

    class Meta:
        model = SlaBreach
        fields = [
            "id", "change_request", "stage", "priority", "stage_entered_at", "target_hours",
            "level", "notified", "breached_at", "current",
        ]  # fmt: skip
