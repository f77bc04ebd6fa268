"""Analogy-based estimation (k nearest neighbours) on tabular data, and its LOO backtest.

Pure NumPy; no ORM. One method, one default configuration, for every dataset and for change
requests (``impact.history`` feeds CRs through the same ``estimate_one``):

- **Features**: every column but the target and the excluded ones. A numeric column that is
  never negative and has more than ``LOG_DISTINCT`` distinct values is a size-like measure
  and is taken as ``log(1 + x)`` (effort grows with size multiplicatively, so 10 vs 20
  function points differ as much as 100 vs 200). Numeric columns are then min-max normalised
  to [0, 1] over the cases in use; nominal columns (ARFF ``{...}``, CSV text) compare by
  overlap: 0 when equal, 1 when not. The target is never seen by the normalisation, so
  leave-one-out leaks nothing about the held-out case's effort.
- **Distance**: Euclidean over the features both cases have. Missing values are not imputed:
  a pair's squared distance is the sum over the features present in both, scaled by
  (all features / features compared) (the "available-case" treatment). A pair with no
  feature in common is infinitely far.
- **Adjustment**: each analogue's log effort is adjusted for how it differs from the case
  estimated, ``log y_j + (x - x_j) · beta``, where ``beta`` is a ridge regression of log
  effort on the numeric features fitted on the *training* cases only (its penalty chosen by
  generalised cross-validation among ``RIDGE_LAMBDAS``, so nothing is set per dataset; a
  feature missing on either side adjusts nothing). This is analogy with linear size
  adjustment (Walkerden and Jeffery 1999; Li et al.'s AQUA), in log space.
- **Estimate**: the *geometric* mean of the k = 4 adjusted analogues. Effort is right-skewed
  (roughly log-normal): one large analogue dominates an arithmetic mean and over-estimates.
- **Chosen by measurement** over all 13 public files (``changeflow estimate backtest --all``,
  figures in ``benchmarks/README.md``), never per dataset: plain geometric k = 3 averaged
  MMRE 0.90 / SA 0.51; log features plus the adjustment 0.64 / 0.61 at k = 3 and
  0.62 / 0.62 at k = 4; the arithmetic mean and the median of the same analogues did worse
  (at k = 3: 0.66 / 0.59 for the median). Ties in distance go to the earlier row, so
  results are deterministic. When fewer than k cases are at a finite distance the finite
  ones are used; when none is, the geometric mean of all training cases.
- **Cases**: rows whose target is missing are dropped (they cannot be scored); targets must
  be positive (MRE divides by them).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from django.utils.translation import gettext as _

from changeflow.impact import metrics
from changeflow.impact.datasets import Dataset, DatasetError, NonNumericTarget, UnknownColumn

DEFAULT_K = 4
AGGREGATES = ("geometric", "mean", "median")
DEFAULT_AGGREGATE = "geometric"
LOG_DISTINCT = 10
RIDGE_LAMBDAS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
PARTITION_FROM = 5_000  # candidates above which the k nearest are partitioned, not sorted
# Rows of the distance matrix computed at once: bounds memory to BLOCK × n × features.
BLOCK = 256


@dataclass(frozen=True)
class Cases:
    """The prepared features and target of a dataset."""

    numeric: np.ndarray  # n × p, normalised to [0, 1], NaN where missing
    nominal: np.ndarray  # n × q integer codes, -1 where missing
    target: np.ndarray  # n, positive
    numeric_names: tuple[str, ...]
    nominal_names: tuple[str, ...]
    dropped: int  # rows without a target
    logged: tuple[str, ...] = ()  # numeric columns taken as log(1 + x)

    @property
    def n(self) -> int:
        return int(self.target.size)


def size_like(values: np.ndarray) -> bool:
    """Whether a numeric column is taken on a log scale (see the module docstring)."""
    present = values[~np.isnan(values)]
    return bool(present.size and present.min() >= 0 and np.unique(present).size > LOG_DISTINCT)


def normalise(matrix: np.ndarray) -> np.ndarray:
    """Min-max normalise each column to [0, 1] (NaN stays NaN; a constant column is 0)."""
    out = np.empty_like(matrix, dtype=float)
    for j in range(matrix.shape[1]):
        v = matrix[:, j]
        lo, hi = (np.nanmin(v), np.nanmax(v)) if not np.isnan(v).all() else (0.0, 0.0)
        out[:, j] = (v - lo) / (hi - lo) if hi > lo else np.where(np.isnan(v), np.nan, 0.0)
    return out


def prepare(
    dataset: Dataset, target: str, exclude: Iterable[str] = (), *, log_scale: bool = True
) -> Cases:
    """Select, encode and normalise the features; validate the target."""
    excluded = list(dict.fromkeys(exclude))
    for name in excluded:
        dataset.column(name)  # raises UnknownColumn
    if target in excluded:
        raise UnknownColumn(_("the target column '%s' cannot also be excluded") % target)
    y_col = dataset.column(target)
    if y_col.kind != "numeric":
        raise NonNumericTarget(_("the target column '%s' is not numeric") % target)
    keep = ~np.isnan(y_col.values)
    y = y_col.values[keep]
    if (y <= 0).any():
        raise DatasetError(
            _("the target column '%s' has values that are zero or negative") % target
        )
    features = [c for c in dataset.columns if c.name != target and c.name not in excluded]
    if not features:
        raise DatasetError(_("no feature columns are left besides the target"))
    num = [c for c in features if c.kind == "numeric"]
    nom = [c for c in features if c.kind != "numeric"]
    n = int(keep.sum())
    raw = np.empty((n, len(num)))
    logged = []
    for j, c in enumerate(num):
        v = c.values[keep]
        if log_scale and size_like(v):
            v = np.log1p(v)
            logged.append(c.name)
        raw[:, j] = v
    nominal = np.empty((n, len(nom)), dtype=np.int64)
    for j, c in enumerate(nom):
        labels = c.values[keep]
        codes = {v: i for i, v in enumerate(sorted({v for v in labels if v is not None}))}
        nominal[:, j] = [-1 if v is None else codes[v] for v in labels]
    return Cases(
        numeric=normalise(raw),
        nominal=nominal,
        target=y,
        numeric_names=tuple(c.name for c in num),
        nominal_names=tuple(c.name for c in nom),
        dropped=int((~keep).sum()),
        logged=tuple(logged),
    )


def pair_distances(
    a_num: np.ndarray,
    a_nom: np.ndarray,
    b_num: np.ndarray,
    b_nom: np.ndarray,
    extra: np.ndarray | None = None,
) -> np.ndarray:
    """Distances from each row of ``a`` to each row of ``b`` (see the module docstring).

    ``extra`` (len(a) × len(b), values in [0, 1], never missing) is one more feature's
    difference, such as 1 - text similarity for change requests.
    """
    total = b_num.shape[1] + b_nom.shape[1] + (1 if extra is not None else 0)
    present = ~np.isnan(a_num)[:, None, :] & ~np.isnan(b_num)[None, :, :]
    diff = np.where(present, a_num[:, None, :] - b_num[None, :, :], 0.0)
    squared = (diff * diff).sum(axis=2)
    compared = present.sum(axis=2)
    if b_nom.shape[1]:
        both = (a_nom[:, None, :] >= 0) & (b_nom[None, :, :] >= 0)
        squared = squared + (both & (a_nom[:, None, :] != b_nom[None, :, :])).sum(axis=2)
        compared = compared + both.sum(axis=2)
    if extra is not None:
        squared = squared + extra * extra
        compared = compared + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.where(compared > 0, squared * total / np.maximum(compared, 1), np.inf)
    return np.sqrt(scaled)


def distances(cases: Cases, rows: slice | np.ndarray | None = None) -> np.ndarray:
    """Distances from ``rows`` (default: every case) to every case."""
    a_num = cases.numeric if rows is None else cases.numeric[rows]
    a_nom = cases.nominal if rows is None else cases.nominal[rows]
    return pair_distances(a_num, a_nom, cases.numeric, cases.nominal)


@dataclass(frozen=True)
class Ridge:
    """log y ≈ intercept + (x - centre) · beta, fitted on training cases."""

    centre: np.ndarray
    intercept: float
    beta: np.ndarray
    penalty: float


def fit_ridge(numeric: np.ndarray, log_y: np.ndarray) -> Ridge:
    """Ridge regression of ``log_y`` on ``numeric`` (NaN → the column mean), penalty by GCV.

    Generalised cross-validation (Golub, Heath and Wahba 1979) picks the penalty from the
    training cases alone, through one SVD: no held-out data, no per-dataset setting.
    """
    p = numeric.shape[1]
    intercept = float(log_y.mean()) if log_y.size else 0.0
    if p == 0 or log_y.size < 3:
        return Ridge(np.zeros(p), intercept, np.zeros(p), 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column
        centre = np.nan_to_num(np.nanmean(numeric, axis=0))
    a = np.where(np.isnan(numeric), 0.0, numeric - centre)
    y = log_y - intercept
    u, sv, vt = np.linalg.svd(a, full_matrices=False)
    uy = u.T @ y
    n = y.size
    best: tuple[float, float, np.ndarray] | None = None
    for lam in RIDGE_LAMBDAS:
        shrink = sv * sv / (sv * sv + lam)
        residual = y - u @ (shrink * uy)
        dof = float(shrink.sum())
        if dof >= n:
            continue
        gcv = float(residual @ residual) / n / (1 - dof / n) ** 2
        if best is None or gcv < best[0]:
            best = (gcv, lam, vt.T @ (sv / (sv * sv + lam) * uy))
    if best is None:
        return Ridge(centre, intercept, np.zeros(p), 0.0)
    return Ridge(centre, intercept, best[2], best[1])


def combine(values: np.ndarray, how: str = DEFAULT_AGGREGATE) -> float:
    """One estimate from the analogues' (adjusted) log targets: see the module docstring."""
    if how not in AGGREGATES:
        raise ValueError(_("unknown aggregation %s") % how)
    if how == "geometric":
        return float(np.exp(values.mean()))
    if how == "mean":
        return float(np.exp(values).mean())
    return float(np.median(np.exp(values)))


