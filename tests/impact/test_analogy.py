import numpy as np
import pytest

from changeflow.impact import analogy
from changeflow.impact.datasets import (
    DatasetError,
    NonNumericTarget,
    UnknownColumn,
    load,
)


def write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load(path)


SMALL = "size,lang,effort\n1,a,10\n2,a,20\n4,b,40\n10,b,100\n"


def test_loo_on_a_hand_made_dataset(tmp_path):
    ds = write(tmp_path, SMALL)
    cases = analogy.prepare(ds, "effort")
    # size normalised by its range 9; lang is nominal.
    assert cases.numeric[:, 0] == pytest.approx([0, 1 / 9, 3 / 9, 1])
    assert cases.nominal_names == ("lang",)
    # k = 1: row 0's nearest is row 1 (same lang, 1/9 apart) and vice versa; row 2's nearest is
    # row 3 (same lang: sqrt(36/81) = 0.667) rather than row 1 (sqrt(4/81 + 1) = 1.02).
    # Without the size adjustment (with so few cases it is fitted on three rows).
    assert analogy.loo_predictions(cases, k=1, adjust=False) == pytest.approx([20, 10, 100, 40])
    # k = 2: the geometric mean of the two nearest others. Row 3's second nearest is row 1
    # (sqrt((8/9)^2 + 1) = 1.34), not row 0 (sqrt(2) = 1.41).
    expected = [np.sqrt(20 * 40), np.sqrt(10 * 40), np.sqrt(100 * 20), np.sqrt(40 * 20)]
    assert analogy.loo_predictions(cases, k=2, adjust=False) == pytest.approx(expected)
    for how, combine in (("mean", np.mean), ("median", np.median)):
        got = analogy.loo_predictions(cases, k=2, aggregate=how, adjust=False)
        assert got == pytest.approx([combine(p) for p in ([20, 40], [10, 40], [100, 20], [40, 20])])


def test_the_adjustment_scales_an_analogue_by_the_size_difference(tmp_path):
    # effort = 10 * size exactly: in log space log effort = log 10 + log size, which the
    # ridge on log(1 + size) nearly recovers, so the adjusted analogue lands near the truth
    # where the plain nearest neighbour is off by its whole size difference.
    sizes = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233]
    rows = "\n".join(f"{s},{10 * s}" for s in sizes)
    cases = analogy.prepare(write(tmp_path, "size,effort\n" + rows + "\n"), "effort")
    assert cases.logged == ("size",)
    plain = analogy.loo_predictions(cases, k=1, adjust=False)
    adjusted = analogy.loo_predictions(cases, k=1)
    truth = np.array(sizes) * 10.0
    assert np.abs(adjusted / truth - 1).mean() < np.abs(plain / truth - 1).mean() / 2


def test_ridge_recovers_a_linear_law_and_ignores_missing_values():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (200, 2))
    y = 1.0 + 2.0 * x[:, 0] - 1.0 * x[:, 1]
    x[5, 1] = np.nan
    model = analogy.fit_ridge(x, y)
    assert model.beta == pytest.approx([2.0, -1.0], abs=0.05)
    assert model.penalty == min(analogy.RIDGE_LAMBDAS)


def test_missing_feature_values_compare_on_what_both_cases_have(tmp_path):
    ds = write(tmp_path, "x,y,effort\n0,0,10\n?,0,11\n10,10,50\n10,?,55\n")
    cases = analogy.prepare(ds, "effort")
    d = analogy.distances(cases)
    # Rows 0 and 1 share only y (equal): distance 0; rows 2 and 3 share only x: distance 0.
    assert d[0, 1] == 0 and d[2, 3] == 0
    # Row 1 vs row 3: no feature in common.
    assert np.isinf(d[1, 3])
    # Row 0 vs row 3: only x compared, |0 - 1| = 1, scaled by 2 features / 1 compared.
    assert d[0, 3] == pytest.approx(np.sqrt(2))
    assert analogy.loo_predictions(cases, k=1, adjust=False) == pytest.approx([11, 10, 55, 50])


def test_a_case_with_no_comparable_neighbour_gets_the_geometric_mean_of_the_others(tmp_path):
    ds = write(tmp_path, "x,y,effort\n1,?,10\n?,1,20\n?,3,40\n")
    cases = analogy.prepare(ds, "effort")
    assert analogy.loo_predictions(cases, k=1)[0] == pytest.approx(np.sqrt(20 * 40))


def test_rows_without_a_target_are_dropped_and_counted(tmp_path):
    ds = write(tmp_path, "x,effort\n1,10\n2,\n3,30\n4,40\n")
    cases = analogy.prepare(ds, "effort")
    assert (cases.n, cases.dropped) == (3, 1)


