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
from hashlib import blake2b

import numpy as np

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN_RE = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)")
NGRAM = 4
K1 = 1.2
B = 0.75
TITLE_WEIGHT = 2
POSTINGS_BUDGET = 400_000  # postings read per query at most (see Index.scores)
TF_MAX = 0xFFFF  # a term's count in one document is capped (it is taken as a log anyway)
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


def term_hash(term: str) -> int:
    """A term's stable 64-bit id (the same in every process, unlike ``hash()``)."""
    digest = blake2b(term.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)  # int64: NumPy sorts those fastest


def counted(terms: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """A document's distinct terms as (hashes ascending, counts): what an index stores of it."""
    c = Counter(terms)
    if not c:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    h = np.fromiter((term_hash(t) for t in c), dtype=np.int64, count=len(c))
    n = np.fromiter(c.values(), dtype=np.int64, count=len(c))
    order = np.argsort(h)
    return h[order], n[order]


class Index:
    """TF-IDF cosine (or BM25) over a fixed set of documents, each given as its terms.

    Built once (``Index(docs)``, or ``Index.from_counts`` from documents already counted and
    hashed, as ``impact.features`` stores them), queried many times; see the module
    docstring. Terms are known by their 64-bit hash (``term_hash``): any collision among a million
    terms has a chance of about 3 in 10^8, and would only merge two terms' weights.
    """

    def __init__(self, docs: Sequence[Sequence[str]], *, scheme: str = "tfidf"):
        parts = [counted(d) for d in docs]
        sizes = np.fromiter((h.size for h, _ in parts), dtype=np.int64, count=len(parts))
        hashes = np.concatenate([h for h, _ in parts]) if parts else np.empty(0, np.int64)
        counts = np.concatenate([c for _, c in parts]) if parts else np.empty(0, np.int64)
        self._setup(hashes, counts, sizes, scheme)

    @classmethod
    def from_counts(
        cls, hashes: np.ndarray, counts: np.ndarray, sizes: np.ndarray, *, scheme: str = "tfidf"
    ) -> Index:
        """An index of ``sizes.size`` documents whose distinct term hashes and counts are
        concatenated in document order (document i has ``sizes[i]`` of them)."""
        index = cls.__new__(cls)
        index._setup(hashes, counts, sizes, scheme)
        return index

    def _setup(
        self, hashes: np.ndarray, counts: np.ndarray, sizes: np.ndarray, scheme: str
    ) -> None:
        if scheme not in ("bm25", "tfidf"):
            raise ValueError(f"unknown scheme {scheme!r}")
        self.scheme = scheme
        self.n = n = int(sizes.size)
        # Term ids by the sorted vocabulary, then the (term, document, tf) triples grouped
        # by term with one sort of bit-packed integer keys (NumPy sorts plain int64 several times
        # faster than it argsorts, and the keys are unique).
        ordered = np.sort(hashes)  # (np.unique is several times slower here)
        first = np.ones(ordered.size, dtype=bool)
        first[1:] = ordered[1:] != ordered[:-1]
        self.hashes = ordered[first]  # the vocabulary, ascending
        del ordered, first
        v = int(self.hashes.size)
        tid = np.searchsorted(self.hashes, hashes).astype(np.int64)
        doc = np.repeat(np.arange(n, dtype=np.int64), sizes)
        tf_int = np.minimum(counts, TF_MAX).astype(np.int64)
        doc_bits = max(n - 1, 1).bit_length()
        if (max(v - 1, 1).bit_length() + doc_bits + 16) < 63:
            key = (tid << (doc_bits + 16)) | (doc << 16) | tf_int
            key.sort()
            t = key >> (doc_bits + 16)
            self.postings_doc = ((key >> 16) & ((1 << doc_bits) - 1)).astype(np.int32)
            tf = (key & TF_MAX).astype(np.float64)
            del key
        else:  # too many terms × documents to pack: group by (term, document) the slow way
            order = np.lexsort((doc, tid))
            t, self.postings_doc = tid[order], doc[order].astype(np.int32)
            tf = tf_int[order].astype(np.float64)
        lengths = np.bincount(doc, weights=counts.astype(np.float64), minlength=n)
        del tid, doc, tf_int
        df = np.bincount(t, minlength=self.hashes.size).astype(np.float64)
        self.indptr = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)
        self.df = df
        self.avg_length = float(lengths.mean()) if n else 0.0
        if scheme == "bm25":
            # Lucene's non-negative BM25 idf.
            self.idf = np.log1p((n - df + 0.5) / (df + 0.5))
            avg = lengths.mean() if n else 0.0
            norm = K1 * (1 - B + B * lengths / avg) if avg else np.full(n, K1)
            self.postings_weight = tf * (K1 + 1) / (tf + norm[self.postings_doc])
        else:
            self.idf = np.log((1 + n) / (1 + df)) + 1
            w = (1 + np.log(tf)) * self.idf[t]
            sq = np.bincount(self.postings_doc, weights=w * w, minlength=n)
            self.postings_weight = w / np.sqrt(np.maximum(sq, 1e-12))[self.postings_doc]

    def lookup(self, terms: Iterable[str]) -> dict[str, int]:
        """The vocabulary ids of those of ``terms`` the index knows."""
        unique = list(dict.fromkeys(terms))
        if not unique or self.hashes.size == 0:
            return {}
        h = np.fromiter((term_hash(t) for t in unique), dtype=np.int64, count=len(unique))
        at = np.minimum(np.searchsorted(self.hashes, h), self.hashes.size - 1)
        found = self.hashes[at] == h
        return {t: int(i) for t, i, ok in zip(unique, at, found, strict=True) if ok}

    def _query_weights(
        self, query: Sequence[str], known: dict[str, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        known = self.lookup(query) if known is None else known
        counts = Counter(t for t in query if t in known)
        if not counts:
            return np.empty(0, dtype=np.int64), np.empty(0)
        ids = np.fromiter((known[t] for t in counts), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        if self.scheme == "bm25":
            return ids, self.idf[ids] * tf  # repeated query terms count again, as in Lucene
        w = (1 + np.log(tf)) * self.idf[ids]
        return ids, w / math.sqrt(float((w * w).sum()))

    def scores(self, query: Sequence[str], known: dict[str, int] | None = None) -> np.ndarray:
        """The score of every document for ``query`` (a list of terms; ``known``: its
        ``lookup`` when the caller has it)."""
        ids, qw = self._query_weights(query, known)
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

    def self_score(self, query: Sequence[str], known: dict[str, int] | None = None) -> float:
        """What a document made of exactly ``query`` would score (the similarity's scale)."""
        known = self.lookup(query) if known is None else known
        counts = Counter(t for t in query if t in known)
        if not counts:
            return 0.0
        if self.scheme == "tfidf":
            return 1.0
        idf = self.idf[[known[t] for t in counts]]
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
        known = self.lookup(query)  # hashed once for the scores and their scale
        s = self.scores(query, known)
        if mask is not None:
            s[~mask] = 0.0
        positive = np.flatnonzero(s > 0)
        if positive.size == 0 or limit < 1:
            return []
        if positive.size > limit:
            part = positive[np.argpartition(-s[positive], limit - 1)[:limit]]
        else:
            part = positive
        best = part[np.lexsort((part, -s[part]))]
        scale = self.self_score(query, known) or 1.0
        hits = [Hit(int(i), float(s[i]), min(1.0, float(s[i]) / scale)) for i in best]
        return [h for h in hits if h.similarity >= min_similarity]


def pair_similarity(index: Index, a: Sequence[str], b: Sequence[str]) -> float:
    """Symmetric similarity of two term lists under ``index``'s statistics, in [0, 1].

    The mean of a→b and b→a, each the BM25 of one against the other as a one-document
    collection with the index's idf, over its self-score. Used for paraphrase pairs.
    """

    vocab = index.lookup([*a, *b])

    def one_way(q: Sequence[str], d: Sequence[str]) -> float:
        qc = Counter(t for t in q if t in vocab)
        if not qc:
            return 0.0
        dc = Counter(d)
        avg = index.avg_length or 1.0
        if index.scheme == "tfidf":
            ids = {t: index.idf[vocab[t]] for t in set(qc) | set(dc) if t in vocab}
            qv = {t: (1 + math.log(c)) * ids[t] for t, c in qc.items()}
            dv = {t: (1 + math.log(c)) * ids[t] for t, c in dc.items() if t in ids}
            num = sum(qv[t] * dv.get(t, 0.0) for t in qv)
            den = math.sqrt(sum(v * v for v in qv.values()) * sum(v * v for v in dv.values()))
            return num / den if den else 0.0

        def bm25(doc: Counter, length: float) -> float:
            norm = K1 * (1 - B + B * length / avg)
            return sum(
                index.idf[vocab[t]] * c * doc[t] * (K1 + 1) / (doc[t] + norm)
                for t, c in qc.items()
                if doc.get(t)
            )

        full = bm25(qc, float(len(q)))
        return min(1.0, bm25(dc, float(len(d))) / full) if full else 0.0

    return (one_way(a, b) + one_way(b, a)) / 2
