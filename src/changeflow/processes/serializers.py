"""API shapes of process templates, a project's process and applying one.

The document's serializers are strict (their request schemas say ``additionalProperties:
false``) and document its shape; the views clean a document sent with
``definitions.clean_document(..., prefix="document.")``, which refuses unknown fields too.

The process document is typed here for the schema; its validation is ``definitions.
clean_document``'s alone (the input is taken as JSON and cleaned there, naming the path of a
bad field, e.g. ``board.quorum``)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from changeflow.ccb.models import Rule
from changeflow.changes.models import ChangeType, Priority, Urgency
from changeflow.core.api_views import StrictSerializer
from changeflow.crtemplates.serializers import FieldDefinitionInputSerializer
from changeflow.reports.models import ReviewFrequency

from . import definitions, presets
from .models import DESCRIPTION_MAX, NAME_MAX, ProcessTemplate

PART_CHOICES = list(definitions.PARTS)
# The project-creation API's fields (accounts.serializers) that name where a project starts from.
START_TEMPLATE_HELP = _("A saved process template (id or name) to start the project from.")
START_PRESET_HELP = _(
    "A built-in process preset (standard, fixed-price, regulated, internal) to start the "
    "project from."
)


class BoardPolicySerializer(StrictSerializer):
    rule = serializers.ChoiceField(choices=Rule.values)
    threshold = serializers.CharField(
        allow_null=True, help_text=_('Weighted rule: the share that approves, e.g. "0.6".')
    )
    quorum = serializers.IntegerField(allow_null=True, min_value=1)
    # Plain strings checked by the definitions: the roles' enum already has a name.
    required_roles = serializers.ListField(child=serializers.CharField())
    veto_roles = serializers.ListField(child=serializers.CharField())
    ratification_days = serializers.IntegerField(allow_null=True, min_value=1, max_value=365)
    voters = serializers.DictField(
        child=serializers.CharField(),
        help_text=_("Role → weight (a decimal string): the project's members of each role "
                    "sit on the board with that weight."),
    )  # fmt: skip


class DelegationDocSerializer(StrictSerializer):
    max_effort_hours = serializers.CharField(allow_null=True)
    max_cost = serializers.CharField(allow_null=True)
    max_schedule_days = serializers.CharField(allow_null=True)
    max_risk_exposure = serializers.CharField(allow_null=True)


class CRTemplateDocSerializer(StrictSerializer):
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    type = serializers.ChoiceField(choices=ChangeType.choices, allow_blank=True)
    priority = serializers.ChoiceField(choices=Priority.choices, allow_blank=True)
    urgency = serializers.ChoiceField(choices=Urgency.choices, allow_blank=True)
    labels = serializers.ListField(child=serializers.CharField())
    scaffold = serializers.CharField(allow_blank=True)
    fields = FieldDefinitionInputSerializer(many=True)  # type: ignore[assignment]


class ProcessDocumentSerializer(StrictSerializer):
    """A process document (version 1); each part may be left out."""

    version = serializers.IntegerField(min_value=1, max_value=1)
    board = BoardPolicySerializer(
        allow_null=True, required=False,
        help_text=_("Null: the default board."),
    )  # fmt: skip
    delegation = DelegationDocSerializer(required=False)
    sla = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField(min_value=1)),
        required=False, help_text=_("Stage → priority (P1…P4) → hours."),
    )  # fmt: skip
    review_schedule = serializers.ChoiceField(choices=ReviewFrequency.choices, required=False)
    cr_templates = CRTemplateDocSerializer(many=True, required=False)


@extend_schema_field(ProcessDocumentSerializer)
class DocumentField(serializers.JSONField):
    """A process document as JSON, cleaned by the service."""


class ProcessTemplateSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    document = ProcessDocumentSerializer(read_only=True)
    parts = serializers.SerializerMethodField()

    class Meta:
        model = ProcessTemplate
        fields = [
            "id", "name", "description", "document", "parts", "archived", "version",
            "created_by", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_parts(self, obj: ProcessTemplate) -> list[str]:
        return definitions.parts_of(obj.document)


class PresetSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    document = ProcessDocumentSerializer()
    parts = serializers.ListField(child=serializers.ChoiceField(choices=PART_CHOICES))


class ProcessTemplateCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=NAME_MAX)
    description = serializers.CharField(
        max_length=DESCRIPTION_MAX, required=False, allow_blank=True, default=""
    )
    document = DocumentField(required=False, help_text=_("The process; or name a project."))
    project = serializers.CharField(
        required=False, max_length=10,
        help_text=_("Save this project's current process (its managers only)."),
    )  # fmt: skip

    def validate_project(self, value: str) -> str:
        # The key names the project the view already checked the caller against: a number
        # (which DRF would take as its digits) is no key.
        if not isinstance(self.initial_data.get("project"), str):
            raise serializers.ValidationError(_("A project key is required."))
        return value


class ProcessTemplateUpdateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=NAME_MAX, required=False)
    description = serializers.CharField(
        max_length=DESCRIPTION_MAX, required=False, allow_blank=True
    )
    document = DocumentField(required=False)
    archived = serializers.BooleanField(required=False)
    version = serializers.IntegerField(
        required=False, min_value=1,
        help_text=_("The version you read; a stale one answers 409 and changes nothing."),
    )  # fmt: skip


class ProcessApplySerializer(StrictSerializer):
    template = serializers.CharField(
        required=False, max_length=NAME_MAX, help_text=_("A saved template's id or name.")
    )
    preset = serializers.ChoiceField(choices=list(presets.BY_SLUG), required=False)
    document = DocumentField(required=False)
    parts = serializers.ListField(
        child=serializers.ChoiceField(choices=PART_CHOICES), required=False,
        help_text=_("The parts to apply (default: every part the template holds)."),
    )  # fmt: skip
    dry_run = serializers.BooleanField(
        required=False, default=False, help_text=_("Only preview: change nothing.")
    )


class ChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    current = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)


class PartPreviewSerializer(serializers.Serializer):
    part = serializers.ChoiceField(choices=PART_CHOICES)
    selected = serializers.BooleanField()
    status = serializers.ChoiceField(choices=["changes", "unchanged", "blocked"])
    changes = ChangeSerializer(many=True)
    notes = serializers.ListField(child=serializers.CharField())
    problems = serializers.ListField(child=serializers.CharField())
    shared_with = serializers.ListField(child=serializers.CharField())


class SourceSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["template", "preset", "document"])
    name = serializers.CharField(allow_blank=True)


class ProcessApplyResultSerializer(serializers.Serializer):
    source = SourceSerializer()  # type: ignore[assignment]
    parts = PartPreviewSerializer(many=True)
    applied = serializers.BooleanField()
    applied_parts = serializers.ListField(child=serializers.ChoiceField(choices=PART_CHOICES))
