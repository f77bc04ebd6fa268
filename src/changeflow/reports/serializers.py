"""Shapes of the improvement actions API. Input serializers check types only; the services
(``reports.actions``) decide."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from changeflow.core.api_views import StrictSerializer

from . import selectors
from .actions import TRANSITIONS
from .models import TEXT_MAX, TITLE_MAX, ImprovementAction


class ImprovementActionSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="project.key", read_only=True)
    owner = serializers.CharField(source="owner.username", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    overdue = serializers.SerializerMethodField()
    change_requests = serializers.SerializerMethodField()

    class Meta:
        model = ImprovementAction
        fields = [
            "key", "project", "title", "description", "problem", "owner", "due_date", "status",
            "progress", "resolution", "overdue", "change_requests", "version", "created_by",
            "created_at", "updated_at", "closed_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_overdue(self, obj: ImprovementAction) -> bool:
        return selectors.is_overdue(obj)

    def get_change_requests(self, obj: ImprovementAction) -> list[str]:
        # Prefetched on lists (one query for the page).
        return [cr.key for cr in obj.change_requests.all()]


class ImprovementActionDetailSerializer(ImprovementActionSerializer):
    available_actions = serializers.SerializerMethodField()

    class Meta(ImprovementActionSerializer.Meta):
        fields = [*ImprovementActionSerializer.Meta.fields, "available_actions"]
        read_only_fields = fields

    def get_available_actions(self, obj: ImprovementAction) -> list[str]:
        return list(self.context.get("available_actions", []))


class ImprovementActionCreateSerializer(StrictSerializer):
    title = serializers.CharField(max_length=TITLE_MAX)
    description = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    problem = serializers.CharField(
        max_length=TEXT_MAX, required=False, allow_blank=True,
        help_text=_("What went wrong in the change process, and where it was seen."),
    )  # fmt: skip
    owner = serializers.CharField(max_length=150, help_text=_("A username of the project team."))
    due_date = serializers.DateField()
    change_requests = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, max_length=100,
        help_text=_("Keys of the change requests that motivated it, e.g. ACME-12."),
    )  # fmt: skip


class ImprovementActionUpdateSerializer(ImprovementActionCreateSerializer):
    title = serializers.CharField(max_length=TITLE_MAX, required=False)
    owner = serializers.CharField(max_length=150, required=False)
    due_date = serializers.DateField(required=False)
    progress = serializers.IntegerField(min_value=0, max_value=100, required=False)
    resolution = serializers.CharField(max_length=TEXT_MAX, required=False)
    version = serializers.IntegerField(
        min_value=1, required=False,
        help_text=_("The version you read; a stale one answers 409 and changes nothing."),
    )  # fmt: skip


class ImprovementTransitionSerializer(StrictSerializer):
    action = serializers.ChoiceField(choices=list(TRANSITIONS))
    resolution = serializers.CharField(
        max_length=TEXT_MAX, required=False, allow_blank=True,
        help_text=_("Required to complete: what was changed, and the evidence."),
    )  # fmt: skip
    comment = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    version = serializers.IntegerField(min_value=1, required=False)


class ImprovementActionsAvailableSerializer(serializers.Serializer):
    actions = serializers.ListField(child=serializers.ChoiceField(choices=list(TRANSITIONS)))
