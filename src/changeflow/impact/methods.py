"""The estimation methods a backtest can run (``changeflow estimate backtest --method``).

Pure NumPy; no ORM. ``analogy`` is changeflow's own estimator (``impact.analogy``, the
default, and the one change requests are estimated by). Beside it, a team can backtest the
methods the literature measures everything against, on its own data and under the same
honest leave-one-out:

- ``angel``: Shepperd and Schofield's ANGEL (1997), the classic analogy method. Features
  min-max normalised on their raw scale (``analogy.prepare(log_scale=False)``), Euclidean
  distance over the features both cases have (as ``analogy.pair_distances``), the
  unadjusted arithmetic mean of the k nearest, and the feature subset and k (1, 2 or 3)
  chosen by the jack-knifed MMRE. ANGEL chose them on the whole dataset and reported that
  same MMRE, an in-sample figure; here they are chosen inside every fold of the
  leave-one-out from the other cases alone, so the held-out case never helps choose what
  estimates it. Every subset is tried up to ``ANGEL_EXHAUSTIVE`` features (ANGEL's own
  exhaustive search); above that, forward selection (add the feature that lowers the inner
  MMRE most, while one does). Ties go to the subset tried first (fewer features first),
  then to the smaller k; ties in distance to the earlier case.
- ``regression``: the log-linear ridge regression of ``analogy.fit_ridge`` (log effort on
  the log-scaled size features and the other numeric ones, penalty by generalised
  cross-validation) on its own, refitted without the held-out case: the parametric
  baseline, and the model the analogy default adjusts its analogues by.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable

import numpy as np
from django.utils.translation import gettext as _

from changeflow.impact import analogy, metrics
from changeflow.impact.analogy import Cases, _loo_check, fit_ridge, pair_distances
from changeflow.impact.datasets import Dataset, DatasetError

METHODS = ("analogy", "angel", "regression")
DEFAULT_METHOD = "analogy"
# The methods each option applies to (``inapplicable``).
APPLIES = {"k": ("analogy", "angel"), "aggregate": ("analogy",)}
ANGEL_KS = (1, 2, 3)
ANGEL_EXHAUSTIVE = 10  # features up to which every subset is tried (1,023 subsets)
# The search keeps an n × n distance matrix per subset tried: bounded so it stays in memory.
ANGEL_MAX_CASES = 1_000


def _distances(cases: Cases, subset: tuple[int, ...]) -> np.ndarray:
    """Case-to-case distances over the features in ``subset`` (numeric first, then nominal);
    a case is never its own neighbour."""
    p = cases.numeric.shape[1]
    num = [f for f in subset if f < p]
    nom = [f - p for f in subset if f >= p]
    a_num, a_nom = cases.numeric[:, num], cases.nominal[:, nom]
    d = pair_distances(a_num, a_nom, a_num, a_nom)
    np.fill_diagonal(d, np.inf)
    return d


class _Subset:
    """One feature subset's nearest neighbours, and what follows from them for every fold."""

    def __init__(self, cases: Cases, subset: tuple[int, ...], kmax: int):
        d = _distances(cases, subset)
        n = cases.n
        width = min(kmax + 1, n - 1)
        self.order = np.argsort(d, axis=1, kind="stable")[:, :width]  # earlier case first
        self.finite = np.isfinite(np.take_along_axis(d, self.order, axis=1))
        self.y = cases.target

    def _sums(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        ok = self.finite[:, :k]
        return np.where(ok, self.y[self.order[:, :k]], 0.0).sum(axis=1), ok.sum(axis=1)

    def predictions(self, k: int) -> np.ndarray:
        """Each case estimated from its k nearest others (the mean of all others when none
        is comparable)."""
        total, count = self._sums(k)
        n = self.y.size
        others = (self.y.sum() - self.y) / (n - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), others)

    def fold_mmre(self, k: int) -> np.ndarray:
        """``out[i]``: the MMRE over every case but ``i`` of estimates that never use ``i``
        (the inner jack-knife of the fold that holds ``i`` out), for all folds at once.

        Case j's k nearest without i are its k nearest when i is not among them; when it
        is, its k + 1 nearest less i.
        """
        n, y = self.y.size, self.y
        base_sum, base_count = self._sums(k)
        width = self.order.shape[1]
        more_sum, more_count = self._sums(min(k + 1, width))
        top = np.zeros((n, n), dtype=bool)  # top[i, j]: i is among j's k nearest
        top_finite = np.zeros((n, n), dtype=bool)
        cols = np.arange(n)
        for m in range(min(k, width)):
            top[self.order[:, m], cols] = True
            top_finite[self.order[:, m], cols] = self.finite[:, m]
        total = np.where(top, more_sum[None, :] - np.where(top_finite, y[:, None], 0.0),
                         base_sum[None, :])  # fmt: skip
        count = np.where(top, more_count[None, :] - top_finite, base_count[None, :])
        fallback = (y.sum() - y[:, None] - y[None, :]) / max(n - 2, 1)  # mean of the rest
        with np.errstate(divide="ignore", invalid="ignore"):
            pred = np.where(count > 0, total / np.maximum(count, 1), fallback)
        mre = np.abs(pred - y[None, :]) / y[None, :]
        np.fill_diagonal(mre, 0.0)
        return mre.sum(axis=1) / (n - 1)


