"""k (and optionally the aggregate) chosen by an inner leave-one-out, nested inside the outer
leave-one-out, on the five reference effort datasets (Desharnais, Albrecht, Kemerer, Maxwell,
China).

In each outer fold ``analogy.select_k`` picks k from ``analogy.K_CHOICES`` (1-5; ties to the
larger k) and, in the ``+agg`` variants, the geometric mean or the median (ties to the
geometric mean), from the other cases alone (inner leave-one-out of the same estimator with
the fold's ridge, fitted without the held-out case), then estimates the held-out case with
them. Variants differ by the inner score: mean absolute residual (MAR), median MRE or mean
|log error|. Prints MMRE, MdMRE, PRED(25), SA, the run time and the choices made most often.
Adoption rule (README): no worse than the default on any of the five, and Albrecht at least
5 points below ANGEL's 62 %.

Usage: ``.venv/bin/python benchmarks/choose_k.py [--only LABEL ...] [VARIANT ...]``
"""

from __future__ import annotations

import sys
import time
from collections import Counter

import _effort

from changeflow.impact import analogy, metrics

BOTH = ("geometric", "median")
VARIANTS = {  # name: None for the default, else (aggregates, inner score)
    "default": None,
    "k-mar": (("geometric",), "mar"),
    "k-mdmre": (("geometric",), "mdmre"),
    "k-log": (("geometric",), "log"),
    "k+agg-mar": (BOTH, "mar"),
    "k+agg-mdmre": (BOTH, "mdmre"),
    "k+agg-log": (BOTH, "log"),
}


def main() -> None:
    specs, chosen_variants = _effort.arguments(sys.argv[1:], VARIANTS)
    for spec in specs:
        cases = _effort.cases(spec)
        print(f"\n## {spec.label} (n = {cases.n})", flush=True)
        print(f"{'variant':12} {'MMRE':>6} {'MdMRE':>6} {'PRED25':>6} {'SA':>6} {'time':>7}  "
              "choices (folds)")  # fmt: skip
        for v in chosen_variants:
            picks: list = []
            t0 = time.perf_counter()
            if VARIANTS[v] is None:
                pred = analogy.loo_predictions(cases)
            else:
                aggs, score = VARIANTS[v]
                pred = analogy.loo_choose_k(
                    cases, analogy.K_CHOICES, aggs, score=score, chosen=picks
                )
            secs = time.perf_counter() - t0
            m = metrics.summary(cases.target, pred)
            top = Counter(picks).most_common(3)
            common = ", ".join(f"k={k} {a[:3]} ({c})" for (k, a), c in top)
            print(f"{v:12} {m['MMRE']:6.3f} {m['MdMRE']:6.3f} {m['PRED25']:6.3f} "
                  f"{m['SA']:6.3f} {secs:6.1f}s  {common}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
