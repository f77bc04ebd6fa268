"""Leave-one-out backtest of the analogy method on every public effort dataset.

Prints, per dataset, MMRE, MdMRE, PRED(25) and SA of the default configuration (log-scaled
size features, ridge size adjustment, geometric mean of k = 4), and the variants that chose
it: the same without the adjustment, the arithmetic mean and the median of the same
analogues, and an ANGEL-like baseline (Shepperd and Schofield 1997: raw min-max features,
unadjusted arithmetic mean of k = 2). Same datasets, targets and exclusions as
``changeflow estimate backtest --all`` (``impact.effort_datasets``).

Usage: ``.venv/bin/python benchmarks/backtest_all.py``
"""

from __future__ import annotations

import time

import _effort
import numpy as np

from changeflow.impact import analogy, datasets, metrics
from changeflow.impact.effort_datasets import SPECS

VARIANTS = {  # name: (log_scale, adjust, aggregate, k)
    "default (log, adjusted, geometric, k=4)": (True, True, "geometric", 4),
    "adjusted, mean of analogues": (True, True, "mean", 4),
    "adjusted, median of analogues": (True, True, "median", 4),
    "log, unadjusted, geometric": (True, False, "geometric", 4),
    "ANGEL-like (raw, unadjusted, mean, k=2)": (False, False, "mean", 2),
}


def run(spec, log_scale, adjust, aggregate, k):
    data = datasets.load(_effort.DATA / spec.file, missing=spec.missing, names=spec.names)
    cases = analogy.prepare(data, spec.target, spec.exclude, log_scale=log_scale)
    pred = analogy.loo_predictions(cases, k, aggregate, adjust=adjust)
    return metrics.summary(cases.target, pred), cases.n


def main() -> None:
    for name, config in VARIANTS.items():
        t0 = time.perf_counter()
        print(f"\n## {name}")
        print(f"{'dataset':24} {'n':>4} {'MMRE':>6} {'MdMRE':>6} {'PRED25':>6} {'SA':>6}")
        rows = []
        for spec in SPECS:
            m, n = run(spec, *config)
            rows.append(m)
            print(f"{spec.label:24} {n:4d} {m['MMRE']:6.3f} {m['MdMRE']:6.3f} "
                  f"{m['PRED25']:6.3f} {m['SA']:6.3f}")  # fmt: skip
        avg = {k: float(np.mean([r[k] for r in rows])) for k in ("MMRE", "MdMRE", "PRED25", "SA")}
        secs = time.perf_counter() - t0
        print(f"{'mean of the 13':24} {'':4} {avg['MMRE']:6.3f} {avg['MdMRE']:6.3f} "
              f"{avg['PRED25']:6.3f} {avg['SA']:6.3f}   ({secs:.1f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
