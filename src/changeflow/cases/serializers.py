"""Shapes of the cases API. Input serializers check types only; the services decide."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from changeflow.core.api_views import StrictSerializer

from .models import TAG_MAX, TAGS_MAX, TEXT_MAX, Outcome


class FiguresSerializer(serializers.Serializer):
    estimated_effort_hours = serializers.DecimalField(max_digits=12, decimal_places=2)
    actual_effort_hours = serializers.DecimalField(max_digits=12, decimal_places=2)
    effort_error = serializers.DecimalField(
        max_digits=12, decimal_places=4, help_text=_("(actual - estimate) / estimate")
    )
    estimated_schedule_days = serializers.DecimalField(max_digits=10, decimal_places=2)
    actual_schedule_days = serializers.DecimalField(max_digits=10, decimal_places=2)
    schedule_error = serializers.DecimalField(max_digits=12, decimal_places=4)
    estimated_cost = serializers.DecimalField(max_digits=16, decimal_places=2)
    actual_cost = serializers.DecimalField(max_digits=16, decimal_places=2)
    cost_error = serializers.DecimalField(max_digits=12, decimal_places=4)
    cost_overrun = serializers.DecimalField(
        max_digits=16, decimal_places=2, help_text=_("Actual cost minus the estimated cost.")
    )
    currency = serializers.CharField()
    submitted_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField()
    cycle_time_days = serializers.DecimalField(max_digits=10, decimal_places=1)
    rating_average = serializers.DecimalField(max_digits=4, decimal_places=2)
    rating_count = serializers.IntegerField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if name not in ("currency", "rating_count"):
                field.allow_null = True


class CaseSerializer(serializers.Serializer):
    change_request = serializers.CharField(source="change_request.key")
    title = serializers.CharField(source="change_request.title")
    type = serializers.CharField(source="change_request.type")
    state = serializers.CharField(source="change_request.state")
    project = serializers.CharField(source="project.key")
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    root_causes = serializers.CharField()
    lessons = serializers.CharField(help_text=_("Markdown."))
    tags = serializers.ListField(child=serializers.CharField())
    archived = serializers.BooleanField()
    created_by = serializers.CharField(source="created_by.username")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    version = serializers.IntegerField()
    figures = serializers.SerializerMethodField()

    @extend_schema_field(FiguresSerializer)
    def get_figures(self, obj) -> dict:
        from .selectors import figures_of

        return FiguresSerializer(figures_of(obj).as_dict()).data


class CaseWriteSerializer(StrictSerializer):
    outcome = serializers.ChoiceField(choices=Outcome.choices, required=True)
    root_causes = serializers.CharField(
        max_length=TEXT_MAX, required=False, allow_blank=True, trim_whitespace=False
    )
    lessons = serializers.CharField(
        max_length=TEXT_MAX, required=False, allow_blank=True, trim_whitespace=False,
        help_text=_("Markdown."),
    )  # fmt: skip
    tags = serializers.ListField(
        child=serializers.CharField(max_length=TAG_MAX, allow_blank=True), required=False,
        max_length=TAGS_MAX, help_text=_("Short labels; trimmed and lower-cased."),
    )  # fmt: skip
    version = serializers.IntegerField(
        required=False, min_value=1,
        help_text=_("The version you read, when the case exists; a stale one answers 409."),
    )  # fmt: skip


class CasePatchSerializer(CaseWriteSerializer):
    outcome = serializers.ChoiceField(choices=Outcome.choices, required=False)
    archived = serializers.BooleanField(
        required=False, help_text=_("An archived case is left out of the library.")
    )
    version = serializers.IntegerField(
        required=True, min_value=1, help_text=_("The version you read; a stale one answers 409.")
    )


class RatingSerializer(serializers.Serializer):
    username = serializers.CharField(source="user.username")
    display_name = serializers.CharField(source="user.display_name")
    score = serializers.IntegerField()
    comment = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class RatingListSerializer(serializers.Serializer):
    average = serializers.DecimalField(max_digits=4, decimal_places=2, allow_null=True)
    count = serializers.IntegerField()
    may_rate = serializers.BooleanField(help_text=_("Whether you may rate this outcome now."))
    results = RatingSerializer(many=True)


class RatingWriteSerializer(StrictSerializer):
    score = serializers.IntegerField(min_value=1, max_value=5, help_text=_("1 to 5 stars."))
    comment = serializers.CharField(max_length=10_000, required=False, allow_blank=True)