def test_excluded_columns_are_not_features(tmp_path):
    ds = write(tmp_path, "id,x,effort\n1,1,10\n2,2,20\n3,3,30\n")
    cases = analogy.prepare(ds, "effort", exclude=["id"])
    assert cases.numeric_names == ("x",)


@pytest.mark.parametrize(
    ("text", "target", "exclude", "k", "error", "message"),
    [
        (SMALL, "Effort", (), 1, UnknownColumn, "no column 'Effort'"),
        (SMALL, "effort", ("nope",), 1, UnknownColumn, "no column 'nope'"),
        (SMALL, "effort", ("effort",), 1, UnknownColumn, "cannot also be excluded"),
        (SMALL, "lang", (), 1, NonNumericTarget, "not numeric"),
        (SMALL, "effort", ("size", "lang"), 1, DatasetError, "no feature columns"),
        (SMALL, "effort", (), 4, DatasetError, "only 3 other cases"),
        ("x,effort\n1,0\n2,3\n", "effort", (), 1, DatasetError, "zero or negative"),
        ("x,effort\n1,5\n2,5\n", "effort", (), 1, DatasetError, "same target"),
        ("x,effort\n1,5\n2,\n", "effort", (), 1, DatasetError, "at least two cases"),
    ],
)
def test_bad_backtests_are_typed_errors(tmp_path, text, target, exclude, k, error, message):
    with pytest.raises(error, match=message):
        analogy.backtest(write(tmp_path, text), target, exclude, k)


def test_k_must_be_positive(tmp_path):
    with pytest.raises(ValueError):
        analogy.loo_predictions(analogy.prepare(write(tmp_path, SMALL), "effort"), k=0)


