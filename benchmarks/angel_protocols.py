"""changeflow's analogy estimator against ANGEL (Shepperd and Schofield 1997), each under the
same three evaluation protocols, on every Albrecht, Desharnais and Kemerer file of
``../shared/data/effort``.

ANGEL, as published: raw features min-max normalised, Euclidean distance, the unadjusted
arithmetic mean of the k nearest analogues (k = 1, 2 or 3), and the *feature subset chosen by
an exhaustive search* scored by the jack-knifed (leave-one-out) MMRE. changeflow: the one
default configuration of ``impact.analogy`` (log-scaled size features, ridge size
adjustment refitted without the held-out case, geometric mean of k = 4); nothing about it
changes here except, where a protocol says so, which features its distance uses (the
ridge adjustment always sees every numeric feature).

Protocols (the same for both estimators):

- ``published``: the subset is chosen by the leave-one-out MMRE over *all* the cases and
  that same MMRE is reported. This is how ANGEL's published figures (about 62-64 % MMRE on
  Albrecht, Desharnais and Kemerer) were obtained; it is optimistic, because every held-out
  case helped choose the subset that estimates it.
- ``all features``: no subset search; plain leave-one-out.
- ``nested``: the exhaustive search runs inside every outer fold, on the other cases alone
  (inner leave-one-out MMRE; for changeflow the ridge is refitted without the outer and the
  inner held-out case), and the held-out case is estimated with the fold's subset. The
  held-out case never helps choose anything: an honest out-of-sample figure. For ANGEL this
  is ``changeflow estimate backtest --method angel`` (``impact.methods``), with k fixed or,
  in the last row, chosen in the fold too.

Ties between subsets go to the smaller, then to the earlier one; ties in distance to the
earlier case, as in ``impact.analogy``. MMRE is the criterion because it is ANGEL's; SA is
printed beside it.

Usage: ``.venv/bin/python benchmarks/angel_protocols.py``
"""

from __future__ import annotations

import itertools
import time

import _effort
import numpy as np

from changeflow.impact import analogy, datasets, methods, metrics
from changeflow.impact.effort_datasets import SPECS

FAMILIES = ("Albrecht", "Desharnais", "Kemerer")
BOOTSTRAP = 10_000


class Estimator:
    """One analogy estimator over one dataset: its cases, per-feature distance terms and the
    value each analogue contributes towards each case."""

    def __init__(self, cases: analogy.Cases, k: int, adjusted: bool):
        self.cases, self.k, self.adjusted = cases, k, adjusted
        self.terms = analogy.feature_terms(cases)
        self.log_y = np.log(cases.target)
        n = cases.n
        self.n_features = self.terms.squared.shape[0]
        # value[i, j]: what analogue j says about case i, with nothing of case i's target in
        # it (changeflow: log effort adjusted by the ridge fitted without i; ANGEL: effort).
        if adjusted:
            self.value = np.empty((n, n))
            for i in range(n):
                self.value[i] = self._adjusted_row(i, np.delete(np.arange(n), i))
        else:
            self.value = np.broadcast_to(cases.target[None, :], (n, n))

    def _adjusted_row(self, i: int, train: np.ndarray) -> np.ndarray:
        """Each case's log effort adjusted towards case ``i`` by the ridge fitted on ``train``
        (as ``analogy.estimate_one``: a feature missing on either side adjusts nothing)."""
        x = self.cases.numeric
        model = analogy.fit_ridge(x[train], self.log_y[train])
        return self.log_y + np.nan_to_num(x[i][None, :] - x, nan=0.0) @ model.beta

    def distance(self, subset: tuple[int, ...]) -> np.ndarray:
        sq = self.terms.squared[list(subset)].sum(axis=0)
        cnt = self.terms.present[list(subset)].sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(cnt > 0, sq / np.maximum(cnt, 1), np.inf)  # same order as analogy

    def predict(self, d: np.ndarray, value: np.ndarray, rows: np.ndarray, blocked: np.ndarray,
                fallback: float) -> np.ndarray:  # fmt: skip
        """Estimates of ``rows`` from their k nearest cases not ``blocked`` (rows × n)."""
        dd = np.where(blocked, np.inf, d[rows])
        order = np.argsort(dd, axis=1, kind="stable")[:, : self.k]
        r = np.arange(rows.size)[:, None]
        ok = np.isfinite(dd[r, order])
        v = np.where(ok, value[rows][r, order], 0.0)
        used = ok.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = v.sum(axis=1) / np.maximum(used, 1)
        est = np.exp(mean) if self.adjusted else mean
        return np.where(used > 0, est, fallback)

    def fallback(self, train: np.ndarray) -> float:
        return float(
            np.exp(self.log_y[train].mean()) if self.adjusted else self.cases.target[train].mean()
        )

    def subsets(self):
        f = range(self.n_features)
        return [s for r in range(1, self.n_features + 1) for s in itertools.combinations(f, r)]

    def loo(self, subset: tuple[int, ...]) -> np.ndarray:
        n = self.cases.n
        rows = np.arange(n)
        return self.predict(self.distance(subset), self.value, rows, np.eye(n, dtype=bool),
                            self.fallback(rows))  # fmt: skip

    def published(self) -> tuple[np.ndarray, tuple[int, ...]]:
        y = self.cases.target
        best = min(self.subsets(), key=lambda s: (metrics.mmre(y, self.loo(s)), len(s)))
        return self.loo(best), best

    def nested(self) -> np.ndarray:
        """Leave-one-out with the subset chosen inside every fold (changeflow's estimator;
        ANGEL's is ``methods.angel_predictions``, which this file checks against)."""
        n, y = self.cases.n, self.cases.target
        out = np.empty(n)
        subsets = self.subsets()
        dists = {s: self.distance(s) for s in subsets}
        for i in range(n):
            train = np.delete(np.arange(n), i)
            blocked = np.eye(n, dtype=bool)[train]
            blocked[:, i] = True  # the held-out case is never an analogue
            inner = np.empty((n, n))  # inner case j adjusted by a ridge without i and j
            for p, j in enumerate(train):
                inner[j] = self._adjusted_row(j, np.delete(train, p))
            fb = self.fallback(train)
            best = min(subsets, key=lambda s: (
                metrics.mmre(y[train], self.predict(dists[s], inner, train, blocked, fb)), len(s)
            ))  # fmt: skip
            own = np.zeros((1, n), dtype=bool)
            own[0, i] = True
            out[i] = self.predict(dists[best], self.value, np.array([i]), own, fb)[0]
        return out


