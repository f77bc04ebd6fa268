"""Shapes of the process review API. The improvement actions' input serializers check types only;
the services (``reports.actions``) decide. The metrics' are output only
(``metrics.project_metrics`` makes the data)."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from changeflow.core.api_views import StrictSerializer

from . import selectors
from .actions import TRANSITION_NAMES
from .models import (
    TEXT_MAX,
    TITLE_MAX,
    ImprovementAction,
    ReportKind,
    ReviewFrequency,
    ReviewReport,
)


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
    action = serializers.ChoiceField(choices=TRANSITION_NAMES)
    resolution = serializers.CharField(
        max_length=TEXT_MAX, required=False, allow_blank=True,
        help_text=_("Required to complete: what was changed, and the evidence."),
    )  # fmt: skip
    comment = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    version = serializers.IntegerField(min_value=1, required=False)


class ImprovementActionsAvailableSerializer(serializers.Serializer):
    actions = serializers.ListField(child=serializers.ChoiceField(choices=TRANSITION_NAMES))


COUNTS = serializers.DictField(child=serializers.IntegerField())


def _counts(help_text) -> serializers.DictField:
    return serializers.DictField(child=serializers.IntegerField(), help_text=help_text)


def _money(help_text="") -> serializers.CharField:
    return serializers.CharField(allow_null=True, help_text=help_text)


def _share(help_text) -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, help_text=help_text)


class SubmittedSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_type = _counts(_("Code → count; '' when not set."))
    by_channel = _counts(_("Code → count."))
    by_priority = _counts(_("Code → count; '' when not set."))
    by_customer = _counts(_("The customer organisation's name → count."))


class DecisionsSerializer(serializers.Serializer):
    approved = serializers.IntegerField(help_text=_("Emergency approvals included."))
    emergency_approved = serializers.IntegerField()
    rejected = serializers.IntegerField()
    deferred = serializers.IntegerField()
    withdrawn = serializers.IntegerField()
    approval_rate = _share(_("approved / (approved + rejected + deferred); null without any."))
    rejection_rate = _share(_("rejected / (approved + rejected + deferred); null without any."))


class PercentilesSerializer(serializers.Serializer):
    n = serializers.IntegerField()
    median = serializers.FloatField(allow_null=True)
    p85 = serializers.FloatField(allow_null=True)


class CycleTimeSerializer(serializers.Serializer):
    unit = serializers.CharField()
    stages = serializers.DictField(
        child=PercentilesSerializer(), help_text=_("State → hours spent in it.")
    )
    lead_time = PercentilesSerializer(help_text=_("First submission to closed, in hours."))
    decision_latency = PercentilesSerializer(help_text=_("In review to the decision, in hours."))


class SlaBreachesSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_stage = COUNTS
    by_level = COUNTS


class VolatilitySerializer(serializers.Serializer):
    requirements_at_start = serializers.IntegerField()
    added = serializers.IntegerField()
    changed = serializers.IntegerField()
    removed = serializers.IntegerField()
    volatility = _share(_("(added + changed + removed) / requirements at the start."))


class ApprovedSerializer(serializers.Serializer):
    change_requests = serializers.IntegerField()
    cost = _money(_("Sum of the current assessments' cost, in the project's currency."))
    schedule_days = _money()
    other_currency = serializers.IntegerField(
        help_text=_("Assessments in another currency, not added.")
    )


class ActualsSerializer(serializers.Serializer):
    change_requests = serializers.IntegerField()
    cost = _money()
    effort_hours = _money()
    schedule_days = _money()


class CostSerializer(serializers.Serializer):
    budget = _money(_("The project's change budget."))
    schedule_contingency_days = _money()
    approved_in_period = ApprovedSerializer()
    approved_cumulative = ApprovedSerializer()
    budget_used_share = _share(_("Cumulative approved cost / budget."))
    contingency_used_share = _share(_("Cumulative approved schedule / contingency."))
    actuals_in_period = ActualsSerializer()
    actuals_cumulative = ActualsSerializer()


class AccuracySerializer(serializers.Serializer):
    method = serializers.CharField()
    dimension = serializers.CharField()
    n = serializers.IntegerField()
    mmre = serializers.FloatField()
    pred25 = serializers.FloatField()
    bias_percent = serializers.FloatField()


class TrendPointSerializer(serializers.Serializer):
    start = serializers.DateField()
    submitted = serializers.IntegerField()
    approved = serializers.IntegerField()
    rejected = serializers.IntegerField()
    closed = serializers.IntegerField()


class TrendSerializer(serializers.Serializer):
    bucket = serializers.ChoiceField(choices=["week", "month"])
    points = TrendPointSerializer(many=True)


class MetricsSerializer(serializers.Serializer):
    project = serializers.CharField()
    # "from" is a keyword: declared through the fields mapping below.
    to = serializers.DateField(help_text=_("The first day after the period."))
    currency = serializers.CharField()
    internal = serializers.BooleanField(
        help_text=_("Whether the internal figures (cost, estimation) are included.")
    )
    submitted = SubmittedSerializer()
    decisions = DecisionsSerializer()
    cycle_time = CycleTimeSerializer()
    sla_breaches = SlaBreachesSerializer()
    volatility = VolatilitySerializer()
    cost = CostSerializer(allow_null=True, help_text=_("Null for customer roles."))
    estimation = AccuracySerializer(many=True, allow_null=True)
    trend = TrendSerializer()

    def get_fields(self):
        fields = super().get_fields()
        return {"from": serializers.DateField(), **fields}


# ------------------------------------------------------------------ review reports


class ReviewSummarySerializer(serializers.Serializer):
    submitted = serializers.IntegerField(help_text=_("Change requests submitted in the period."))
    decided = serializers.IntegerField(help_text=_("Approved, rejected or deferred in it."))
    sla_breaches = serializers.IntegerField()
    actions_open = serializers.IntegerField(
        help_text=_("Improvement actions open at the end of the period.")
    )
    actions_overdue = serializers.IntegerField(
        help_text=_("Of those, due before the end of the period.")
    )
    actions_done = serializers.IntegerField(help_text=_("Improvement actions done in it."))


class ReviewReportSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="project.key", read_only=True)
    generated_by = serializers.CharField(
        source="generated_by.username", read_only=True, allow_null=True,
        help_text=_("Null when the review schedule generated it."),
    )  # fmt: skip
    to = serializers.DateField(
        source="period_end", read_only=True, help_text=_("The first day after the period.")
    )
    summary = ReviewSummarySerializer(read_only=True)
    html_url = serializers.SerializerMethodField()
    pdf_url = serializers.SerializerMethodField()

    class Meta:
        model = ReviewReport
        fields = [
            "number", "key", "project", "kind", "to", "generated_at", "generated_by",
            "language", "summary", "html_sha256", "pdf_sha256", "html_url", "pdf_url",
        ]  # fmt: skip
        read_only_fields = fields

    def get_fields(self):
        fields = super().get_fields()
        # "from" is a keyword: added here, before "to".
        ordered = {}
        for name, field in fields.items():
            if name == "to":
                ordered["from"] = serializers.DateField(source="period_start", read_only=True)
            ordered[name] = field
        return ordered

    def _url(self, obj: ReviewReport, fmt: str) -> str:
        return reverse(
            f"api-review-report-{fmt}", kwargs={"key": obj.project.key, "number": obj.number}
        )

    def get_html_url(self, obj: ReviewReport) -> str:
        return self._url(obj, "html")

    def get_pdf_url(self, obj: ReviewReport) -> str:
        return self._url(obj, "pdf")


class ReviewReportDetailSerializer(ReviewReportSerializer):
    figures = serializers.JSONField(
        read_only=True,
        help_text=_(
            "The figures as generated: the process metrics for the delivery team (as "
            "GET /metrics/ answers them) and improvement_actions (open_at_end, done_in_period)."
        ),
    )

    class Meta(ReviewReportSerializer.Meta):
        fields = [*ReviewReportSerializer.Meta.fields, "figures"]
        read_only_fields = fields


class ReviewReportCreateSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=ReportKind.choices)
    date = serializers.DateField(
        required=False,
        help_text=_("weekly or monthly: a day inside the (complete) week or month."),
    )
    to = serializers.DateField(
        required=False, help_text=_("on_demand: the first day after the period.")
    )

    def get_fields(self):
        fields = super().get_fields()
        return {
            "kind": fields.pop("kind"), "date": fields.pop("date"),
            "from": serializers.DateField(
                required=False, help_text=_("on_demand: the first day of the period.")
            ),
            **fields,
        }  # fmt: skip


class ReviewScheduleSerializer(StrictSerializer):
    frequency = serializers.ChoiceField(choices=ReviewFrequency.choices)