@dataclass(frozen=True)
class Estimate:
    value: float
    neighbours: np.ndarray  # indices into the training cases, nearest first
    distances: np.ndarray
    adjusted: np.ndarray  # each analogue's adjusted target, same order


def estimate_one(
    distance_row: np.ndarray,
    query_numeric: np.ndarray,
    train_numeric: np.ndarray,
    train_target: np.ndarray,
    *,
    k: int = DEFAULT_K,
    aggregate: str = DEFAULT_AGGREGATE,
    adjust: bool = True,
    model: Ridge | None = None,
    fallback: float | None = None,
) -> Estimate:
    """The estimate for one case from its distances to the training cases.

    ``distance_row`` has one distance per training case (``np.inf``: not comparable, or
    the case itself in a leave-one-out). ``model`` is the ridge fitted on the training cases
    (fitted here when not given and ``adjust`` is on). ``fallback``, when no training case is
    comparable, defaults to the geometric mean of every training target.
    """
    log_y = np.log(train_target)
    finite = np.flatnonzero(np.isfinite(distance_row))
    if finite.size == 0:
        value = float(np.exp(log_y.mean())) if fallback is None else fallback
        return Estimate(value, finite, finite.astype(float), finite.astype(float))
    if finite.size > PARTITION_FROM:
        # Large histories: partition first (ties at the k-th place may go either way).
        near = finite[np.argpartition(distance_row[finite], min(k, finite.size) - 1)[:k]]
        order = near[np.lexsort((near, distance_row[near]))]
    else:
        order = finite[np.argsort(distance_row[finite], kind="stable")[:k]]
    values = log_y[order]
    if adjust and train_numeric.shape[1]:
        if model is None:
            model = fit_ridge(train_numeric, log_y)
        diff = np.nan_to_num(query_numeric[None, :] - train_numeric[order], nan=0.0)
        values = values + diff @ model.beta
    return Estimate(combine(values, aggregate), order, distance_row[order], np.exp(values))


