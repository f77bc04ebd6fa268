import math

import pytest

from changeflow.impact.estimation import (
    InvalidEstimate,
    ThreePoint,
    aggregate,
    needs_delphi_round,
)


def test_pert_mean_and_sd_on_known_numbers():
    t = ThreePoint(2, 4, 12)
    assert t.mean == pytest.approx((2 + 16 + 12) / 6)  # 5.0
    assert t.mean == pytest.approx(5.0)
    assert t.sd == pytest.approx(10 / 6)
    assert t.variance == pytest.approx(100 / 36)


def test_a_certain_estimate_has_no_spread():
    t = ThreePoint(5, 5, 5)
    assert (t.mean, t.sd) == (5, 0)


@pytest.mark.parametrize(
    "triple",
    [(5, 3, 8), (1, 9, 8), (-1, 2, 3), (1, math.nan, 3), (1, 2, math.inf)],
)
def test_inverted_negative_or_non_finite_estimates_are_refused(triple):
    with pytest.raises(InvalidEstimate):
        ThreePoint(*triple)


def test_aggregate_is_the_equal_weight_mixture():
    # Means 5 and 11; sds 1 and 2 → within = (1 + 4) / 2, between = ((5-8)^2 + (11-8)^2) / 2.
    agg = aggregate([(2, 5, 8), (5, 11, 17)])
    assert agg.means == (5, 11)
    assert agg.sds == (1, 2)
    assert agg.mean == 8
    assert agg.sd == pytest.approx(math.sqrt(2.5 + 9))
    assert agg.spread == 6
    assert agg.relative_spread == pytest.approx(0.75)
    assert agg.as_dict()["n"] == 2


def test_agreeing_estimators_aggregate_to_their_own_figures():
    agg = aggregate([ThreePoint(2, 4, 12)] * 3)
    assert agg.mean == pytest.approx(5)
    assert agg.sd == pytest.approx(10 / 6)
    assert agg.spread == 0


def test_aggregate_needs_an_estimate():
    with pytest.raises(InvalidEstimate):
        aggregate([])


def test_delphi_round_opens_only_beyond_the_threshold():
    close = [(8, 10, 12), (9, 11, 13)]  # means 10 and 11: relative spread 1/10.5 ≈ 0.095
    apart = [(8, 10, 12), (14, 16, 18)]  # means 10 and 16: 6/13 ≈ 0.46
    assert not needs_delphi_round(close)
    assert needs_delphi_round(apart)
    assert needs_delphi_round(close, threshold=0.05)
    assert not needs_delphi_round(apart, threshold=0.5)


def test_delphi_threshold_is_exclusive_and_one_estimator_never_triggers():
    exactly = [(10, 10, 10), (12, 12, 12), (11, 11, 11)]  # spread 2 / mean 11
    assert not needs_delphi_round(exactly, threshold=2 / 11)
    assert needs_delphi_round(exactly, threshold=2 / 11 - 1e-9)
    assert not needs_delphi_round([(1, 50, 500)], threshold=0)
    assert not needs_delphi_round([(0, 0, 0), (0, 0, 0)], threshold=0)


def test_delphi_threshold_must_be_sensible():
    with pytest.raises(ValueError):
        needs_delphi_round([(1, 2, 3)], threshold=-0.1)
