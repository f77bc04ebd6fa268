"""Full-text search for Chinese and English on SQLite (FTS5) and PostgreSQL (tsvector)."""

from __future__ import annotations

import pytest

from changeflow.changes import selectors, services
from changeflow.core import search
from tests.factories import make_cr

pytestmark = pytest.mark.django_db

TEXT = "登录页面需要支持短信验证码"


def found(user, q):
    return set(
        selectors.change_request_list(user=user, filters={"q": q}).values_list("key", flat=True)
    )


@pytest.fixture
def crs(personas):
    p = personas
    sms = make_cr(p.project, by=p.pm, title=TEXT, description="Users sign in with SMS codes")
    report = make_cr(
        p.project, by=p.pm, title="月度报表导出", description="Export the Monthly REPORT"
    )
    mixed = make_cr(p.project, by=p.pm, title="API限流 rate-limit", description="每分钟 100 次")
    hidden = make_cr(p.other_project, by=p.outsider, title=TEXT, description="other tenant")
    return p, sms.key, report.key, mixed.key, hidden.key


@pytest.mark.parametrize("q", ["码", "验证", "验证码", "登录", "登", "短信验证码", "页面需要"])
def test_chinese_queries_of_every_length(crs, q):
    p, sms, *_ = crs
    assert found(p.pm, q) == {sms}


@pytest.mark.parametrize("q", ["验码", "码验", "登陆", "报验"])
def test_chinese_non_substrings_do_not_match(crs, q):
    p, *_ = crs
    assert found(p.pm, q) == set()


@pytest.mark.parametrize("q", ["report", "REPORT", "Rep", "monthly export", "exp"])
def test_english_prefix_and_case(crs, q):
    p, _sms, report, *_ = crs
    assert found(p.pm, q) == {report}


@pytest.mark.parametrize(("q", "which"), [("API 限流", 3), ("限流 rate", 3), ("100 每分钟", 3),
                                          ("SMS 验证", 1), ("sms 报表", None)])  # fmt: skip
def test_mixed_queries(crs, q, which):
    p, *keys = crs
    assert found(p.pm, q) == ({keys[which - 1]} if which else set())


def test_other_tenants_are_never_found(crs):
    p, sms, *_rest, hidden = crs
    assert found(p.pm, TEXT) == {sms}
    assert found(p.outsider, TEXT) == {hidden}


@pytest.mark.parametrize(
    "q",
    ["", "   ", "!!!", "—", "？！。", '"', "'", "*", "\\", "()", "AND", "OR NOT", "NEAR",
     'NEAR("a" "b")', 'report" OR "x', "rep*", "a AND (b OR", "^report", "report:*", "'; DROP",
     "\\'", "验证码\"", "(验证", "col:report", "-report", "+", "{}", "\x00", "e\u0301",
     "x" * 5000, "验" * 5000, "a " * 200],
)  # fmt: skip
def test_special_characters_never_raise(crs, q):
    p, *_ = crs
    result = found(p.pm, q)  # must not raise on either engine
    assert isinstance(result, set)


def test_quotes_and_operators_are_plain_words(crs):
    p, _sms, report, *_ = crs
    assert found(p.pm, '"report"') == {report}
    assert found(p.pm, "report AND") == set()  # "and" is a word that must appear
    assert found(p.pm, "(monthly)") == {report}
    assert found(p.pm, "monthly's") == set()


def test_punctuation_only_query_matches_nothing(crs):
    p, *_ = crs
    assert search.matching_ids_sql("!?。，") is None
    assert found(p.pm, "!?。，") == set()


def test_edits_are_reindexed(crs):
    p, sms, *_ = crs
    cr = selectors.change_request_get(user=p.pm, key=sms)
    services.change_request_update(user=p.pm, cr=cr, data={"title": "审批流程"})
    assert found(p.pm, "验证码") == set()
    assert found(p.pm, "审批") == {sms}


def test_very_long_words_are_indexed_and_searchable(personas):
    """A pasted blob (one 3,000-letter word) must neither fail the write nor the search."""
    p = personas
    blob = "A" * 3000
    cr = make_cr(p.project, by=p.pm, title="long word", description=f"see {blob} end")
    assert found(p.pm, "end") == {cr.key}
    assert found(p.pm, blob) == {cr.key}
    assert found(p.pm, "AAAA") == {cr.key}


def test_tokenize():
    assert search.tokenize("验证码 OK") == ["验证", "证码", "码", "ok"]
    assert search.tokenize("码") == ["码"]
    assert search.query_terms("验证码 Rep") == [("phrase", ["验证", "证码"]), ("prefix", ["rep"])]
    assert search.query_terms("码") == [("prefix", ["码"])]
    assert len(search.query_terms("a " * 100)) == 32
