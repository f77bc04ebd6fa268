"""Analogy over change requests, the pure part, on a small history whose answer is known."""

import numpy as np
import pytest

from changeflow.impact import history


def row(i, title, effort, *, type="feature", priority="P2", estimate=None, closed=True,
        schedule=None, cost=None, description="", requirements=0):  # fmt: skip
    return {
        "id": i, "title": title, "description": description, "type": type,
        "priority": priority, "estimated_effort": estimate, "requirements": requirements,
        "effort": effort, "schedule": schedule, "cost": cost, "closed": closed,
    }  # fmt: skip


HISTORY = [
    row(1, "登录页面支持短信验证码", 20, schedule=3, cost=6000),
    row(2, "找回密码支持短信验证", 24, schedule=4, cost=7200),
    row(3, "Export the sales report to Excel", 12, type="modification", schedule=2),
    row(4, "Two-factor sign-in for the console", 40, type="non_functional", priority="P1"),
    row(5, "会员积分抵扣运费", 80, priority="P3"),
    row(6, "Open CR, not closed yet", None, closed=False),
    row(7, "Closed but no actuals", None),
]


@pytest.fixture
def pool():
    return history.build(HISTORY)


def test_the_nearest_analogues_come_first_with_their_actuals(pool):
    r = history.estimate(pool, title="短信验证码登录", type="feature", priority="P2", k=2)
    assert [a.id for a in r.analogues[:2]] == [1, 2]
    assert r.analogues[0].actuals[0] == 20
    assert r.analogues[0].text_similarity > r.analogues[2].text_similarity
    assert r.history == 5  # closed with actual effort: 1–5
    assert all(a.id not in (6, 7) for a in r.analogues)
    assert [a.used for a in r.analogues[:3]] == [True, True, False]


def test_estimate_interval_and_dimensions(pool):
    r = history.estimate(pool, title="短信验证码登录", type="feature", priority="P2", k=2)
    effort = r.estimates["effort"]
    # Two analogues, 20 and 24 h, no numeric features to adjust on: their geometric mean.
    assert effort["value"] == pytest.approx(np.sqrt(20 * 24))
    assert effort["low"] < effort["value"] < effort["high"]
    assert effort["n"] == 2
    assert r.estimates["schedule"]["value"] == pytest.approx(np.sqrt(3 * 4))
    assert r.estimates["cost"]["value"] == pytest.approx(np.sqrt(6000 * 7200))


def test_the_cr_itself_is_never_its_own_analogue(pool):
    r = history.estimate(pool, title="登录页面支持短信验证码", type="feature", exclude_id=1, k=1)
    assert all(a.id != 1 for a in r.analogues)


def test_in_a_large_history_the_cr_is_skipped_not_prepared_again(monkeypatch):
    """Above EXACT_EXCLUDE_UP_TO the cached preparation is reused and the CR only skipped:
    here (no numeric feature to rescale) the same analogues and figures as preparing again
    without it, never itself, and its text's self-match does not set the text range."""
    pool = history.build(HISTORY)
    query = {"title": "找回密码支持短信验证", "type": "feature", "exclude_id": 2, "k": 2}
    exact = history.estimate(pool, **query)
    assert ("without", 2) not in pool.prepared
    monkeypatch.setattr(history, "EXACT_EXCLUDE_UP_TO", 0)
    skipped = history.estimate(pool, **query)
    assert ("all",) in pool.prepared
    assert [a.id for a in skipped.analogues] == [a.id for a in exact.analogues] == [1, 5, 3, 4]
    assert [a.similarity for a in skipped.analogues] == pytest.approx(
        [a.similarity for a in exact.analogues]
    )
    assert skipped.history == exact.history == 4
    assert skipped.estimates["effort"] == pytest.approx(exact.estimates["effort"])


def test_empty_history_is_a_typed_error():
    pool = history.build([row(1, "open", None, closed=False)])
    with pytest.raises(history.EmptyHistory):
        history.estimate(pool, title="anything")
    with pytest.raises(history.EmptyHistory):
        history.estimate(history.build([]), title="anything")


def test_an_unseen_type_differs_from_every_known_one(pool):
    r = history.estimate(pool, title="unrelated words", type="removal", priority="P4")
    assert len(r.analogues) == 5
