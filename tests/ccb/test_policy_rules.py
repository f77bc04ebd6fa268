"""The board's policy: rules, quorum, weights, required and veto roles (pure, no database)."""

from __future__ import annotations

import itertools
from decimal import Decimal as D
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from changeflow.ccb.policy import DECISIONS, Policy, decide, evaluate

FIVE = ["a", "b", "c", "d", "e"]
ROLES = {"a": "project_manager", "b": "tech_lead", "c": "qa", "d": "customer_rep", "e": "qa"}


def verdict(policy, votes, eligible=FIVE):
    return evaluate(policy, eligible, votes).verdict


def V(spec: str) -> dict[str, str]:
    """ "aA bR cD dX" → a approves, b rejects, c defers, d abstains."""
    names = {"A": "approve", "R": "reject", "D": "defer", "X": "abstain"}
    return {tok[0]: names[tok[1]] for tok in spec.split()}


@pytest.mark.parametrize(
    ("votes", "expected"),
    [
        ("", None),
        ("aA bA", None),  # below quorum (3 of 5)
        ("aA bA cA", "approve"),  # an absolute majority at once
        ("aR bR cR", "reject"),
        ("aD bD cD", "defer"),
        ("aA bA cR", None),
        ("aA bA cR dR eX", "defer"),  # tie
        ("aA bA cR dX eX", "approve"),  # abstentions do not count for the majority
        ("aX bX cX dX eX", "defer"),  # nobody but abstainers
        ("aA bR cD dX eX", "defer"),
        ("aR bR cA dD eX", "reject"),
    ],
)
def test_majority_rule(votes, expected):
    assert verdict(Policy(), V(votes)) == expected


@pytest.mark.parametrize(
    ("votes", "expected"),
    [
        ("aA bA cA dA", None),  # e may still reject
        ("aA bA cA dA eA", "approve"),
        ("aA bA cA dA eX", "approve"),  # abstainers are not needed for unanimity
        ("aA bA cR", "reject"),  # any reject, quorum met: nothing can save it
        ("aR", None),  # no quorum yet
        ("aA bA cD dA eA", "defer"),
        ("aX bX cX dX eX", "defer"),
    ],
)
def test_unanimous_rule(votes, expected):
    assert verdict(Policy(rule="unanimous"), V(votes)) == expected


W = {"a": 3, "b": 1, "c": 1, "d": 1, "e": 1}  # total 7


@pytest.mark.parametrize(
    ("threshold", "votes", "expected"),
    [
        ("0.5", "aA bA cX", "approve"),  # 4 ≥ 0.5 · (4 + 2 pending): nothing can undo it
        ("0.75", "aA bA cX", None),  # 4 < 0.75 · 6: d and e could still outweigh it
        ("0.5", "aA bA cR", "approve"),  # 4 ≥ 0.5 · (5 + 2 pending)
        ("0.5", "aR bR cA", "reject"),  # approve can reach 3 < 3.5; reject 4 > 0 + 2
        ("0.66", "aA bR cR dR eX", "reject"),  # 3 of 6 is under the threshold; reject 3 > 0
        ("1", "aA bA cA dA eA", "approve"),
        ("1", "aA bA cA dA eR", "reject"),
        ("1", "aA bA cA dA eX", "approve"),
        ("0.5", "aD bA cA dX eX", "defer"),  # 2 < 0.5 · 5; defer 3 > reject 0
        ("0.5", "aX bX cX dX eX", "defer"),
    ],
)
def test_weighted_rule(threshold, votes, expected):
    policy = Policy(rule="weighted", threshold=D(threshold), weights=W)
    assert verdict(policy, V(votes)) == expected


def test_weighted_tally_reports_weights():
    policy = Policy(rule="weighted", threshold=D("0.6"), weights={"a": D("2.5")})
    tally = evaluate(policy, FIVE, V("aA bR"))
    assert tally.details()["weights"] == {
        "approve": "2.5", "reject": "1", "defer": "0", "abstain": "0",
    }  # fmt: skip
    assert tally.pending == ("c", "d", "e")


@pytest.mark.parametrize(
    ("votes", "expected"),
    [
        ("aA bA cA", None),  # d (customer_rep, required) has not voted: approval must wait
        ("aA bA cA dA", "approve"),
        ("aA bA cA dX eA", "defer"),  # the required role never approved
        ("aA bA cA dR", "defer"),
        ("aR bR cR", "reject"),  # requirements only constrain approval
    ],
)
def test_required_roles(votes, expected):
    policy = Policy(roles=ROLES, required_roles=("customer_rep",))
    assert verdict(policy, V(votes)) == expected
    assert evaluate(policy, FIVE, V(votes)).required_missing == (
        () if "dA" in votes else ("customer_rep",)
    )


@pytest.mark.parametrize(
    ("votes", "expected"),
    [
        ("dR", None),  # a veto needs quorum too
        ("aA bA dR", "reject"),  # the veto rejects a majority
        ("aA bA cA", None),  # approval waits for the veto holder
        ("aA bA cA dA", "approve"),
        ("aA bA cA dX", "approve"),
        ("aD bD cD", None),  # a defer too: the veto could still come
        ("aR bR cR", "reject"),
    ],
)
def test_veto_roles(votes, expected):
    policy = Policy(roles=ROLES, veto_roles=("customer_rep",))
    assert verdict(policy, V(votes)) == expected
    if expected == "reject" and "dR" in votes:
        assert evaluate(policy, FIVE, V(votes)).vetoed_by == "d"