def _loo_check(cases: Cases, k: int, aggregate: str) -> int:
    """The number of cases, once ``k`` and ``aggregate`` suit a leave-one-out over them."""
    if k < 1:
        raise ValueError(_("k must be at least 1"))
    if aggregate not in AGGREGATES:
        raise ValueError(_("unknown aggregation %s") % aggregate)
    n = cases.n
    if n < 2:
        raise DatasetError(_("at least two cases with a target are needed"))
    if k > n - 1:
        raise DatasetError(
            _("k is %(k)d but only %(others)d other cases are available")
            % {"k": k, "others": n - 1}
        )
    return n


def _held_out(
    cases: Cases,
    case: int,
    row: np.ndarray,
    log_y: np.ndarray,
    model: Ridge | None,
    k: int,
    aggregate: str,
    adjust: bool,
) -> float:
    """The leave-one-out estimate of ``case`` from its distances ``row`` to every case (its own
    set to infinity); with none comparable, the geometric mean of the other cases."""
    n = cases.n
    return estimate_one(
        row, cases.numeric[case], cases.numeric, cases.target,
        k=k, aggregate=aggregate, adjust=adjust, model=model,
        fallback=float(np.exp((log_y.sum() - log_y[case]) / (n - 1))),
    ).value  # fmt: skip


