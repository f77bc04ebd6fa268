"""Similar-change search, the pure part: terms for Chinese and English, TF-IDF cosine ranking."""

import numpy as np
import pytest

from changeflow.impact import similar

DOCS = [
    ("登录页面需要支持短信验证码", "用户希望通过短信验证码登录"),
    ("Export the sales report to Excel", "Operations export the weekly report per shop"),
    ("订单报表支持按门店筛选导出", "运营每周按门店导出订单明细 Excel"),
    ("Dark mode for the console", "A dark theme for night shifts"),
]


@pytest.fixture
def index():
    return similar.Index([similar.document_terms(t, d) for t, d in DOCS])


def test_terms_mix_chinese_bigrams_and_english_words_with_4_grams():
    t = similar.terms("登录 Exporting")
    assert "登录" in t and "登" in t and "录" in t
    assert "exporting" in t and "# exp" in t and "ing " not in t and "#ing " in t
    assert similar.terms("") == []


def test_title_counts_twice():
    assert similar.document_terms("登录", "") == similar.terms("登录") * 2


def test_a_chinese_query_finds_its_chinese_twin(index):
    hits = index.search(similar.document_terms("短信验证码登录"), limit=3)
    assert hits[0].index == 0
    assert 0 < hits[0].similarity <= 1


def test_an_english_query_tolerates_word_forms(index):
    hits = index.search(similar.document_terms("exporting sales reports"), limit=2)
    assert hits[0].index == 1


def test_a_mixed_query_reaches_both_languages(index):
    found = {h.index for h in index.search(similar.document_terms("报表 Excel export"), limit=4)}
    assert {1, 2} <= found


def test_identical_text_has_similarity_one_and_unrelated_text_nothing(index):
    hits = index.search(similar.document_terms(*DOCS[3]), limit=1)
    assert hits[0].index == 3 and hits[0].similarity == pytest.approx(1.0)
    assert index.search(similar.document_terms("量子计算"), limit=3) == []


def test_mask_and_min_similarity_filter(index):
    q = similar.document_terms("登录 短信验证码")
    mask = np.array([False, True, True, True])
    assert all(h.index != 0 for h in index.search(q, mask=mask))
    assert index.search(q, min_similarity=1.01) == []


def test_scores_equal_a_brute_force_cosine(index):
    q = similar.document_terms("weekly report Excel 导出")
    s = index.scores(q)
    # Brute force over dense vectors with the index's own idf.
    vocab = index.lookup([t for d in DOCS for t in similar.document_terms(*d)] + q)

    def vec(terms):
        v = np.zeros(index.hashes.size)
        from collections import Counter

        for t, c in Counter(terms).items():
            if t in vocab:
                v[vocab[t]] = (1 + np.log(c)) * index.idf[vocab[t]]
        return v

    qv = vec(q)
    for i, (t, d) in enumerate(DOCS):
        dv = vec(similar.document_terms(t, d))
        expected = qv @ dv / np.linalg.norm(qv) / np.linalg.norm(dv)
        assert s[i] == pytest.approx(expected)


def test_bm25_scheme_still_ranks(index):
    bm25 = similar.Index([similar.document_terms(t, d) for t, d in DOCS], scheme="bm25")
    hits = bm25.search(similar.document_terms("短信验证码登录"), limit=1)
    assert hits[0].index == 0 and 0 < hits[0].similarity <= 1


def test_an_empty_index_answers_nothing():
    assert similar.Index([]).search(similar.terms("anything")) == []
