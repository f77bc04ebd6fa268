"""Request and response shapes of the impact API (for validation and the OpenAPI schema)."""

from __future__ import annotations

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from changeflow.core.api_views import StrictSerializer

from . import analogy, methods

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


class BacktestRequestSerializer(StrictSerializer):
    """A tabular effort history to backtest (as ``changeflow estimate backtest``)."""

    file = serializers.FileField(
        help_text=_("CSV with a header row (unless `names` is given) or ARFF (a name ending "
                    ".arff); one row per past project")
    )  # fmt: skip
    target = serializers.CharField(max_length=200, help_text=_("the column to estimate"))
    exclude = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=10_000,
        help_text=_("comma-separated columns not to use as features (ids, values known only "
                    "afterwards)"),
    )  # fmt: skip
    method = serializers.ChoiceField(
        choices=methods.METHODS, required=False, default=methods.DEFAULT_METHOD,
        help_text=_("analogy (changeflow's, the default), angel (Shepperd and Schofield's, "
                    "feature subset and k chosen in each fold) or regression (log-linear ridge)"),
    )  # fmt: skip
    k = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=1000,
        help_text=format_lazy(
            _("number of analogies (analogy: default {k}; angel: chosen among {ks} in each fold "
              "unless given; not for regression)"),
            k=analogy.DEFAULT_K, ks=", ".join(map(str, methods.ANGEL_KS)),
        ),
    )  # fmt: skip
    aggregate = serializers.ChoiceField(
        choices=analogy.AGGREGATES, required=False, allow_null=True, default=None,
        help_text=format_lazy(_("how the analogues are combined, analogy only (default {a})"),
                              a=analogy.DEFAULT_AGGREGATE),
    )  # fmt: skip
    missing = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=1000,
        help_text=_("comma-separated extra cell values that mean 'missing' (empty and ? "
                    "always do)"),
    )  # fmt: skip
    names = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=10_000,
        help_text=_("comma-separated column names for a CSV file without a header row"),
    )  # fmt: skip


class BacktestFeaturesSerializer(serializers.Serializer):
    numeric = serializers.ListField(child=serializers.CharField())
    nominal = serializers.ListField(child=serializers.CharField())
    logged = serializers.ListField(
        child=serializers.CharField(), help_text=_("numeric columns taken on a log scale")
    )


class BacktestChoiceSerializer(serializers.Serializer):
    k = serializers.IntegerField()
    features = serializers.ListField(child=serializers.CharField())
    folds = serializers.IntegerField(help_text=_("in how many folds this choice was made"))


class BacktestReportSerializer(serializers.Serializer):
    """Leave-one-out accuracy, the same report as the CLI prints."""

    file = serializers.CharField()
    format = serializers.CharField(help_text=_("csv or arff"))
    method = serializers.CharField()
    target = serializers.CharField()
    excluded = serializers.ListField(child=serializers.CharField())
    k = serializers.IntegerField(allow_null=True)
    aggregate = serializers.CharField(allow_null=True)
    n = serializers.IntegerField(help_text=_("cases estimated (rows with a target)"))
    rows = serializers.IntegerField()
    dropped_missing_target = serializers.IntegerField()
    features = BacktestFeaturesSerializer()
    missing_feature_values = serializers.IntegerField()
    notes = serializers.ListField(child=serializers.CharField())
    chosen = BacktestChoiceSerializer(
        many=True, required=False,
        help_text=_("angel only: the feature subsets and k chosen in the folds, most often first"),
    )  # fmt: skip
    MMRE = serializers.FloatField()
    MdMRE = serializers.FloatField()
    PRED25 = serializers.FloatField()
    MAR = serializers.FloatField()
    MAR_P0 = serializers.FloatField(help_text=_("exact MAR of random guessing (Langdon 2016)"))
    SA = serializers.FloatField(help_text=_("standardised accuracy: 1 - MAR / MAR_P0"))