def angel_predictions(
    cases: Cases, ks: Iterable[int] = ANGEL_KS, *, chosen: list | None = None
) -> np.ndarray:
    """Leave-one-out estimates of ANGEL with its subset and k chosen inside every fold (see
    the module docstring); each fold's ``(k, feature indices)`` is appended to ``chosen``
    when given."""
    ks = tuple(sorted({int(k) for k in ks}))
    n = _loo_check(cases, max(ks), "mean")
    if n < 3:
        raise DatasetError(_("at least three cases with a target are needed"))
    if n > ANGEL_MAX_CASES:
        raise DatasetError(
            _("the angel method compares every pair of cases for each feature subset it tries, "
              "and takes at most %(max)d cases; this file has %(n)d")
            % {"max": ANGEL_MAX_CASES, "n": n}
        )  # fmt: skip
    n_features = cases.numeric.shape[1] + cases.nominal.shape[1]
    kmax = max(ks)
    cache: dict[tuple[int, ...], tuple[_Subset, np.ndarray]] = {}

    def scored(subset: tuple[int, ...]) -> tuple[_Subset, np.ndarray]:
        """The subset's neighbours, and its inner MMRE per (k, fold): len(ks) × n."""
        if subset not in cache:
            s = _Subset(cases, subset, kmax)
            cache[subset] = (s, np.stack([s.fold_mmre(k) for k in ks]))
        return cache[subset]

    best_score = np.full(n, np.inf)
    best: list[tuple[int, tuple[int, ...]]] = [(ks[0], ())] * n
    if n_features <= ANGEL_EXHAUSTIVE:
        for size in range(1, n_features + 1):
            for subset in itertools.combinations(range(n_features), size):
                errors = scored(subset)[1]
                for row, k in enumerate(ks):
                    better = errors[row] < best_score
                    best_score[better] = errors[row][better]
                    for fold in np.flatnonzero(better).tolist():
                        best[fold] = (k, subset)
    else:
        for i in range(n):
            current: tuple[int, ...] = ()
            while len(current) < n_features:
                step = None
                for f in range(n_features):
                    if f in current:
                        continue
                    subset = tuple(sorted(current + (f,)))
                    errors = scored(subset)[1][:, i]
                    row = int(np.argmin(errors))
                    if errors[row] < best_score[i] and (step is None or errors[row] < step[0]):
                        step = (float(errors[row]), subset, ks[row])
                if step is None:
                    break
                best_score[i], current, k = step
                best[i] = (k, current)
    out = np.empty(n)
    for i, (k, subset) in enumerate(best):
        out[i] = scored(subset)[0].predictions(k)[i]
        if chosen is not None:
            chosen.append((k, subset))
    return out