def test_blocks_give_the_same_answer_as_one_pass(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    rows = "\n".join(f"{a:.3f},{b:.3f},{e:.1f}" for a, b, e in rng.uniform(1, 100, (40, 3)))
    cases = analogy.prepare(write(tmp_path, "a,b,effort\n" + rows + "\n"), "effort")
    whole = analogy.loo_predictions(cases, k=3)
    monkeypatch.setattr(analogy, "BLOCK", 7)
    assert np.array_equal(analogy.loo_predictions(cases, k=3), whole)


def test_desharnais_backtest_beats_random_guessing(effort_data):
    ds = load(effort_data / "dase_desharnais_1_1.arff", missing=["-1"])
    result = analogy.backtest(ds, "Effort", exclude=["Project", "Length"])
    assert result.cases.n == 81
    assert result.metrics["SA"] > 0.3
    assert 0 < result.metrics["MMRE"] < 1


# --- feature-subset selection, nested in the leave-one-out -----------------------------------


def synthetic_cases(n=40, seed=3):
    """Effort follows ``size`` (with a nominal ``kind`` doubling it); ``noise`` is unrelated."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(1, 100, n)
    kind = rng.integers(0, 2, n)
    noise = rng.uniform(0, 1, n)
    effort = 3 * size * (1 + kind) * rng.uniform(0.9, 1.1, n)
    numeric = analogy.normalise(np.column_stack([np.log1p(size), noise]))
    return analogy.Cases(
        numeric=numeric,
        nominal=kind[:, None].astype(np.int64),
        target=effort,
        numeric_names=("size", "noise"),
        nominal_names=("kind",),
        dropped=0,
    )


def select(cases, train, **options):
    log_y = np.log(cases.target)
    model = analogy.fit_ridge(cases.numeric[train], log_y[train])
    adjusted = analogy.adjusted_matrix(cases.numeric, log_y, model)
    return analogy.select_features(analogy.feature_terms(cases), log_y, adjusted, train, **options)


def test_adjusted_matrix_matches_estimate_one_adjustment():
    cases = synthetic_cases(12)
    numeric = cases.numeric.copy()
    numeric[2, 0] = np.nan  # a missing value adjusts nothing
    log_y = np.log(cases.target)
    model = analogy.fit_ridge(numeric, log_y)
    got = analogy.adjusted_matrix(numeric, log_y, model)
    pairs = [[np.nan_to_num(numeric[i] - numeric[j]) for j in range(12)] for i in range(12)]
    expected = log_y[None, :] + np.array(pairs) @ model.beta
    assert got == pytest.approx(expected)


def test_forward_selection_starts_from_what_the_adjustment_cannot_see():
    """The ridge adjusts for size, not for the nominal ``kind`` that doubles the effort: the
    distance needs ``kind`` most, so forward selection takes it first, on every seed."""
    for seed in range(4):
        cases = synthetic_cases(seed=seed)
        train = np.ones(cases.n, dtype=bool)
        chosen = select(cases, train, k=2)
        assert chosen[0] == 2  # kind (numeric features come first: size 0, noise 1)
        # Deterministic: the same history gives the same subset, in the same order.
        assert select(cases, train, k=2) == chosen
        backward = select(cases, train, k=2, direction="backward")
        assert 2 in backward
        assert select(cases, train, k=2, direction="backward") == backward


@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("score", ["mar", "mdmre", "log"])
def test_the_held_out_case_never_moves_the_subset(direction, score):
    """Changing the held-out case's features and effort leaves its fold's subset unchanged."""
    cases = synthetic_cases()
    held = 7
    train = np.ones(cases.n, dtype=bool)
    train[held] = False
    before = select(cases, train, score=score, direction=direction)
    numeric, nominal, target = cases.numeric.copy(), cases.nominal.copy(), cases.target.copy()
    numeric[held] = [0.0, 1.0]  # the noise now "explains" it, and its size is extreme
    nominal[held] = 1 - nominal[held]
    target[held] = 1e6
    changed = analogy.Cases(numeric, nominal, target, cases.numeric_names,
                            cases.nominal_names, 0)  # fmt: skip
    assert select(changed, train, score=score, direction=direction) == before
    numeric[held] = np.nan  # missing everywhere
    nominal[held] = -1
    changed = analogy.Cases(numeric, nominal, target, cases.numeric_names,
                            cases.nominal_names, 0)  # fmt: skip
    assert select(changed, train, score=score, direction=direction) == before


def test_nested_loo_chooses_each_fold_without_the_held_out_case():
    cases = synthetic_cases(30)
    chosen = []
    pred = analogy.loo_select_features(cases, k=2, chosen=chosen)
    assert len(chosen) == cases.n and np.isfinite(pred).all()
    held = 5
    numeric, target = cases.numeric.copy(), cases.target.copy()
    numeric[held] = [1.0, 0.0]
    target[held] = 1.0
    changed = analogy.Cases(numeric, cases.nominal, target, cases.numeric_names,
                            cases.nominal_names, 0)  # fmt: skip
    again = []
    analogy.loo_select_features(changed, k=2, chosen=again)
    assert again[held] == chosen[held]
    # Fold by fold the same as calling the selection on the other cases.
    train = np.ones(cases.n, dtype=bool)
    train[held] = False
    assert chosen[held] == select(cases, train, k=2)
    # The estimate of a fold uses only its subset: a fold that keeps every feature is
    # estimated as without selection.
    plain = analogy.loo_predictions(cases, k=2)
    full = [i for i, s in enumerate(chosen) if sorted(s) == [0, 1, 2]]
    assert full and pred[full] == pytest.approx(plain[full])


def test_unknown_selection_options_are_errors():
    cases = synthetic_cases(10)
    train = np.ones(cases.n, dtype=bool)
    with pytest.raises(ValueError, match="selection score"):
        select(cases, train, score="nope")
    with pytest.raises(ValueError, match="selection direction"):
        select(cases, train, direction="sideways")


# --- k (and the aggregate) chosen by an inner leave-one-out ---------------------------------


def fold_inputs(cases, train):
    log_y = np.log(cases.target)
    model = analogy.fit_ridge(cases.numeric[train], log_y[train])
    adjusted = analogy.adjusted_matrix(cases.numeric, log_y, model)
    return analogy.distances(cases), adjusted, log_y, model


def brute_force_k(cases, train, ks, aggregates, score):
    """The inner leave-one-out by ``estimate_one`` itself, one training case at a time."""
    d, _adjusted, log_y, model = fold_inputs(cases, train)
    rows = np.flatnonzero(train)
    y = cases.target[rows]
    best = None
    for k in sorted(ks, reverse=True):
        for how in aggregates:
            pred = []
            for i in rows:
                row = np.where(train, d[i], np.inf)
                row[i] = np.inf
                est = analogy.estimate_one(row, cases.numeric[i], cases.numeric, cases.target,
                                           k=k, aggregate=how, model=model)  # fmt: skip
                pred.append(est.value)
            pred = np.array(pred)
            if score == "mar":
                err = np.abs(pred - y).mean()
            elif score == "mdmre":
                err = np.median(np.abs(pred - y) / y)
            else:
                err = np.abs(np.log(pred) - np.log(y)).mean()
            if best is None or err < best[0] - 1e-12:
                best = (err, k, how)
    return best[1], best[2]


@pytest.mark.parametrize("score", ["mar", "mdmre", "log"])
def test_select_k_is_the_inner_loo_of_estimate_one(score):
    both = ("geometric", "median")
    for seed in range(3):
        cases = synthetic_cases(25, seed=seed)
        train = np.ones(cases.n, dtype=bool)
        train[seed + 2] = False
        d, adjusted, log_y, _model = fold_inputs(cases, train)
        got = analogy.select_k(d, adjusted, log_y, train, analogy.K_CHOICES, both, score)
        assert got == brute_force_k(cases, train, analogy.K_CHOICES, both, score)
        # Deterministic.
        assert analogy.select_k(d, adjusted, log_y, train, analogy.K_CHOICES, both, score) == got


def test_select_k_prefers_one_neighbour_for_exact_twins_and_the_larger_k_on_ties():
    # Pairs of identical projects, pairs far apart in size and effort: the twin is exact.
    size = np.repeat([1.0, 5.0, 20.0, 60.0, 200.0, 700.0], 2)
    noise = np.repeat([0.3, 0.9, 0.1, 0.7, 0.5, 0.2], 2)
    effort = np.repeat([7.0, 90.0, 30.0, 800.0, 150.0, 5000.0], 2)
    numeric = analogy.normalise(np.column_stack([np.log1p(size), noise]))
    nominal = np.zeros((12, 0), dtype=np.int64)
    cases = analogy.Cases(numeric, nominal, effort, ("size", "noise"), (), 0)
    train = np.ones(12, dtype=bool)
    log_y = np.log(effort)
    no_adjustment = analogy.adjusted_matrix(cases.numeric, log_y, None)
    d = analogy.distances(cases)
    assert analogy.select_k(d, no_adjustment, log_y, train) == (1, "geometric")
    # Every effort equal: every k is exact, the tie goes to the larger k and first aggregate.
    same = np.log(np.full(12, 40.0))
    flat = analogy.adjusted_matrix(cases.numeric, same, None)
    assert analogy.select_k(d, flat, same, train, (2, 5, 3), ("median", "geometric")) == (
        5,
        "median",
    )


def test_the_held_out_case_never_moves_k():
    cases = synthetic_cases(30, seed=1)
    held = 4
    train = np.ones(cases.n, dtype=bool)
    train[held] = False
    both = ("geometric", "median")
    d, adjusted, log_y, _ = fold_inputs(cases, train)
    before = analogy.select_k(d, adjusted, log_y, train, analogy.K_CHOICES, both)
    # Its distances (now the nearest of all), its adjusted row and column, and its effort.
    d2, adjusted2, log_y2 = d.copy(), adjusted.copy(), log_y.copy()
    d2[held, :] = d2[:, held] = 0.0
    adjusted2[held, :] = adjusted2[:, held] = 50.0
    log_y2[held] = 20.0
    assert analogy.select_k(d2, adjusted2, log_y2, train, analogy.K_CHOICES, both) == before
    # Through loo_predictions: changing the held-out case's features and effort leaves its
    # fold's choice as it was.
    picks = []
    pred = analogy.loo_choose_k(cases, analogy.K_CHOICES, both, chosen=picks)
    assert len(picks) == cases.n and np.isfinite(pred).all()
    assert picks[held] == before
    numeric, target = cases.numeric.copy(), cases.target.copy()
    numeric[held] = [1.0, 0.0]
    target[held] = 1e6
    changed = analogy.Cases(numeric, cases.nominal, target, cases.numeric_names,
                            cases.nominal_names, 0)  # fmt: skip
    again = []
    analogy.loo_choose_k(changed, analogy.K_CHOICES, both, chosen=again)
    assert again[held] == picks[held]
    # A fold that chose the default (k = 4, geometric) is estimated as without the choice.
    plain = analogy.loo_predictions(cases)
    default = [i for i, p in enumerate(picks) if p == (4, "geometric")]
    assert default and pred[default] == pytest.approx(plain[default])


def test_select_k_rejects_bad_options():
    cases = synthetic_cases(10)
    train = np.ones(cases.n, dtype=bool)
    d, adjusted, log_y, _ = fold_inputs(cases, train)
    with pytest.raises(ValueError, match="at least 1"):
        analogy.select_k(d, adjusted, log_y, train, (0, 2))
    with pytest.raises(ValueError, match="aggregation"):
        analogy.select_k(d, adjusted, log_y, train, (2,), ("mode",))
    with pytest.raises(ValueError, match="aggregation"):
        analogy.select_k(d, adjusted, log_y, train, (2,), ())
    with pytest.raises(ValueError, match="selection score"):
        analogy.select_k(d, adjusted, log_y, train, (2,), score="nope")
