"""Historical analogy over closed change requests: the k most similar, and an estimate.

Pure NumPy; no ORM (``impact.selectors`` loads the ``Pool`` from the database and keeps it).
It is the tabular method of ``impact.analogy`` — same distance, same size adjustment, same
geometric mean of k = 4, same missing-value treatment — with the CR's text as one more
feature:

- **text**: 1 - the TF-IDF cosine of title and description (``impact.similar``), Chinese and
  English alike, min-max normalised over the history like the numeric features;
- **nominal**: type and priority (0 when equal, 1 when not, skipped when either is unset);
- **numeric**: the estimated effort (the current assessment's) and the number of
  requirements the CR touches — size measures, logged when size-like and min-max
  normalised over the history, exactly as for the public datasets.

The estimate's interval comes from the spread of the adjusted analogues: with m and s the
mean and standard deviation of their logs, ``exp(m ± 1.2816 s)`` — the 10th to 90th
percentile if the analogues were log-normal. With one analogue there is no spread to show.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.utils.translation import gettext as _

from changeflow.impact import analogy, similar

Z80 = 1.2816  # the 90th percentile of the standard normal
TARGETS = ("effort", "schedule", "cost")
SHOWN = 5  # the analogues shown to people; the estimate uses analogy.DEFAULT_K of them
EXACT_EXCLUDE_UP_TO = 2_000  # see _prepare


class EmptyHistory(ValueError):
    """No closed CR with actuals to compare with."""


@dataclass
class Pool:
    """Every CR of a scope, as arrays; ``targets`` are NaN where no actual was recorded."""

    ids: np.ndarray  # n, database ids
    text: similar.Index
    nominal: np.ndarray  # n × 2 codes (type, priority), -1 unset
    numeric: np.ndarray  # n × 2 raw (estimated effort, requirements touched), NaN unknown
    targets: np.ndarray  # n × 3 (effort hours, schedule days, cost), NaN unknown
    closed: np.ndarray  # n bool: closed, so its actuals are final
    codes: tuple[dict[str, int], dict[str, int]] = field(default=({}, {}))
    position: dict[int, int] = field(default_factory=dict)
    # What depends on the history only (usable rows, scaling, ridge fits), kept between
    # queries: the pool is rebuilt, not changed, when the history changes.
    prepared: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.ids.size)


def build(rows: list[dict], text: similar.Index | None = None) -> Pool:
    """A pool from plain rows: id, title, description, type, priority, estimated_effort,
    requirements, effort, schedule, cost, closed. ``text``, when given, is the rows' text
    index already built (from stored features); title and description are then not read."""
    types = {t: i for i, t in enumerate(sorted({r["type"] for r in rows if r["type"]}))}
    prios = {p: i for i, p in enumerate(sorted({r["priority"] for r in rows if r["priority"]}))}

    def num(v) -> float:
        return float(v) if v is not None else np.nan

    return Pool(
        ids=np.asarray([r["id"] for r in rows], dtype=np.int64),
        text=text
        if text is not None
        else similar.Index([similar.document_terms(r["title"], r["description"]) for r in rows]),
        nominal=np.asarray(
            [[types.get(r["type"], -1), prios.get(r["priority"], -1)] for r in rows],
            dtype=np.int64,
        ).reshape(len(rows), 2),
        numeric=np.asarray(
            [[num(r["estimated_effort"]), num(r["requirements"])] for r in rows], dtype=float
        ).reshape(len(rows), 2),
        targets=np.asarray(
            [[num(r["effort"]), num(r["schedule"]), num(r["cost"])] for r in rows], dtype=float
        ).reshape(len(rows), 3),
        closed=np.asarray([bool(r["closed"]) for r in rows], dtype=bool),
        codes=(types, prios),
        position={int(r["id"]): i for i, r in enumerate(rows)},
    )


@dataclass(frozen=True)
class Analogue:
    id: int
    distance: float
    similarity: float  # overall, 1 - distance / its maximum
    text_similarity: float
    used: bool  # among the k the estimate is made from
    actuals: tuple[float, float, float]


@dataclass(frozen=True)
class Result:
    analogues: list[Analogue]
    estimates: dict[str, dict | None]  # per target: value, low, high, n
    history: int  # closed CRs with an actual effort in the pool


def _prepare(pool: Pool, exclude_id: int | None) -> tuple[dict, int | None]:
    """Usable rows, feature scaling and ridge fits of the pool, and the position among them
    of the excluded CR when it must only be kept from being its own analogue.

    A closed CR's own actuals never make its estimate. In a history of up to
    ``EXACT_EXCLUDE_UP_TO`` usable CRs the scaling and the ridge are prepared again without
    it; in a larger one the pool's cached preparation is used and the CR only skipped as an
    analogue (one case in thousands moves a min-max range or a ridge fit by a negligible
    amount, and preparing again would cost every closed CR's page tens of milliseconds).
    """
    usable = pool.closed & np.isfinite(pool.targets[:, 0]) & (pool.targets[:, 0] > 0)
    at = pool.position.get(exclude_id) if exclude_id is not None else None  # its row
    if at is not None and usable[at] and usable.sum() > EXACT_EXCLUDE_UP_TO:
        prep = _prepare(pool, None)[0]
        return prep, int(np.searchsorted(prep["idx"], at))
    key: tuple[str] | tuple[str, int | None]
    if at is not None and usable[at]:
        usable = usable.copy()
        usable[at] = False
        key = ("without", exclude_id)
    else:
        key = ("all",)
    if key in pool.prepared:
        return pool.prepared[key], None
    if not usable.any():
        raise EmptyHistory(
            _("there is no closed change request with actual effort to compare with")
        )
    idx = np.flatnonzero(usable)
    raw = pool.numeric[idx].copy()
    logged = np.asarray([analogy.size_like(raw[:, j]) for j in range(raw.shape[1])], dtype=bool)
    raw[:, logged] = np.log1p(raw[:, logged])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column
        lo, hi = np.nanmin(raw, axis=0), np.nanmax(raw, axis=0)
    lo, hi = np.nan_to_num(lo), np.nan_to_num(hi)
    train_num = analogy.normalise(raw)
    targets: list[tuple[Any, ...]] = []  # per target: have, ridge, y, rows (None: no data)
    for t in range(len(TARGETS)):
        y = pool.targets[idx, t]
        have = np.isfinite(y) & (y > 0)
        if not have.any():
            targets.append((have, None, None, None))
            continue
        model = analogy.fit_ridge(train_num[have], np.log(y[have]))
        targets.append(
            (have, model, np.where(have, y, 1.0), np.where(have[:, None], train_num, np.nan))
        )
    prep = {"idx": idx, "train_num": train_num, "logged": logged, "lo": lo, "hi": hi,
            "targets": targets}  # fmt: skip
    if key == ("all",):
        pool.prepared[key] = prep
    return prep, None


def _nearest(d: np.ndarray, m: int) -> np.ndarray:
    """Indices of the ``m`` smallest distances, nearest first, ties to the lower index."""
    part = np.argpartition(d, m - 1)[:m] if d.size > m else np.arange(d.size)
    return part[np.lexsort((part, d[part]))]


def _interval(adjusted: np.ndarray, value: float) -> tuple[float, float]:
    logs = np.log(adjusted)
    if logs.size < 2:
        return value, value
    s = float(logs.std(ddof=1))
    m = float(logs.mean())
    return float(np.exp(m - Z80 * s)), float(np.exp(m + Z80 * s))


def estimate(
    pool: Pool,
    *,
    title: str,
    description: str = "",
    type: str = "",
    priority: str = "",
    estimated_effort: float | None = None,
    requirements: int | None = None,
    exclude_id: int | None = None,
    k: int = analogy.DEFAULT_K,
    shown: int = SHOWN,
) -> Result:
    """The analogues of one CR and its estimate for each target (see the module docstring)."""
    prep, skip = _prepare(pool, exclude_id)
    idx, train_num = prep["idx"], prep["train_num"]
    cos = pool.text.scores(similar.document_terms(title, description))[idx]
    # The query is scaled as the history was (log where the column is size-like, then the
    # history's min-max range; a query beyond the range lies beyond 0–1, farther away).
    raw_query = np.asarray([
        np.nan if estimated_effort is None else float(estimated_effort),
        np.nan if requirements is None else float(requirements),
    ])  # fmt: skip
    scaled = np.where(prep["logged"], np.log1p(np.abs(raw_query)), raw_query)
    span = prep["hi"] - prep["lo"]
    scaled = (scaled - prep["lo"]) / np.where(span > 0, span, 1.0)
    query_num = np.where(np.isnan(raw_query), np.nan, np.where(span > 0, scaled, 0.0))
    types, prios = pool.codes
    # A type never seen in the history gets a code of its own (it differs from every one);
    # an unset one (-1) is skipped, as a missing value.
    query_nom = np.asarray([
        types.get(type, len(types)) if type else -1,
        prios.get(priority, len(prios)) if priority else -1,
    ])  # fmt: skip
    train_nom = pool.nominal[idx]
    # The text gap is min-max normalised over the history like every numeric feature: the
    # closest text counts 0 and the farthest 1 (raw cosines between different changes
    # crowd into 0–0.3, which would make the text the weakest feature instead of an equal).
    gap = 1 - np.clip(cos, 0, 1)
    if skip is not None:
        gap[skip] = np.nan  # its own text (a cosine of 1) must not set the range
    lo_gap = float(np.nanmin(gap)) if np.isfinite(gap).any() else 0.0
    span = float(np.nanmax(gap) - lo_gap) if np.isfinite(gap).any() else 0.0
    text_gap = np.nan_to_num((gap - lo_gap) / span if span > 0 else np.zeros_like(gap))[None, :]
    d = analogy.pair_distances(
        query_num[None, :], query_nom[None, :], train_num, train_nom, extra=text_gap
    )[0]
    if skip is not None:
        d[skip] = np.inf  # never its own analogue
    order = _nearest(d, max(shown, k))
    order = order[np.isfinite(d[order])]
    max_d = np.sqrt(train_num.shape[1] + train_nom.shape[1] + 1)
    estimates: dict[str, dict | None] = {}
    used_ids: set[int] = set()
    for t, name in enumerate(TARGETS):
        have, model, y_safe, train_have = prep["targets"][t]
        if model is None:
            estimates[name] = None
            continue
        row = np.where(have, d, np.inf)
        est = analogy.estimate_one(row, query_num, train_have, y_safe, k=k, model=model)
        low, high = _interval(est.adjusted, est.value)
        estimates[name] = {
            "value": est.value,
            "low": low,
            "high": high,
            "n": int(est.neighbours.size),
        }
        if t == 0:
            used_ids = {int(i) for i in est.neighbours}
    analogues = [
        Analogue(
            id=int(pool.ids[idx[i]]),
            distance=float(d[i]),
            similarity=float(max(0.0, 1 - d[i] / max_d)),
            text_similarity=float(np.clip(cos[i], 0, 1)),
            used=int(i) in used_ids,
            actuals=tuple(float(v) for v in pool.targets[idx[i]]),  # type: ignore[arg-type]
        )
        for i in order[:shown]
    ]
    history = int(idx.size) - (skip is not None)
    return Result(analogues=analogues, estimates=estimates, history=history)
