import csv
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeflow.impact import metrics


def test_hand_computed_case():
    actual = [100, 200, 50, 400]
    predicted = [110, 100, 50, 500]
    # MRE: 0.1, 0.5, 0, 0.25
    assert metrics.mre(actual, predicted) == pytest.approx([0.1, 0.5, 0.0, 0.25])
    assert metrics.mmre(actual, predicted) == pytest.approx(0.85 / 4)
    assert metrics.mdmre(actual, predicted) == pytest.approx((0.1 + 0.25) / 2)
    assert metrics.pred(actual, predicted) == pytest.approx(3 / 4)  # 0.25 counts (<=)
    assert metrics.mar(actual, predicted) == pytest.approx((10 + 100 + 0 + 100) / 4)
    # Pairs |diff|: 100,50,300,150,200,350 → sum 1150; MAR_P0 = 2 * 1150 / (4 * 3).
    assert metrics.mar_p0(actual) == pytest.approx(2 * 1150 / 12)
    s = metrics.summary(actual, predicted)
    assert s["SA"] == pytest.approx(1 - 52.5 / (2300 / 12))
    assert set(s) == {"MMRE", "MdMRE", "PRED25", "MAR", "MAR_P0", "SA"}


def test_perfect_prediction():
    y = [3.0, 7.0, 11.0]
    s = metrics.summary(y, y)
    assert (s["MMRE"], s["MdMRE"], s["PRED25"], s["MAR"], s["SA"]) == (0, 0, 1, 0, 1)


def test_sa_is_zero_for_the_random_guess_baseline_itself():
    """Guessing every case by every other case's actual, over all pairs: MAR = MAR_P0."""
    y = np.array([23.2, 69.9, 72, 82.5, 84, 86.9, 116, 130.3, 1107.31])
    guesses = [(y[i], y[j]) for i, j in itertools.permutations(range(y.size), 2)]
    a, g = np.array(guesses).T
    assert metrics.mar(a, g) == pytest.approx(metrics.mar_p0(y))
    assert metrics.sa_from(metrics.mar(a, g), metrics.mar_p0(y)) == pytest.approx(0, abs=1e-12)


@given(st.lists(st.floats(min_value=0.01, max_value=1e6, allow_nan=False), min_size=2, max_size=40))
def test_exact_mar_p0_equals_the_mean_over_all_ordered_pairs(values):
    y = np.array(values)
    brute = np.abs(y[:, None] - y[None, :]).sum() / (y.size * (y.size - 1))
    assert metrics.mar_p0(y) == pytest.approx(brute, rel=1e-9, abs=1e-9)


def test_worse_than_guessing_is_negative_sa():
    y = [10, 20, 30]
    assert metrics.sa(y, [1000, 1000, 1000]) < 0


@pytest.mark.parametrize(
    "call",
    [
        lambda: metrics.mre([1, 2], [1]),
        lambda: metrics.mre([], []),
        lambda: metrics.mre([0, 2], [1, 2]),
        lambda: metrics.mre([np.nan, 2], [1, 2]),
        lambda: metrics.mar_p0([5]),
        lambda: metrics.sa([4, 4], [4, 5]),
    ],
)
def test_bad_inputs_are_value_errors(call):
    with pytest.raises(ValueError):
        call()


def _srinivasan_fisher(folder):
    with (folder / "srinivasan_fisher_1995_kemerer_cart_table.csv").open() as fh:
        table = list(csv.DictReader(fh))
    # The table prints integer-truncated actuals; the exact ones are Kemerer's EffortMM
    # (last column of the headerless PROMISE copy, same row order — PROVENANCE.md).
    rows = (folder / "hemant0308_kemerer.csv").read_text().split()
    actual = np.array([float(r.split(",")[-1]) for r in rows])
    assert np.array_equal(np.trunc(actual), [float(r["actual_as_printed"]) for r in table])
    predicted = np.array([float(r["cart_adjusted_102.5+0.075x"]) for r in table])
    printed = np.array([float(r["error_pct_as_printed"]) for r in table])
    return actual, predicted, printed


def test_metrics_reproduce_srinivasan_fisher_1995_kemerer_table(effort_data):
    actual, predicted, printed = _srinivasan_fisher(effort_data)
    # Every printed error % (to two decimals) and the paper's MMRE of 64.7 %.
    assert metrics.mre(actual, predicted) * 100 == pytest.approx(printed, abs=0.01)
    assert metrics.mmre(actual, predicted) * 100 == pytest.approx(64.70, abs=0.01)
    assert round(metrics.mmre(actual, predicted) * 100, 1) == 64.7
    # The rest follow from the same 15 errors.
    assert metrics.mdmre(actual, predicted) * 100 == pytest.approx(np.median(printed), abs=0.01)
    assert metrics.pred(actual, predicted) == pytest.approx(np.mean(printed <= 25))
    assert metrics.pred(actual, predicted) == pytest.approx(4 / 15)  # 14.8, 13.53, 7.34, 23.1 %
