"""Feature-subset selection (ANGEL's own remedy) nested inside the leave-one-out, on the five
reference effort datasets (Desharnais, Albrecht, Kemerer, Maxwell, China).

In each outer fold the features the distance uses are chosen by ``analogy.select_features``
from the other cases alone (inner leave-one-out of the same estimator: k = 4 nearest, ridge
adjustment refitted without the held-out case, geometric mean), then the held-out case is
estimated with them. Variants: greedy forward selection or backward elimination, scored by
the inner mean absolute residual (MAR), median MRE or mean |log error|. Prints MMRE, MdMRE,
PRED(25), SA, the run time and the subsets chosen most often. Adoption rule (README): no worse
than the default on any of the five, and Albrecht at least 5 points below ANGEL's 62 %.

Usage: ``.venv/bin/python benchmarks/feature_selection.py [--only LABEL ...] [VARIANT ...]``
"""

from __future__ import annotations

import sys
import time
from collections import Counter

import _effort

from changeflow.impact import analogy, metrics

VARIANTS = {  # name: None for the default, else (direction, score)
    "default": None,
    "forward-mar": ("forward", "mar"),
    "forward-mdmre": ("forward", "mdmre"),
    "forward-log": ("forward", "log"),
    "backward-mar": ("backward", "mar"),
    "backward-mdmre": ("backward", "mdmre"),
    "backward-log": ("backward", "log"),
}


def main() -> None:
    specs, chosen = _effort.arguments(sys.argv[1:], VARIANTS)
    for spec in specs:
        cases = _effort.cases(spec)
        names = cases.numeric_names + cases.nominal_names
        print(f"\n## {spec.label} (n = {cases.n}, {len(names)} features)", flush=True)
        print(f"{'variant':16} {'MMRE':>6} {'MdMRE':>6} {'PRED25':>6} {'SA':>6} {'time':>7}  "
              "subsets chosen most often (folds)")  # fmt: skip
        for v in chosen:
            subsets: list = []
            t0 = time.perf_counter()
            if VARIANTS[v] is None:
                pred = analogy.loo_predictions(cases)
            else:
                direction, score = VARIANTS[v]
                pred = analogy.loo_select_features(
                    cases, chosen=subsets, score=score, direction=direction
                )
            secs = time.perf_counter() - t0
            m = metrics.summary(cases.target, pred)
            common = "; ".join(
                f"{'+'.join(names[f] for f in s)} ({c})" for s, c in Counter(subsets).most_common(2)
            )
            print(f"{v:16} {m['MMRE']:6.3f} {m['MdMRE']:6.3f} {m['PRED25']:6.3f} "
                  f"{m['SA']:6.3f} {secs:6.1f}s  {common}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