def loo_predictions(
    cases: Cases,
    k: int = DEFAULT_K,
    aggregate: str = DEFAULT_AGGREGATE,
    *,
    adjust: bool = True,
) -> np.ndarray:
    """Leave-one-out estimates: each case predicted from the k nearest *other* cases.

    With ``adjust`` the ridge is refitted without the held-out case each time, so its effort
    never reaches its own estimate.
    """
    n = _loo_check(cases, k, aggregate)
    log_y = np.log(cases.target)  # targets are positive (prepare() checks)
    out = np.empty(n)
    others = np.ones(n, dtype=bool)
    for start in range(0, n, BLOCK):
        idx = np.arange(start, min(start + BLOCK, n))
        d = distances(cases, idx)
        d[np.arange(idx.size), idx] = np.inf  # never one's own analogue
        for pos, case in enumerate(idx.tolist()):
            others[case] = False
            model = fit_ridge(cases.numeric[others], log_y[others]) if adjust else None
            others[case] = True
            out[case] = _held_out(cases, case, d[pos], log_y, model, k, aggregate, adjust)
    return out


@dataclass(frozen=True)
class Backtest:
    metrics: dict[str, float]
    predictions: np.ndarray
    cases: Cases
    k: int | None  # None: chosen per fold (angel) or not applicable (regression)
    aggregate: str | None = DEFAULT_AGGREGATE
    method: str = "analogy"
    # What a method chose inside the folds, most often first: ((choice, folds), ...).
    chosen: tuple = ()


def backtest(
    dataset: Dataset,
    target: str,
    exclude: Iterable[str] = (),
    k: int = DEFAULT_K,
    aggregate: str = DEFAULT_AGGREGATE,
) -> Backtest:
    """Leave-one-out analogy estimation over ``dataset``; the metrics of ``metrics.summary``."""
    cases = prepare(dataset, target, exclude)
    predictions = loo_predictions(cases, k, aggregate)
    if np.ptp(cases.target) == 0:
        raise DatasetError(_("every case has the same target value; there is nothing to estimate"))
    return Backtest(
        metrics=metrics.summary(cases.target, predictions),
        predictions=predictions,
        cases=cases,
        k=k,
        aggregate=aggregate,
    )


# --- Feature-subset selection (ANGEL's own remedy), nested inside the leave-one-out --------
#
# Tried as part of the method (``loo_select_features``, ``benchmarks/
# feature_selection.py``) and *not* adopted as the default: on the five reference datasets it
# made Albrecht and Desharnais worse (figures in ``benchmarks/README.md``).

SELECT_SCORES = ("mar", "mdmre", "log")  # inner LOO: mean |residual|, median MRE, mean |log|
SELECT_DIRECTIONS = ("forward", "backward")


