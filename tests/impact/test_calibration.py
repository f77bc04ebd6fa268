"""Calibration maths: log ratios, median bias, robust spread, the choice of group."""

import math

import pytest

from changeflow.impact import calibration


def test_log_ratio_and_its_sign():
    assert calibration.log_ratio(10, 13) == pytest.approx(math.log(1.3))
    assert calibration.log_ratio(10, 10) == 0
    with pytest.raises(ValueError):
        calibration.log_ratio(0, 5)


def test_bias_is_the_median_and_spread_the_scaled_mad():
    ratios = [math.log(r) for r in (1.1, 1.3, 1.3, 1.5, 4.0)]  # one disaster
    bias = calibration.summarise(ratios)
    assert bias.n == 5
    assert bias.median_log_ratio == pytest.approx(math.log(1.3))
    assert bias.factor == pytest.approx(1.3)
    assert bias.percent == pytest.approx(30)
    deviations = sorted(abs(r - math.log(1.3)) for r in ratios)
    assert bias.spread == pytest.approx(1.4826 * deviations[2])
    assert bias.mean_log_ratio > bias.median_log_ratio  # the disaster pulls the mean only


def test_one_record_has_no_spread_and_none_is_an_error():
    assert calibration.summarise([0.2]).spread == 0
    with pytest.raises(ValueError):
        calibration.summarise([])


def test_pick_takes_the_most_specific_group_with_enough_history():
    biases = calibration.group(
        [(("dev", "feature"), 0.1), (("dev", "feature"), 0.2)]
        + [(("dev", ""), v) for v in (0.1, 0.2, 0.3, 0.4)]
    )
    key, bias = calibration.pick(biases, [("dev", "feature"), ("dev", "")])
    assert key == ("dev", "") and bias.n == 4
    assert calibration.pick(biases, [("dev", "feature")]) is None
    assert calibration.pick(biases, [("dev", "feature")], min_n=2)[0] == ("dev", "feature")


def test_correct_multiplies_by_the_factor():
    bias = calibration.summarise([math.log(1.25)] * 3)
    assert calibration.correct(40, bias) == pytest.approx(50)
    assert calibration.correct(40, None) == 40