def mmre_gap(y: np.ndarray, theirs: np.ndarray, ours: np.ndarray) -> tuple[float, float, float]:
    """MMRE(theirs) - MMRE(ours) and its 95 % paired bootstrap interval (cases resampled with
    replacement, 10,000 times, seeded): above zero means ours is better."""
    gap = np.abs(theirs - y) / y - np.abs(ours - y) / y
    rng = np.random.default_rng(1997)
    boot = gap[rng.integers(0, y.size, size=(BOOTSTRAP, y.size))].mean(axis=1)
    low, high = np.quantile(boot, [0.025, 0.975])
    return float(gap.mean()), float(low), float(high)


def load(spec, log_scale: bool) -> analogy.Cases:
    data = datasets.load(_effort.DATA / spec.file, missing=spec.missing, names=spec.names)
    return analogy.prepare(data, spec.target, spec.exclude, log_scale=log_scale)


def main() -> None:
    specs = [s for s in SPECS if s.label.split(" (")[0] in FAMILIES]
    for spec in specs:
        t0 = time.perf_counter()
        print(f"\n## {spec.label}")
        print(f"{'estimator':22} {'published':>14} {'all features':>14} {'nested':>14}"
              "   (MMRE / SA)")  # fmt: skip
        ours = Estimator(load(spec, log_scale=True), analogy.DEFAULT_K, adjusted=True)
        y = ours.cases.target
        default = ours.loo(tuple(range(ours.n_features)))
        rows = {"changeflow (k=4)": (ours.published()[0], default, ours.nested())}
        raw = load(spec, log_scale=False)
        for k in methods.ANGEL_KS:
            angel = Estimator(raw, k, adjusted=False)
            rows[f"ANGEL k={k}"] = (
                angel.published()[0],
                angel.loo(tuple(range(angel.n_features))),
                methods.angel_predictions(raw, (k,)),
            )
        best_published = min((rows[f"ANGEL k={k}"][0] for k in methods.ANGEL_KS),
                             key=lambda p: metrics.mmre(y, p))  # fmt: skip
        chosen_k = methods.angel_predictions(raw)
        rows["ANGEL, k chosen too"] = (best_published, None, chosen_k)
        for name, preds in rows.items():
            cells = []
            for pred in preds:
                m = metrics.summary(y, pred) if pred is not None else None
                cells.append(f"{m['MMRE']:.3f} / {m['SA']:.3f}" if m else "")
            print(f"{name:22} " + " ".join(f"{c:>14}" for c in cells), flush=True)
        against = {
            "ANGEL as published (in-sample subset, best k)": best_published,
            "ANGEL nested (subset and k chosen per fold)": chosen_k,
        }
        for label, theirs in against.items():
            gap, low, high = mmre_gap(y, theirs, default)
            print(
                f"  changeflow default vs {label}: MMRE {100 * gap:+.1f} points "
                f"(95 % CI {100 * low:+.1f} to {100 * high:+.1f}; positive: changeflow better)"
            )
        print(f"  ({time.perf_counter() - t0:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