@dataclass(frozen=True)
class FeatureTerms:
    """Each feature's contribution to every pair's distance, computed once per dataset.

    Features are ordered numeric first, then nominal (as in ``Cases``). ``squared[f, i, j]``
    is the squared difference of feature ``f`` between cases ``i`` and ``j`` (0 where it is
    not compared) and ``present[f, i, j]`` whether both cases have it.
    """

    squared: np.ndarray  # f × n × n
    present: np.ndarray  # f × n × n, bool
    names: tuple[str, ...]


def feature_terms(cases: Cases) -> FeatureTerms:
    """The per-feature pair terms of ``pair_distances`` (n × n per feature; n ≈ 500: 24 MB)."""
    n, p, q = cases.n, cases.numeric.shape[1], cases.nominal.shape[1]
    squared = np.zeros((p + q, n, n))
    present = np.zeros((p + q, n, n), dtype=bool)
    for f in range(p):
        v = cases.numeric[:, f]
        ok = ~np.isnan(v)
        present[f] = ok[:, None] & ok[None, :]
        squared[f] = np.where(present[f], np.square(np.nan_to_num(v[:, None] - v[None, :])), 0)
    for g in range(q):
        c = cases.nominal[:, g]
        ok = c >= 0
        present[p + g] = ok[:, None] & ok[None, :]
        squared[p + g] = present[p + g] & (c[:, None] != c[None, :])
    return FeatureTerms(squared, present, cases.numeric_names + cases.nominal_names)


def adjusted_matrix(numeric: np.ndarray, log_y: np.ndarray, model: Ridge | None) -> np.ndarray:
    """``A[i, j]``: analogue ``j``'s log target adjusted towards case ``i`` (as estimate_one)."""
    if model is None or not numeric.shape[1]:
        return np.broadcast_to(log_y[None, :], (log_y.size, log_y.size))
    filled = np.nan_to_num(numeric, nan=0.0)
    # Σ_f beta_f (x_if - x_jf) over the features both have: split the sum so no n × n × p
    # temporary is built.
    both = (~np.isnan(numeric)).astype(float)
    bx = filled * model.beta
    adj = (bx @ both.T) - (both @ bx.T)
    return log_y[None, :] + adj


def _error(log_pred: np.ndarray, y: np.ndarray, score: str) -> float:
    """The inner leave-one-out error of log estimates against ``y`` (``SELECT_SCORES``)."""
    if score == "mar":
        return float(np.abs(np.exp(log_pred) - y).mean())
    if score == "mdmre":
        return float(np.median(np.abs(np.exp(log_pred) - y) / y))
    return float(np.abs(log_pred - np.log(y)).mean())  # "log"


