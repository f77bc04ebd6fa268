"""API shapes of change orders."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from changeflow.core.api_views import StrictSerializer

from .models import TEXT_MAX, ChangeOrder, OrderState


class SignatureSerializer(serializers.Serializer):
    signer = serializers.CharField(help_text=_("Username of the signer."))
    signer_name = serializers.CharField(help_text=_("The name the signer wrote."))
    signed_at = serializers.DateTimeField()
    ip = serializers.CharField(allow_null=True)
    statement = serializers.CharField(help_text=_("The statement signed."))
    pdf_sha256 = serializers.CharField(help_text=_("SHA-256 of the PDF signed."))


class ChangeOrderSerializer(serializers.ModelSerializer):
    change_request = serializers.CharField(source="change_request.key", read_only=True)
    state = serializers.ChoiceField(choices=OrderState.choices, read_only=True)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)
    issued_by = serializers.CharField(
        source="issued_by.username", default=None, read_only=True, allow_null=True
    )
    signature = serializers.SerializerMethodField()
    declined_by = serializers.CharField(
        source="declined_by.username", default=None, read_only=True, allow_null=True
    )

    class Meta:
        model = ChangeOrder
        fields = [
            "key", "number", "revision", "state", "change_request", "scope", "amount",
            "currency", "schedule_delta_days", "payment_terms", "valid_until", "version",
            "created_at", "updated_at", "issued_at", "issued_by", "language", "html_sha256",
            "pdf_sha256", "signature", "declined_at", "declined_by", "decline_reason",
            "withdrawn_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(SignatureSerializer(allow_null=True))
    def get_signature(self, order: ChangeOrder) -> dict | None:
        if order.signed_at is None:
            return None
        return {
            "signer": order.signed_by.username if order.signed_by else "",
            "signer_name": order.signer_name,
            "signed_at": order.signed_at,
            "ip": order.signature_ip,
            "statement": order.signature_statement,
            "pdf_sha256": order.signed_pdf_sha256,
        }


class RevisionSerializer(serializers.Serializer):
    revision = serializers.IntegerField()
    state = serializers.ChoiceField(choices=OrderState.choices)
    issued_at = serializers.DateTimeField(allow_null=True)
    pdf_sha256 = serializers.CharField()


class ChangeOrderDetailSerializer(ChangeOrderSerializer):
    revisions = serializers.SerializerMethodField()
    available_actions = serializers.SerializerMethodField()

    class Meta(ChangeOrderSerializer.Meta):
        fields = [*ChangeOrderSerializer.Meta.fields, "revisions", "available_actions"]
        read_only_fields = fields

    @extend_schema_field(RevisionSerializer(many=True))
    def get_revisions(self, order: ChangeOrder) -> list[dict]:
        return list(RevisionSerializer(self.context.get("revisions", []), many=True).data)

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_available_actions(self, order: ChangeOrder) -> list[str]:
        return list(self.context.get("available_actions", []))


class TermsSerializer(StrictSerializer):
    scope = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False)
    currency = serializers.CharField(min_length=3, max_length=3, required=False)
    schedule_delta_days = serializers.IntegerField(
        min_value=-36500, max_value=36500, required=False
    )
    payment_terms = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    valid_until = serializers.DateField(required=False, allow_null=True)


class ChangeOrderCreateSerializer(TermsSerializer):
    change_request = serializers.CharField(
        max_length=32, help_text=_("Key of the change request, e.g. ACME-12.")
    )


class ChangeOrderUpdateSerializer(TermsSerializer):
    version = serializers.IntegerField(
        min_value=1, required=False,
        help_text=_("The version you read; a stale one answers 409 and changes nothing."),
    )  # fmt: skip


class IssueSerializer(StrictSerializer):
    version = serializers.IntegerField(min_value=1, required=False)


class SignSerializer(StrictSerializer):
    password = serializers.CharField(
        max_length=4096, trim_whitespace=False, style={"input_type": "password"},
        help_text=_("Your password, re-entered: it signs."),
    )  # fmt: skip
    signer_name = serializers.CharField(max_length=200, help_text=_("Your name as you sign."))


class ReasonSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)


class DeclineSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=TEXT_MAX, help_text=_("Why the order is declined."))