def regression_predictions(cases: Cases) -> np.ndarray:
    """Leave-one-out estimates of the log-linear ridge regression alone (module docstring)."""
    n = _loo_check(cases, 1, "geometric")
    x = cases.numeric
    log_y = np.log(cases.target)
    out = np.empty(n)
    others = np.ones(n, dtype=bool)
    for i in range(n):
        others[i] = False
        model = fit_ridge(x[others], log_y[others])
        others[i] = True
        out[i] = np.exp(model.intercept + np.nan_to_num(x[i] - model.centre, nan=0.0) @ model.beta)
    return out


def names(text: str) -> list[str]:
    """A comma-separated list of column names or tokens, blanks dropped."""
    return [n.strip() for n in text.split(",") if n.strip()]


def inapplicable(method: str, **options) -> str | None:
    """The first of ``options`` (``k``, ``aggregate``) given a value although ``method``
    takes none, or None."""
    for name, value in options.items():
        if value is not None and method not in APPLIES[name]:
            return name
    return None


def backtest(
    dataset: Dataset,
    target: str,
    exclude: Iterable[str] = (),
    method: str = DEFAULT_METHOD,
    k: int | None = None,
    aggregate: str | None = None,
) -> analogy.Backtest:
    """Leave-one-out backtest of ``method`` over ``dataset``.

    ``k`` and ``aggregate`` default to the analogy's own; for ``angel`` a ``k`` fixes it
    (else it is chosen per fold among ``ANGEL_KS``) and ``aggregate`` does not apply; for
    ``regression`` neither applies. The caller rejects options that do not apply
    (``inapplicable``).
    """
    if method == "analogy":
        return analogy.backtest(
            dataset, target, exclude,
            k or analogy.DEFAULT_K, aggregate or analogy.DEFAULT_AGGREGATE,
        )  # fmt: skip
    if method not in METHODS:
        raise ValueError(_("unknown estimation method %s") % method)
    # ANGEL compares raw features; the regression takes size on a log scale as the analogy.
    cases = analogy.prepare(dataset, target, exclude, log_scale=method == "regression")
    if np.ptp(cases.target) == 0:
        raise DatasetError(_("every case has the same target value; there is nothing to estimate"))
    chosen: list = []
    if method == "angel":
        predictions = angel_predictions(cases, (k,) if k else ANGEL_KS, chosen=chosen)
    else:
        predictions = regression_predictions(cases)
    return analogy.Backtest(
        metrics=metrics.summary(cases.target, predictions),
        predictions=predictions,
        cases=cases,
        k=k if method == "angel" else None,
        aggregate=None,
        method=method,
        chosen=tuple(Counter(chosen).most_common()),
    )


def report(dataset: Dataset, result: analogy.Backtest, target: str, exclude: Iterable[str]) -> dict:
    """What a backtest prints (CLI) or answers (API): the run's settings, the cases used and
    the metrics."""
    cases = result.cases
    missing_cells = int(np.isnan(cases.numeric).sum() + (cases.nominal < 0).sum())
    names = cases.numeric_names + cases.nominal_names
    chosen = {}
    if result.method == "angel":  # the subsets and k chosen in the folds, most often first
        chosen = {"chosen": [
            {"k": k, "features": [names[f] for f in subset], "folds": folds}
            for (k, subset), folds in result.chosen
        ]}  # fmt: skip
    return {
        "file": dataset.name,
        "format": dataset.format,
        "method": result.method,
        "target": target,
        "excluded": list(dict.fromkeys(exclude)),
        "k": result.k,
        "aggregate": result.aggregate,
        "n": cases.n,
        "rows": dataset.rows,
        "dropped_missing_target": cases.dropped,
        "features": {
            "numeric": list(cases.numeric_names),
            "nominal": list(cases.nominal_names),
            "logged": list(cases.logged),
        },
        "missing_feature_values": missing_cells,
        "notes": list(dataset.notes),
        **chosen,
        **{name: round(value, 6) for name, value in result.metrics.items()},
    }