def _inner_score(
    sq: np.ndarray,
    cnt: np.ndarray,
    blocked: np.ndarray,
    adjusted: np.ndarray,
    y: np.ndarray,
    rows: np.ndarray,
    k: int,
    fallback: float,
    score: str = "mar",
) -> float:
    """The inner leave-one-out error over ``rows`` for one subset (see ``SELECT_SCORES``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(cnt > 0, sq / np.maximum(cnt, 1), np.inf)[rows]
    d[blocked[rows]] = np.inf
    total = np.zeros(rows.size)
    used = np.zeros(rows.size)
    r = np.arange(rows.size)
    for _step in range(k):
        j = np.argmin(d, axis=1)  # the first minimum: ties go to the earlier case
        ok = np.isfinite(d[r, j])
        total += np.where(ok, adjusted[rows, j], 0.0)
        used += ok
        d[r, j] = np.inf
    with np.errstate(divide="ignore", invalid="ignore"):
        log_pred = np.where(used > 0, total / np.maximum(used, 1), fallback)
    return _error(log_pred, y[rows], score)


def select_features(
    terms: FeatureTerms,
    log_y: np.ndarray,
    adjusted: np.ndarray,
    train: np.ndarray,
    k: int = DEFAULT_K,
    score: str = "mar",
    direction: str = "forward",
) -> tuple[int, ...]:
    """Greedy selection of the features the distance uses, from the ``train`` cases alone.

    ``train`` is a boolean mask of the history's cases; a case outside it (the held-out case
    of an outer leave-one-out) is never scored and never an analogue, so neither its
    features nor its target can move the choice. ``adjusted`` is ``adjusted_matrix`` with
    the ridge fitted on the ``train`` cases. A subset is scored by the inner leave-one-out
    error (``score``, one of ``SELECT_SCORES``) of the k nearest adjusted analogues among
    the training cases, ties in distance to the earlier case as in ``estimate_one``.
    ``forward`` starts empty and adds the feature that lowers the error most, while one
    does; ``backward`` starts from all and drops the one whose removal lowers it most.
    Ties between features go to the lower index, so the result is deterministic. Returns
    the chosen feature indices (numeric first, then nominal), in the order chosen (forward)
    or ascending (backward).
    """
    if score not in SELECT_SCORES:
        raise ValueError(_("unknown selection score %s") % score)
    if direction not in SELECT_DIRECTIONS:
        raise ValueError(_("unknown selection direction %s") % direction)
    rows = np.flatnonzero(train)
    n_features = terms.squared.shape[0]
    if rows.size < 2:
        return tuple(range(n_features))
    y = np.exp(log_y)
    blocked = ~train[None, :] | np.eye(train.size, dtype=bool)
    fallback = float(log_y[rows].mean())

    def evaluate(subset: list[int]) -> float:
        return _inner_score(
            terms.squared[subset].sum(axis=0), terms.present[subset].sum(axis=0),
            blocked, adjusted, y, rows, k, fallback, score,
        )  # fmt: skip

    if direction == "backward":
        chosen = list(range(n_features))
        best = evaluate(chosen)
        while len(chosen) > 1:
            step = min((evaluate([g for g in chosen if g != f]), f) for f in chosen)
            if step[0] >= best:
                break
            best = step[0]
            chosen.remove(step[1])
        return tuple(chosen)
    chosen = []
    best = np.inf
    while len(chosen) < n_features:
        step = min((evaluate(chosen + [f]), f) for f in range(n_features) if f not in chosen)
        if step[0] >= best:
            break
        best = step[0]
        chosen.append(step[1])
    return tuple(chosen)


def loo_select_features(
    cases: Cases,
    k: int = DEFAULT_K,
    aggregate: str = DEFAULT_AGGREGATE,
    *,
    adjust: bool = True,
    chosen: list | None = None,
    score: str = "mar",
    direction: str = "forward",
) -> np.ndarray:
    """``loo_predictions`` with the features the distance uses chosen by ``select_features``
    inside each fold, from the other cases alone (nested); each fold's subset is appended to
    ``chosen`` when given."""
    n = _loo_check(cases, k, aggregate)
    log_y = np.log(cases.target)  # targets are positive (prepare() checks)
    out = np.empty(n)
    others = np.ones(n, dtype=bool)
    terms = feature_terms(cases)
    for i in range(n):
        others[i] = False
        model = fit_ridge(cases.numeric[others], log_y[others]) if adjust else None
        adjusted = adjusted_matrix(cases.numeric, log_y, model)
        subset = select_features(terms, log_y, adjusted, others, k, score, direction)
        others[i] = True
        if chosen is not None:
            chosen.append(subset)
        sq = terms.squared[list(subset), i].sum(axis=0)
        cnt = terms.present[list(subset), i].sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            row = np.where(cnt > 0, np.sqrt(sq * len(subset) / np.maximum(cnt, 1)), np.inf)
        row[i] = np.inf
        out[i] = _held_out(cases, i, row, log_y, model, k, aggregate, adjust)
    return out


# --- k (and the aggregate) chosen by an inner leave-one-out, nested in the outer one -------
#
# Tried (``loo_choose_k``, ``benchmarks/choose_k.py``); figures and the decision in
# ``benchmarks/README.md``.

K_CHOICES = (1, 2, 3, 4, 5)


def select_k(
    distance: np.ndarray,
    adjusted: np.ndarray,
    log_y: np.ndarray,
    train: np.ndarray,
    ks: Iterable[int] = K_CHOICES,
    aggregates: Iterable[str] = (DEFAULT_AGGREGATE,),
    score: str = "mar",
) -> tuple[int, str]:
    """The ``(k, aggregate)`` with the lowest inner leave-one-out error over ``train`` alone.

    ``distance`` is the n × n case distance matrix (its diagonal is ignored), ``adjusted``
    is ``adjusted_matrix`` with the ridge fitted on the ``train`` cases, ``train`` a boolean
    mask: a case outside it (the outer fold's held-out case) is never scored and never an
    analogue, so neither its features nor its target can move the choice. Each training case
    is estimated from its k nearest *other* training cases exactly as ``estimate_one`` does
    (ties in distance to the earlier case; fewer than k comparable: those there are; none:
    the training geometric mean; the fold's ridge is shared by the inner estimates, not
    refitted per inner case, as in ``select_features``), for every k in ``ks`` and
    aggregate in ``aggregates``, and scored by ``score`` (one of ``SELECT_SCORES``). Ties
    go to the larger k, then to the earlier aggregate in ``aggregates``, so the result is
    deterministic.
    """
    ks = sorted({int(k) for k in ks}, reverse=True)
    aggregates = tuple(aggregates)
    if not ks or ks[-1] < 1:
        raise ValueError(_("k must be at least 1"))
    if not aggregates:
        raise ValueError(_("no aggregation to choose from"))
    for how in aggregates:
        if how not in AGGREGATES:
            raise ValueError(_("unknown aggregation %s") % how)
    if score not in SELECT_SCORES:
        raise ValueError(_("unknown selection score %s") % score)
    rows = np.flatnonzero(train)
    if rows.size < 2:
        return ks[0], aggregates[0]
    d = distance[np.ix_(rows, rows)].astype(float)
    np.fill_diagonal(d, np.inf)
    kmax = min(ks[0], rows.size - 1)
    order = np.argsort(d, axis=1, kind="stable")[:, :kmax]  # stable: earlier case first
    r = np.arange(rows.size)[:, None]
    finite = np.isfinite(d[r, order])
    values = np.asarray(adjusted)[np.ix_(rows, rows)][r, order]  # n_train × kmax, log
    y = np.exp(log_y[rows])
    fallback = float(log_y[rows].mean())
    best: tuple[float, int, str] | None = None
    for k in ks:
        v, ok = values[:, :k], finite[:, :k]
        used = ok.sum(axis=1)
        for how in aggregates:
            with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)  # a row with none comparable
                if how == "geometric":
                    log_pred = np.where(ok, v, 0.0).sum(axis=1) / np.maximum(used, 1)
                elif how == "mean":
                    log_pred = np.log(np.where(ok, np.exp(v), 0.0).sum(axis=1)
                                      / np.maximum(used, 1))  # fmt: skip
                else:
                    log_pred = np.log(np.nanmedian(np.where(ok, np.exp(v), np.nan), axis=1))
            log_pred = np.where(used > 0, log_pred, fallback)
            err = _error(log_pred, y, score)
            if best is None or err < best[0]:
                best = (err, k, how)
    assert best is not None
    return best[1], best[2]


def loo_choose_k(
    cases: Cases,
    ks: tuple[int, ...] = K_CHOICES,
    aggregates: tuple[str, ...] = (DEFAULT_AGGREGATE,),
    *,
    adjust: bool = True,
    chosen: list | None = None,
    score: str = "mar",
) -> np.ndarray:
    """``loo_predictions`` with k and the aggregate chosen by ``select_k`` inside each fold,
    from the other cases alone (nested); each fold's ``(k, aggregate)`` is appended to
    ``chosen`` when given."""
    n = cases.n
    if n < 3:
        raise DatasetError(_("at least three cases with a target are needed"))
    log_y = np.log(cases.target)
    d = distances(cases)
    out = np.empty(n)
    others = np.ones(n, dtype=bool)
    for i in range(n):
        others[i] = False
        model = fit_ridge(cases.numeric[others], log_y[others]) if adjust else None
        adjusted = adjusted_matrix(cases.numeric, log_y, model)
        k, how = select_k(d, adjusted, log_y, others, ks, aggregates, score)
        others[i] = True
        if chosen is not None:
            chosen.append((k, how))
        row = d[i].copy()
        row[i] = np.inf
        out[i] = _held_out(cases, i, row, log_y, model, k, how, adjust)
    return out
