"""Similar-change search: which past CRs read like this text? Pure NumPy; no ORM.

Text in Chinese and English is turned into *terms* (``terms()``):

- a run of CJK characters gives its character bigrams and its unigrams (Chinese words are
  mostly two characters: 登录, 审批; the unigrams let a one-character overlap count a little);
- any other run of letters and digits gives the lower-cased word and, for words of four
  letters or more, its character 4-grams padded with a space at each end (" expo", "xpor",
  "port", "ort "), so "exporting" and "export", or a misspelling, still share most of their
  terms.

An ``Index`` holds the terms of a set of documents as compressed postings (term → documents,
weight) in NumPy arrays and scores a query by the **cosine of sublinear TF-IDF vectors**
(tf → 1 + log tf, smoothed idf, documents L2-normalised at build time): every posting of the
query's terms adds its weight to its document with one ``np.bincount``, so a query costs time
in proportion to the postings it touches, not to the number of documents. The title counts
twice (a cheap field boost: titles say what a change is). The cosine is the similarity shown
to people: 1 for the same terms in the same proportions, 0 for nothing in common.

Chosen by measurement, not assumed (``benchmarks/similar_quality.py``, figures in
``benchmarks/README.md``). On the 2,499 OpenOffice duplicate→master pairs (pool: the 2,069
masters) recall@1/5/10 was 0.425/0.647/0.713 for this scheme against 0.420/0.615/0.680 for
BM25 (k1 = 1.2, b = 0.75) over the same terms, and 0.409/0.603/0.668 without the 4-grams;
3- and 5-grams and a title weight of 1 or 3 did no better. On LCQMC (Chinese question pairs,
threshold chosen on dev) both schemes reach 74.3–74.5 % test accuracy. BM25 stays available
(``scheme="bm25"``) for that comparison.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN_RE = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)")
NGRAM = 4
K1 = 1.2
B = 0.75
TITLE_WEIGHT = 2
POSTINGS_BUDGET = 400_000  # postings read per query at most (see Index.scores)
MAX_TERMS = 4_000  # a pasted log does not make a document (or a query) unboundedly long


def terms(text: str, *, ngrams: bool = True) -> list[str]:
    """The index terms of ``text`` (see the module docstring), in order, with repeats."""
    out: list[str] = []
    for cjk, word in _TOKEN_RE.findall(text or ""):
        if cjk:
            out.extend(cjk)
            out.extend(cjk[i : i + 2] for i in range(len(cjk) - 1))
        else:
            w = word.lower()[:60]
            out.append(w)
            if ngrams and len(w) >= NGRAM:
                padded = f" {w} "
                out.extend("#" + padded[i : i + NGRAM] for i in range(len(padded) - NGRAM + 1))
        if len(out) >= MAX_TERMS:
            return out[:MAX_TERMS]
    return out


def document_terms(
    title: str, body: str = "", *, ngrams: bool = True, title_weight: int = TITLE_WEIGHT
) -> list[str]:
    """A CR's terms: the title ``title_weight`` times, then the description."""
    return terms(title, ngrams=ngrams) * title_weight + terms(body, ngrams=ngrams)


@dataclass(frozen=True)
class Hit:
    index: int  # position of the document in the index
    score: float  # the raw score (the cosine itself for TF-IDF)
    similarity: float  # in [0, 1]: the cosine, or BM25 over the query's self-score


