"""Request and response shapes of the impact API (for validation and the OpenAPI schema)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from changeflow.core.api_views import StrictSerializer

# A note on ``# type: ignore[assignment]`` below: the API names some fields like attributes of
# DRF's ``Field`` (``label``, ``source``). DRF's ``SerializerMetaclass`` pops declared fields
# off the class, so nothing is shadowed at run time, but djangorestframework-stubs reads them
# as overriding those attributes (open stubs issues typeddjango/djangorestframework-stubs#78
# and #158). The names are fixed by API.md.


class ThreePointSerializer(serializers.Serializer):
    optimistic = serializers.FloatField()
    most_likely = serializers.FloatField()
    pessimistic = serializers.FloatField()
    mean = serializers.FloatField(read_only=True, help_text=_("PERT mean (o + 4m + p) / 6"))
    sd = serializers.FloatField(read_only=True, help_text=_("PERT standard deviation (p - o) / 6"))


class EstimateCreateSerializer(StrictSerializer):
    """Three-point estimates; the service checks o ≤ m ≤ p and non-negative (else 422)."""

    effort = serializers.JSONField(
        help_text=_('{"optimistic", "most_likely", "pessimistic"} in hours (required)')
    )
    schedule = serializers.JSONField(required=False, allow_null=True, help_text=_("in days"))
    cost = serializers.JSONField(
        required=False, allow_null=True, help_text=_("in the project's currency")
    )
    comment = serializers.CharField(required=False, allow_blank=True, max_length=10_000)


class AggregateSerializer(serializers.Serializer):
    n = serializers.IntegerField()
    means = serializers.ListField(child=serializers.FloatField())
    sds = serializers.ListField(child=serializers.FloatField())
    mean = serializers.FloatField()
    sd = serializers.FloatField()
    spread = serializers.FloatField()
    relative_spread = serializers.FloatField()


class EstimateRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField(  # type: ignore[assignment]  # API field name; see module note
        help_text=_("anonymous label A, B, … within the round")
    )
    estimator = serializers.CharField(
        allow_null=True, help_text=_("shown to moderators and to the estimator only")
    )
    mine = serializers.BooleanField()
    effort = ThreePointSerializer(allow_null=True)
    schedule = ThreePointSerializer(allow_null=True)
    cost = ThreePointSerializer(allow_null=True)
    comment = serializers.CharField()
    updated_at = serializers.DateTimeField()


class DimensionAggregatesSerializer(serializers.Serializer):
    effort = AggregateSerializer(allow_null=True)
    schedule = AggregateSerializer(allow_null=True)
    cost = AggregateSerializer(allow_null=True)


class RoundSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    status = serializers.CharField(help_text=_("open, agreed or disagreed (a next round opened)"))
    threshold = serializers.FloatField(help_text=_("relative spread above which a new round opens"))
    opened_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    submitted = serializers.IntegerField()
    estimates = EstimateRowSerializer(many=True)
    aggregate = DimensionAggregatesSerializer(
        allow_null=True, help_text=_("hidden from estimators while the round is open")
    )


class EstimatesSerializer(serializers.Serializer):
    rounds = RoundSerializer(many=True)
    can_estimate = serializers.BooleanField()
    can_close = serializers.BooleanField()


class PointEstimateSerializer(serializers.Serializer):
    value = serializers.FloatField()
    low = serializers.FloatField(help_text=_("10th percentile of the analogues' spread"))
    high = serializers.FloatField(help_text=_("90th percentile of the analogues' spread"))
    n = serializers.IntegerField()


class AnalogueSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    similarity = serializers.FloatField()
    text_similarity = serializers.FloatField()
    used = serializers.BooleanField(help_text=_("among the k analogues the estimate uses"))
    actual_effort_hours = serializers.FloatField(allow_null=True)
    actual_schedule_days = serializers.FloatField(allow_null=True)
    actual_cost = serializers.FloatField(allow_null=True)


class AnalogyEstimatesSerializer(serializers.Serializer):
    effort = PointEstimateSerializer(allow_null=True)
    schedule = PointEstimateSerializer(allow_null=True)
    cost = PointEstimateSerializer(allow_null=True)


class AnalogySerializer(serializers.Serializer):
    k = serializers.IntegerField()
    history = serializers.IntegerField(help_text=_("closed CRs with actual effort compared"))
    estimates = AnalogyEstimatesSerializer()
    corrected = serializers.JSONField(help_text=_("per dimension: uncorrected, corrected, bias"))
    analogues = AnalogueSerializer(many=True)


class SimilarSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    state = serializers.CharField()
    similarity = serializers.FloatField(help_text=_("TF-IDF cosine of the texts, 0–1"))
    duplicate = serializers.BooleanField(help_text=_("similar enough to be a likely duplicate"))


class CalibrationGroupSerializer(serializers.Serializer):
    source = serializers.ChoiceField(  # type: ignore[assignment]  # API name; see module note
        choices=["expert", "analogy", "assessment"]
    )
    estimator = serializers.CharField(allow_null=True)
    cr_type = serializers.CharField(help_text=_("empty: every type"))
    dimension = serializers.ChoiceField(choices=["effort", "schedule", "cost"])
    applied = serializers.BooleanField(help_text=_("enough closed CRs for the bias to be applied"))
    n = serializers.IntegerField()
    median_log_ratio = serializers.FloatField()
    factor = serializers.FloatField(help_text=_("future estimates are multiplied by this"))
    bias_percent = serializers.FloatField()
    spread = serializers.FloatField()
    mean_log_ratio = serializers.FloatField()


class CalibrationSerializer(serializers.Serializer):
    min_n = serializers.IntegerField()
    groups = CalibrationGroupSerializer(many=True)
