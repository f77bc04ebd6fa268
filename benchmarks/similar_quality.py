"""Similar-change search quality on real data: which text scheme finds duplicates best?

1. OpenOffice duplicate→master pairs (``../shared/data/duplicates``, 2,499 pairs): the pool is
   every master (2,069 distinct), each duplicate is a query; recall@k is the share of queries
   whose master is among the first k answers.
2. LCQMC (``../shared/data/paraphrase-zh``): pair accuracy of "similarity ≥ threshold"; the
   threshold is chosen on the dev split (LCQMC's train split is not in the shared data) and
   the accuracy reported on the test split. The idf comes from the split's own sentences.

Prints a table per variant; the default configuration of ``impact.similar`` is marked.
Usage: ``.venv/bin/python benchmarks/similar_quality.py``
"""

from __future__ import annotations

import csv
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changeflow.settings")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from changeflow.impact import similar  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
if not SHARED.exists():
    SHARED = Path("/work/shared/data")
DUPS = SHARED / "duplicates" / "dutta1kartik3_OfficeDupsTestWithMetaData.tsv"
LCQMC = SHARED / "paraphrase-zh"

VARIANTS = [  # (name, scheme, ngrams, title weight)
    ("TF-IDF cosine, words+CJK bigrams+4-grams, title x2 (default)", "tfidf", True, 2),
    ("BM25, words+CJK bigrams+4-grams, title x2", "bm25", True, 2),
    ("BM25, words+CJK bigrams+4-grams, title x1", "bm25", True, 1),
    ("BM25, words+CJK bigrams, title x2", "bm25", False, 2),
    ("TF-IDF cosine, words+CJK bigrams, title x2", "tfidf", False, 2),
]


def load_dups():
    with DUPS.open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    masters: dict[str, tuple[str, str]] = {}
    queries = []
    for r in rows:
        masters.setdefault(r[5], (r[6], r[7]))
        queries.append((r[2], r[3], r[5]))
    return masters, queries


def recall(scheme: str, ngrams: bool, tw: int) -> dict[str, float]:
    masters, queries = load_dups()
    ids = list(masters)
    docs = [
        similar.document_terms(t, d, ngrams=ngrams, title_weight=tw) for t, d in masters.values()
    ]
    index = similar.Index(docs, scheme=scheme)
    pos = {m: i for i, m in enumerate(ids)}
    ranks = []
    for title, desc, master in queries:
        q = similar.document_terms(title, desc, ngrams=ngrams, title_weight=tw)
        s = index.scores(q)
        target = s[pos[master]]
        ranks.append(int((s > target).sum()) + 1 if target > 0 else 10**9)
    r = np.asarray(ranks)
    return {f"R@{k}": float((r <= k).mean()) for k in (1, 5, 10, 20)}


def load_pairs(name: str):
    with (LCQMC / name).open(encoding="utf-8") as fh:
        return [
            (a, b, int(y)) for a, b, y in csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        ]


def pair_scores(pairs, scheme: str, ngrams: bool) -> np.ndarray:
    sentences = sorted({s for a, b, _ in pairs for s in (a, b)})
    index = similar.Index([similar.terms(s, ngrams=ngrams) for s in sentences], scheme=scheme)
    return np.asarray(
        [similar.pair_similarity(index, similar.terms(a, ngrams=ngrams),
                                 similar.terms(b, ngrams=ngrams)) for a, b, _ in pairs]
    )  # fmt: skip


def lcqmc(scheme: str, ngrams: bool) -> tuple[float, float, float]:
    dev, test = load_pairs("CSTS_LCQMC_dev.tsv"), load_pairs("CSTS_LCQMC_test.tsv")
    sd, st = pair_scores(dev, scheme, ngrams), pair_scores(test, scheme, ngrams)
    yd, yt = np.array([y for *_, y in dev]), np.array([y for *_, y in test])
    grid = np.unique(np.round(sd, 3))
    accs = [((sd >= t) == yd).mean() for t in grid]
    best = float(grid[int(np.argmax(accs))])
    return best, float(max(accs)), float(((st >= best) == yt).mean())


def main() -> None:
    print("OpenOffice duplicates: 2,499 queries, pool of 2,069 masters")
    print("LCQMC: threshold chosen on dev (8,802 pairs), accuracy on test (12,500 pairs)\n")
    print(f"{'variant':55} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'R@20':>6} | "
          f"{'thr':>5} {'dev':>6} {'test':>6}  secs")  # fmt: skip
    for name, scheme, ngrams, tw in VARIANTS:
        t0 = time.perf_counter()
        r = recall(scheme, ngrams, tw)
        thr, dev_acc, test_acc = lcqmc(scheme, ngrams) if tw == 2 else (float("nan"),) * 3
        print(
            f"{name:55} {r['R@1']:6.3f} {r['R@5']:6.3f} {r['R@10']:6.3f} {r['R@20']:6.3f} | "
            f"{thr:5.3f} {dev_acc:6.3f} {test_acc:6.3f}  {time.perf_counter() - t0:.0f}"
        )


if __name__ == "__main__":
    main()