class Index:
    """TF-IDF cosine (or BM25) over a fixed set of documents, each given as its terms.

    Built once (``Index(docs)``), queried many times; see the module docstring.
    """

    def __init__(self, docs: Sequence[Sequence[str]], *, scheme: str = "tfidf"):
        if scheme not in ("bm25", "tfidf"):
            raise ValueError(f"unknown scheme {scheme!r}")
        self.scheme = scheme
        self.n = len(docs)
        # Term ids for every term of every document in one flat list (the only Python loop),
        # then counting and grouping in NumPy: (term, doc) pairs sorted once.
        vocab: dict[str, int] = {}
        get = vocab.get
        flat: list[int] = []
        append = flat.append
        lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=self.n)
        for doc in docs:
            for term in doc:
                tid = get(term)
                if tid is None:
                    tid = vocab[term] = len(vocab)
                append(tid)
        self.vocab = vocab
        term_of_token = np.asarray(flat, dtype=np.int64)
        doc_of_token = np.repeat(np.arange(self.n, dtype=np.int64), lengths)
        keys = term_of_token * max(self.n, 1) + doc_of_token
        pairs, tf_counts = np.unique(keys, return_counts=True)
        t = pairs // max(self.n, 1)
        self.postings_doc = (pairs % max(self.n, 1)).astype(np.int32)
        tf = tf_counts.astype(np.float64)
        df = np.bincount(t, minlength=len(vocab)).astype(np.float64)
        self.indptr = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)
        lengths = lengths.astype(np.float64)
        self.df = df
        self.avg_length = float(lengths.mean()) if self.n else 0.0
        if scheme == "bm25":
            # Lucene's non-negative BM25 idf.
            self.idf = np.log1p((self.n - df + 0.5) / (df + 0.5))
            avg = lengths.mean() if self.n else 0.0
            norm = K1 * (1 - B + B * lengths / avg) if avg else np.full(self.n, K1)
            self.postings_weight = tf * (K1 + 1) / (tf + norm[self.postings_doc])
        else:
            self.idf = np.log((1 + self.n) / (1 + df)) + 1
            term_of = np.repeat(np.arange(len(vocab)), df.astype(np.int64))
            w = (1 + np.log(tf)) * self.idf[term_of]
            sq = np.bincount(self.postings_doc, weights=w * w, minlength=self.n)
            self.postings_weight = w / np.sqrt(np.maximum(sq, 1e-12))[self.postings_doc]

    def _query_weights(self, query: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        counts = Counter(t for t in query if t in self.vocab)
        if not counts:
            return np.empty(0, dtype=np.int64), np.empty(0)
        ids = np.fromiter((self.vocab[t] for t in counts), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        if self.scheme == "bm25":
            return ids, self.idf[ids] * tf  # repeated query terms count again, as in Lucene
        w = (1 + np.log(tf)) * self.idf[ids]
        return ids, w / math.sqrt(float((w * w).sum()))

    def scores(self, query: Sequence[str]) -> np.ndarray:
        """The score of every document for ``query`` (a list of terms)."""
        ids, qw = self._query_weights(query)
        if ids.size == 0 or self.n == 0:
            return np.zeros(self.n)
        starts, ends = self.indptr[ids], self.indptr[ids + 1]
        lens = ends - starts
        if lens.sum() > POSTINGS_BUDGET:
            # Rarest terms first, up to the budget: the commonest carry the least idf, and
            # in a large collection their postings would be most of the query's cost.
            order = np.argsort(lens, kind="stable")
            keep = order[np.cumsum(lens[order]) <= POSTINGS_BUDGET]
            keep = keep if keep.size else order[:1]
            ids, qw, starts, lens = ids[keep], qw[keep], starts[keep], lens[keep]
        # Gather every posting of the query's terms at once (no Python loop per posting).
        offsets = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
        weights = self.postings_weight[offsets] * np.repeat(qw, lens)
        return np.bincount(self.postings_doc[offsets], weights=weights, minlength=self.n)

    def self_score(self, query: Sequence[str]) -> float:
        """What a document made of exactly ``query`` would score (the similarity's scale)."""
        counts = Counter(t for t in query if t in self.vocab)
        if not counts:
            return 0.0
        if self.scheme == "tfidf":
            return 1.0
        idf = self.idf[[self.vocab[t] for t in counts]]
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        avg = self.avg_length or 1.0
        norm = K1 * (1 - B + B * len(query) / avg)
        return float((idf * tf * tf * (K1 + 1) / (tf + norm)).sum())

    def search(
        self,
        query: Sequence[str],
        *,
        limit: int = 10,
        mask: np.ndarray | None = None,
        min_similarity: float = 0.0,
    ) -> list[Hit]:
        """The ``limit`` best documents for ``query`` (ties: lower index first).

        ``mask`` (bool per document) restricts the candidates, e.g. to closed CRs.
        """
        s = self.scores(query)
        if mask is not None:
            s = np.where(mask, s, 0.0)
        positive = np.flatnonzero(s > 0)
        if positive.size == 0 or limit < 1:
            return []
        if positive.size > limit:
            part = positive[np.argpartition(-s[positive], limit - 1)[:limit]]
        else:
            part = positive
        best = part[np.lexsort((part, -s[part]))]
        scale = self.self_score(query) or 1.0
        hits = [Hit(int(i), float(s[i]), min(1.0, float(s[i]) / scale)) for i in best]
        return [h for h in hits if h.similarity >= min_similarity]


def pair_similarity(index: Index, a: Sequence[str], b: Sequence[str]) -> float:
    """Symmetric similarity of two term lists under ``index``'s statistics, in [0, 1].

    The mean of a→b and b→a, each the BM25 of one against the other as a one-document
    collection with the index's idf, over its self-score. Used for paraphrase pairs.
    """

    def one_way(q: Sequence[str], d: Sequence[str]) -> float:
        qc = Counter(t for t in q if t in index.vocab)
        if not qc:
            return 0.0
        dc = Counter(d)
        avg = index.avg_length or 1.0
        if index.scheme == "tfidf":
            ids = {t: index.idf[index.vocab[t]] for t in set(qc) | set(dc) if t in index.vocab}
            qv = {t: (1 + math.log(c)) * ids[t] for t, c in qc.items()}
            dv = {t: (1 + math.log(c)) * ids[t] for t, c in dc.items() if t in ids}
            num = sum(qv[t] * dv.get(t, 0.0) for t in qv)
            den = math.sqrt(sum(v * v for v in qv.values()) * sum(v * v for v in dv.values()))
            return num / den if den else 0.0

        def bm25(doc: Counter, length: float) -> float:
            norm = K1 * (1 - B + B * length / avg)
            return sum(
                index.idf[index.vocab[t]] * c * doc[t] * (K1 + 1) / (doc[t] + norm)
                for t, c in qc.items()
                if doc.get(t)
            )

        full = bm25(qc, float(len(q)))
        return min(1.0, bm25(dc, float(len(d))) / full) if full else 0.0

    return (one_way(a, b) + one_way(b, a)) / 2
