"""API shapes of notifications, preferences, watches, webhooks and their deliveries."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from changeflow.core.api_views import StrictSerializer, documented_as

from . import events, messages
from .models import Channel, Kind, Notification, Webhook, WebhookDelivery, WebhookKind


class NotificationSerializer(serializers.ModelSerializer):
    text = serializers.SerializerMethodField(help_text=_("What happened, in your language."))
    link = serializers.SerializerMethodField()
    project = serializers.CharField(source="project.key")
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "project", "object_key", "actor", "text", "link", "data",
                  "created_at", "read", "read_at"]  # fmt: skip
        read_only_fields = fields

    def get_text(self, obj) -> str:
        return messages.headline(obj.kind, obj.data)

    def get_link(self, obj) -> str:
        return messages.link(obj.data)

    def get_read(self, obj) -> bool:
        return obj.read_at is not None


class MarkReadSerializer(StrictSerializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=1000,
        help_text=_("The notifications to mark read; leave out with `all`."),
    )  # fmt: skip
    all = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        if not attrs.get("all") and not attrs.get("ids"):
            raise serializers.ValidationError({"ids": [_('Name the ids, or send "all": true.')]})
        return attrs


class MarkReadResultSerializer(serializers.Serializer):
    marked = serializers.IntegerField()
    unread = serializers.IntegerField()


class PreferencesSerializer(StrictSerializer):
    channels = serializers.DictField(
        child=serializers.ChoiceField(choices=Channel.choices),
        help_text=_("Kind → channel (in_app, email, both, none). Kinds: %s.")
        % ", ".join(Kind.values),
    )
    language = serializers.ChoiceField(
        choices=[("", "")] + list(settings.LANGUAGES), required=False, allow_blank=True,
        help_text=_("The language of your e-mails; empty for the site's default."),
    )  # fmt: skip


class WatchSerializer(serializers.Serializer):
    watching = serializers.BooleanField()


class WebhookSerializer(serializers.ModelSerializer):
    """A webhook as shown back: its secret never, only whether one is set."""

    project = serializers.CharField(source="project.key", read_only=True)
    secret_set = serializers.BooleanField(source="has_secret", read_only=True)

    class Meta:
        model = Webhook
        fields = ["id", "project", "name", "url", "kind", "events", "language", "active",
                  "secret_set", "created_at", "updated_at"]  # fmt: skip
        read_only_fields = fields


class WebhookWriteSerializer(StrictSerializer):
    url = serializers.CharField(max_length=2000)
    kind = serializers.ChoiceField(choices=WebhookKind.choices)
    events = serializers.ListField(
        # The names the service accepts (notifications.services._clean_events), as an enum.
        child=documented_as(
            serializers.CharField, {"type": "string", "enum": ["*", *events.WEBHOOK_KINDS]}
        )(max_length=40),
        min_length=1, max_length=50,
        help_text=_('Event names, or ["*"] for all: %s.') % ", ".join(events.WEBHOOK_KINDS),
    )  # fmt: skip
    secret = serializers.CharField(
        max_length=200, required=False, allow_blank=True, write_only=True,
        help_text=_("Signs each request (see the formats); write-only."),
    )  # fmt: skip
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    language = serializers.ChoiceField(
        choices=[("", "")] + list(settings.LANGUAGES), required=False, allow_blank=True
    )
    active = serializers.BooleanField(required=False)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = ["id", "key", "kind", "state", "attempts", "next_attempt_at", "error",
                  "request_url", "request_body", "response_status", "response_body",
                  "duration_ms", "created_at", "finished_at"]  # fmt: skip
        read_only_fields = fields
