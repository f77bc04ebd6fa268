"""API shapes of CR form templates (input and output).

A note on ``# type: ignore[assignment]`` below: the API names some fields like attributes of
DRF's ``Field``/``Serializer`` (``label``, ``required``, ``fields``). DRF's serializer metaclass
takes declared fields out of the class, so they do not shadow those attributes at run time; only
the type checker sees a clash."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from changeflow.changes.models import ChangeType, Priority, Urgency
from changeflow.core.api_views import StrictSerializer

from . import definitions
from .models import DESCRIPTION_MAX, NAME_MAX, SCAFFOLD_MAX, CRTemplate, FieldKind


class FieldDefinitionInputSerializer(StrictSerializer):
    key = serializers.CharField(
        max_length=definitions.KEY_MAX,
        help_text=_("A slug unique in the template: lower-case letters, digits, underscores."),
    )
    label = serializers.CharField(max_length=definitions.LABEL_MAX)  # type: ignore[assignment]
    kind = serializers.ChoiceField(choices=FieldKind.choices)
    required = serializers.BooleanField(required=False, default=False)  # type: ignore[assignment]
    help = serializers.CharField(
        max_length=definitions.HELP_MAX, required=False, allow_blank=True, default=""
    )
    choices = serializers.ListField(
        child=serializers.CharField(max_length=definitions.CHOICE_MAX),
        max_length=definitions.MAX_CHOICES, required=False, default=list,
        help_text=_("The choices of a choice field (at least one); none for other kinds."),
    )  # fmt: skip


class FieldDefinitionOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    kind = serializers.ChoiceField(choices=FieldKind.choices)
    required = serializers.BooleanField()  # type: ignore[assignment]
    help = serializers.CharField(allow_blank=True)
    choices = serializers.ListField(child=serializers.CharField())


class CRTemplateSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="project.key", read_only=True)
    type = serializers.ChoiceField(choices=ChangeType.choices, allow_blank=True, read_only=True)
    priority = serializers.ChoiceField(choices=Priority.choices, allow_blank=True, read_only=True)
    urgency = serializers.ChoiceField(choices=Urgency.choices, allow_blank=True, read_only=True)
    labels = serializers.ListField(child=serializers.CharField(), read_only=True)
    fields = FieldDefinitionOutputSerializer(many=True, read_only=True)  # type: ignore[assignment]

    class Meta:
        model = CRTemplate
        fields = [
            "id", "project", "name", "description", "position", "archived", "type", "priority",
            "urgency", "labels", "scaffold", "fields", "version", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class _TemplateInput(StrictSerializer):
    description = serializers.CharField(
        max_length=DESCRIPTION_MAX, required=False, allow_blank=True
    )
    position = serializers.IntegerField(min_value=0, max_value=10_000, required=False)
    type = serializers.ChoiceField(choices=ChangeType.choices, required=False, allow_blank=True)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False, allow_blank=True)
    urgency = serializers.ChoiceField(choices=Urgency.choices, required=False, allow_blank=True)
    labels = serializers.ListField(
        child=serializers.CharField(max_length=50), max_length=20, required=False
    )
    scaffold = serializers.CharField(
        max_length=SCAFFOLD_MAX, required=False, allow_blank=True, trim_whitespace=False,
        help_text=_("Markdown a new CR's description starts with."),
    )  # fmt: skip
    fields = FieldDefinitionInputSerializer(  # type: ignore[assignment,call-arg]
        many=True, required=False, max_length=definitions.MAX_FIELDS,
        help_text=_("The custom fields, in order (at most 30)."),
    )  # fmt: skip

    def validate_fields(self, value):
        return [dict(item) for item in value]


class CRTemplateCreateSerializer(_TemplateInput):
    name = serializers.CharField(max_length=NAME_MAX)


class CRTemplateUpdateSerializer(_TemplateInput):
    """A PATCH: only the fields sent are changed; ``archived: true`` archives, ``false``
    restores."""

    name = serializers.CharField(max_length=NAME_MAX, required=False)
    archived = serializers.BooleanField(required=False)
    version = serializers.IntegerField(
        required=False, min_value=1,
        help_text=_("The version you read; a stale one answers 409 and changes nothing."),
    )  # fmt: skip