@pytest.mark.parametrize(
    ("quorum", "votes", "expected"),
    [
        (4, "aA bA cA", None),  # a majority, but below the quorum
        (4, "aA bA cA dX", "approve"),
        (9, "aA bA cA dA", None),  # a quorum larger than the board is capped at its size
        (9, "aA bA cA dA eA", "approve"),
        (1, "aA", None),  # quorum met, but one approval is no majority of five
    ],
)
def test_quorum(quorum, votes, expected):
    assert verdict(Policy(quorum=quorum), V(votes)) == expected


def test_invalid_policies_are_refused():
    for kwargs in (
        {"rule": "dictator"},
        {"rule": "weighted"},
        {"rule": "weighted", "threshold": D(0)},
        {"rule": "weighted", "threshold": D("1.01")},
        {"quorum": 0},
        {"weights": {"a": 0}},
    ):
        with pytest.raises(ValueError):
            Policy(**kwargs)


def test_decide_is_the_default_policy():
    assert decide(FIVE, V("aA bA cA")) == evaluate(Policy(), FIVE, V("aA bA cA"))
    assert Policy().as_dict() == {
        "rule": "majority", "threshold": None, "quorum": None, "required_roles": [],
        "veto_roles": [],
    }  # fmt: skip


# ---------------------------------------------------------------- properties

ALL_ROLES = ("project_manager", "tech_lead", "qa", "customer_rep")


@st.composite
def boards(draw):
    n = draw(st.integers(1, 5))
    members = [f"u{i}" for i in range(n)]
    rule = draw(st.sampled_from(["majority", "unanimous", "weighted"]))
    threshold = draw(st.sampled_from([D("0.5"), D("0.6"), D("0.75"), D(1), D("0.34")]))
    roles = {u: draw(st.sampled_from(ALL_ROLES)) for u in members}
    weights = {u: draw(st.sampled_from([1, 2, 3, D("0.5")])) for u in members}
    policy = Policy(
        rule=rule,
        threshold=threshold if rule == "weighted" else None,
        quorum=draw(st.none() | st.integers(1, 6)),
        weights=weights,
        roles=roles,
        required_roles=tuple(draw(st.sets(st.sampled_from(ALL_ROLES), max_size=2))),
        veto_roles=tuple(draw(st.sets(st.sampled_from(ALL_ROLES), max_size=1))),
    )
    votes = draw(st.dictionaries(st.sampled_from(members), st.sampled_from(DECISIONS)))
    return policy, members, votes


def completions(members, votes):
    pending = [u for u in members if u not in votes]
    for choice in itertools.product(DECISIONS, repeat=len(pending)):
        yield {**votes, **dict(zip(pending, choice, strict=True))}


@settings(max_examples=200, deadline=None)
@given(boards())
def test_a_verdict_can_no_longer_change(board):
    """Whatever the members who have not voted yet do, a verdict given now stays."""
    policy, members, votes = board
    now = evaluate(policy, members, votes).verdict
    finals = {evaluate(policy, members, full).verdict for full in completions(members, votes)}
    assert None not in finals  # when everyone has voted there is always a verdict
    if now is not None:
        assert finals == {now}


@settings(max_examples=200, deadline=None)
@given(boards(), st.data())
def test_adding_a_vote_never_changes_a_reached_verdict(board, data):
    policy, members, votes = board
    before = evaluate(policy, members, votes).verdict
    pending = [u for u in members if u not in votes]
    if before is None or not pending:
        return
    who = data.draw(st.sampled_from(pending))
    what = data.draw(st.sampled_from(DECISIONS))
    assert evaluate(policy, members, {**votes, who: what}).verdict == before


@settings(max_examples=200, deadline=None)
@given(boards())
def test_quorum_veto_and_unanimity(board):
    policy, members, votes = board
    tally = evaluate(policy, members, votes)
    if tally.cast < tally.quorum:
        assert tally.verdict is None  # without quorum there is no verdict
    elif any(d == "reject" and policy.roles[u] in policy.veto_roles for u, d in votes.items()):
        assert tally.verdict == "reject"  # a veto always rejects
    if tally.verdict == "approve":
        assert all(
            any(policy.roles[u] == r and votes.get(u) == "approve" for u in members)
            for r in policy.required_roles
        )
        if policy.rule == "unanimous":
            # every eligible member voted, and all who did not abstain approved
            assert set(votes) == set(members)
            assert {d for d in votes.values() if d != "abstain"} == {"approve"}


@settings(max_examples=200, deadline=None)
@given(boards(), st.data())
def test_an_extra_approval_never_turns_approved_into_rejected(board, data):
    policy, members, votes = board
    if evaluate(policy, members, votes).verdict != "approve":
        return
    who = data.draw(st.sampled_from(members))
    if votes.get(who) in (None, "approve"):
        return
    votes = {**votes, who: "approve"}
    assert evaluate(policy, members, votes).verdict != "reject"


def test_weights_are_exact():
    policy = Policy(rule="weighted", threshold=Fraction(2, 3), weights={"a": 2})
    assert verdict(policy, V("aA bR"), eligible=["a", "b"]) == "approve"  # 2/3 ≥ 2/3


@settings(max_examples=200, deadline=None)
@given(boards(), st.data())
def test_order_of_votes_does_not_matter(board, data):
    """Votes arrive one at a time and the first verdict is applied: every order of the same
    ballots gives the verdict the complete ballots give."""
    policy, members, _votes = board
    ballots = {u: data.draw(st.sampled_from(DECISIONS)) for u in members}
    order = data.draw(st.permutations(members))
    final = evaluate(policy, members, ballots).verdict
    seen: dict[str, str] = {}
    applied = None
    for u in order:
        seen[u] = ballots[u]
        applied = evaluate(policy, members, seen).verdict
        if applied is not None:
            break
    assert applied == final
