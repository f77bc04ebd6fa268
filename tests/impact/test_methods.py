"""The backtest's other estimation methods: ANGEL with its choices nested in the folds, and
the log-linear regression (``impact.methods``)."""

import numpy as np
import pytest

from changeflow.impact import analogy, datasets, methods
from changeflow.impact.datasets import DatasetError


def _cases(numeric, nominal=None, target=None, log_scale=False) -> analogy.Cases:
    numeric = np.asarray(numeric, dtype=float)
    n = numeric.shape[0]
    nominal = np.zeros((n, 0), dtype=np.int64) if nominal is None else np.asarray(nominal)
    return analogy.Cases(
        numeric=analogy.normalise(numeric), nominal=nominal, target=np.asarray(target, float),
        numeric_names=tuple(f"x{j}" for j in range(numeric.shape[1])),
        nominal_names=tuple(f"c{j}" for j in range(nominal.shape[1])), dropped=0,
    )  # fmt: skip


def _random_cases(seed: int, n: int = 14) -> analogy.Cases:
    rng = np.random.default_rng(seed)
    numeric = rng.integers(0, 4, size=(n, 3)).astype(float)  # small integers: many ties
    numeric[rng.random((n, 3)) < 0.15] = np.nan  # and missing values
    nominal = rng.integers(-1, 3, size=(n, 1))  # -1: missing
    return _cases(numeric, nominal, rng.integers(1, 60, size=n))


def _brute_inner_mmre(cases: analogy.Cases, subset, k: int, held_out: int) -> float:
    """The fold's inner jack-knife, written out: each other case j from its k nearest among
    the cases that are neither j nor the held-out one."""
    d = methods._distances(cases, subset)
    y, n = cases.target, cases.n
    errors = []
    for j in range(n):
        if j == held_out:
            continue
        candidates = [m for m in range(n) if m not in (j, held_out)]
        nearest = sorted(candidates, key=lambda m: (d[j, m], m))[:k]  # ties: earlier case
        nearest = [m for m in nearest if np.isfinite(d[j, m])]
        est = np.mean(y[nearest]) if nearest else np.mean(y[candidates])
        errors.append(abs(est - y[j]) / y[j])
    return float(np.mean(errors))


@pytest.mark.parametrize("seed", range(6))
def test_every_folds_inner_mmre_equals_the_jack_knife_written_out(seed):
    cases = _random_cases(seed)
    for subset in ((0,), (1, 3), (0, 1, 2, 3)):
        scored = methods._Subset(cases, subset, kmax=3)
        for k in (1, 2, 3):
            fast = scored.fold_mmre(k)
            slow = [_brute_inner_mmre(cases, subset, k, i) for i in range(cases.n)]
            np.testing.assert_allclose(fast, slow, rtol=1e-12)


def test_the_held_out_cases_effort_never_reaches_its_own_estimate():
    cases = _random_cases(7, n=16)
    base = methods.angel_predictions(cases)
    for i in (0, 5, 15):
        target = cases.target.copy()
        target[i] = 10_000.0  # an absurd effort for the held-out case
        changed = analogy.Cases(**{**cases.__dict__, "target": target})
        assert methods.angel_predictions(changed)[i] == base[i]
        assert (
            methods.regression_predictions(changed)[i] == methods.regression_predictions(cases)[i]
        )


def test_angel_finds_the_feature_that_carries_the_effort_by_search_and_by_forward_steps(
    monkeypatch,
):
    rng = np.random.default_rng(3)
    size = rng.uniform(10, 100, 30)
    noise = rng.uniform(0, 1, (30, 3))
    cases = _cases(np.column_stack([noise[:, 0], size, noise[:, 1:]]), target=size * 2.0)
    for exhaustive in (methods.ANGEL_EXHAUSTIVE, 0):  # every subset, then forward selection
        monkeypatch.setattr(methods, "ANGEL_EXHAUSTIVE", exhaustive)
        chosen: list = []
        predictions = methods.angel_predictions(cases, chosen=chosen)
        assert all(subset == (1,) for _k, subset in chosen), chosen
        mre = np.abs(predictions - cases.target) / cases.target
        assert np.median(mre) < 0.1


def test_a_fixed_k_is_kept_in_every_fold():
    chosen: list = []
    methods.angel_predictions(_random_cases(1), (2,), chosen=chosen)
    assert {k for k, _subset in chosen} == {2}


def test_regression_recovers_a_log_linear_law():
    rng = np.random.default_rng(5)
    size = rng.uniform(10, 1000, 40)
    effort = 0.5 * size**0.9 * np.exp(rng.normal(0, 0.05, 40))
    cases = analogy.Cases(
        numeric=analogy.normalise(np.log1p(size)[:, None]), nominal=np.zeros((40, 0), np.int64),
        target=effort, numeric_names=("size",), nominal_names=(), dropped=0,
    )  # fmt: skip
    mre = np.abs(methods.regression_predictions(cases) - effort) / effort
    assert np.median(mre) < 0.1


def test_too_many_cases_or_too_few_are_refused(monkeypatch):
    cases = _random_cases(2, n=14)
    monkeypatch.setattr(methods, "ANGEL_MAX_CASES", 10)
    with pytest.raises(DatasetError, match="at most 10 cases; this file has 14"):
        methods.angel_predictions(cases)
    with pytest.raises(DatasetError, match="k is 3 but only 1 other"):
        methods.angel_predictions(_cases([[1.0], [2.0]], target=[1, 2]))


def test_angel_on_desharnais_chooses_adjusted_points_and_language(effort_data):
    data = datasets.load(effort_data / "dase_desharnais_1_1.arff", missing=("-1",))
    result = methods.backtest(data, "Effort", ("Project", "Length"), "angel")
    names = result.cases.numeric_names + result.cases.nominal_names
    (k, subset), folds = result.chosen[0]
    assert {names[f] for f in subset} == {"PointsAjust", "Language"} and folds > 70
    assert result.k is None and result.aggregate is None and result.method == "angel"
    assert 0.3 < result.metrics["MMRE"] < 0.45 and result.metrics["SA"] > 0.5
    assert sum(folds for _choice, folds in result.chosen) == result.cases.n


def test_backtest_dispatch(effort_data):
    data = datasets.load(effort_data / "dase_kemerer.csv")
    default = methods.backtest(data, "effort")
    assert (default.method, default.k) == ("analogy", analogy.DEFAULT_K)
    same = analogy.backtest(data, "effort")
    assert default.metrics == same.metrics
    regression = methods.backtest(data, "effort", method="regression")
    assert (regression.k, regression.aggregate, regression.chosen) == (None, None, ())
    assert regression.cases.logged == ("size",)  # size on a log scale, as the analogy's
    angel = methods.backtest(data, "effort", method="angel")
    assert angel.cases.logged == ()  # ANGEL compares raw features
    assert sum(folds for _choice, folds in angel.chosen) == 15
    with pytest.raises(ValueError, match="unknown estimation method"):
        methods.backtest(data, "effort", method="cocomo")
