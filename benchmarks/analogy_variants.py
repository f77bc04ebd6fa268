"""Single changes to the analogy default, tried on every public effort dataset (a search for
a default that beats ANGEL clearly on Albrecht without tuning to it).

Each variant changes one step of ``impact.analogy``'s method and keeps the rest: log-scaled
size features, min-max normalised, the ridge size adjustment refitted without the held-out
case, k = 4. A variant would become the default only if it improved MMRE on all five of
Desharnais, Albrecht, Kemerer, Maxwell and China (figures in ``benchmarks/README.md``). The
"default" row reproduces ``backtest_all.py`` exactly.

Usage: ``.venv/bin/python benchmarks/analogy_variants.py [VARIANT ...]``
"""

from __future__ import annotations

import sys

import _effort
import numpy as np

from changeflow.impact import analogy, metrics
from changeflow.impact.effort_datasets import SPECS

VARIANTS = {
    "default": "geometric mean of the k = 4 adjusted analogues",
    "k5": "k = 5",
    "irwm": "inverse-rank weighted (4, 3, 2, 1)",
    "idw": "inverse-distance weighted",
    "blend": "half analogy, half the ridge's own prediction (in logs)",
    "corr": "numeric features weighted by their |correlation| with log effort",
}


def _corr_weights(x: np.ndarray, log_y: np.ndarray) -> np.ndarray:
    w = np.zeros(x.shape[1])
    for j in range(x.shape[1]):
        v = x[:, j]
        ok = ~np.isnan(v)
        if ok.sum() > 2 and np.std(v[ok]) > 0:
            w[j] = abs(np.corrcoef(v[ok], log_y[ok])[0, 1])
    return np.sqrt(w * x.shape[1] / max(w.sum(), 1e-9))  # mean square 1


def loo(cases: analogy.Cases, variant: str, k: int = analogy.DEFAULT_K) -> np.ndarray:
    n, x = cases.n, cases.numeric
    log_y = np.log(cases.target)
    out = np.empty(n)
    others = np.ones(n, dtype=bool)
    base = analogy.distances(cases)
    np.fill_diagonal(base, np.inf)
    for i in range(n):
        others[i] = False
        train = np.flatnonzero(others)
        model = analogy.fit_ridge(x[train], log_y[train])
        if variant == "corr":
            w = _corr_weights(x[train], log_y[train])
            d = analogy.pair_distances((x[i] * w)[None], cases.nominal[i][None], x * w,
                                       cases.nominal)[0]  # fmt: skip
            d[i] = np.inf
        else:
            d = base[i]
        others[i] = True
        finite = np.flatnonzero(np.isfinite(d))
        order = finite[np.argsort(d[finite], kind="stable")[: 5 if variant == "k5" else k]]
        diff = np.nan_to_num(x[i][None, :] - x[order], nan=0.0)
        values = log_y[order] + (diff @ model.beta if x.shape[1] else 0.0)
        if variant == "irwm":
            w = np.arange(values.size, 0, -1, dtype=float)
            est = (w * values).sum() / w.sum()
        elif variant == "idw":
            w = 1 / (d[order] + 1e-6)
            est = (w * values).sum() / w.sum()
        elif variant == "blend":
            own = model.intercept + np.nan_to_num(x[i] - model.centre, nan=0.0) @ model.beta
            est = (values.mean() + own) / 2
        else:
            est = values.mean()
        out[i] = np.exp(est)
    return out


def main() -> None:
    chosen = sys.argv[1:] or list(VARIANTS)
    for v in chosen:
        if v not in VARIANTS:
            sys.exit(f"unknown variant {v}; one of: {', '.join(VARIANTS)}")
    print(f"{'dataset':24} " + "  ".join(f"{v:>13}" for v in chosen) + "   (MMRE/SA)")
    rows: dict[str, list[dict]] = {v: [] for v in chosen}
    for spec in SPECS:
        cases = _effort.cases(spec)
        cells = []
        for v in chosen:
            m = metrics.summary(cases.target, loo(cases, v))
            rows[v].append(m)
            cells.append(f"{m['MMRE']:.3f}/{m['SA']:.3f}")
        print(f"{spec.label:24} " + "  ".join(f"{c:>13}" for c in cells), flush=True)
    for v in chosen:
        mean = {key: float(np.mean([m[key] for m in rows[v]])) for key in ("MMRE", "MdMRE", "SA")}
        print(f"{v:8} {VARIANTS[v]:58} mean MMRE {mean['MMRE']:.3f}  MdMRE "
              f"{mean['MdMRE']:.3f}  SA {mean['SA']:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
