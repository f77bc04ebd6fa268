"""The board's pure policy: eligibility, the tally, the verdict, delegation."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeflow.ccb import policy

FOUR = ["a", "b", "c", "d"]


def test_eligible_voters_are_board_roles_without_the_requester():
    members = [("pm", "project_manager"), ("tl", "tech_lead"), ("qa", "qa"),
               ("rep", "customer_rep"), ("dev", "developer"), ("cust", "customer"),
               ("view", "viewer")]  # fmt: skip
    assert policy.eligible_voters(members, requester="cust") == ["pm", "qa", "rep", "tl"]
    assert policy.eligible_voters(members, requester="qa") == ["pm", "rep", "tl"]
    assert policy.eligible_voters(members, requester="x", roles=["developer"]) == ["dev"]


def test_the_requester_votes_only_as_the_sole_holder_of_a_required_role():
    members = [("pm", "project_manager"), ("tl", "tech_lead"), ("rep", "customer_rep")]
    both = ["pm", "rep", "tl"]
    need_rep = {"roles": None, "required_roles": ["customer_rep"]}
    assert policy.eligible_voters(members, requester="rep", **need_rep) == both
    # not required: excluded as ever
    assert policy.eligible_voters(members, requester="rep", roles=None) == ["pm", "tl"]
    # another holder of the role can give the sign-off: the requester is excluded
    two_reps = [*members, ("rep2", "customer_rep")]
    assert policy.eligible_voters(two_reps, requester="rep", **need_rep) == ["pm", "rep2", "tl"]
    # a requester holding some other, unrequired role stays out
    assert policy.eligible_voters(members, requester="tl", **need_rep) == ["pm", "rep"]


def test_no_eligible_members_never_decides():
    tally = policy.decide([], {"a": "approve"})
    assert (tally.eligible, tally.quorum, tally.cast, tally.verdict) == (0, 0, 0, None)


@pytest.mark.parametrize(
    ("votes", "verdict"),
    [
        ({}, None),
        ({"a": "approve"}, None),
        ({"a": "approve", "b": "approve"}, None),  # half is not a majority
        ({"a": "approve", "b": "approve", "c": "approve"}, "approve"),
        ({"a": "reject", "b": "reject", "c": "reject"}, "reject"),
        ({"a": "defer", "b": "defer", "c": "defer"}, "defer"),
        ({"a": "approve", "b": "approve", "c": "reject", "d": "reject"}, "defer"),  # tie
        ({"a": "approve", "b": "approve", "c": "reject", "d": "abstain"}, "approve"),
        ({"a": "abstain", "b": "abstain", "c": "abstain", "d": "abstain"}, "defer"),
        ({"a": "approve", "b": "reject", "c": "defer", "d": "abstain"}, "defer"),  # 3-way tie
        ({"a": "approve", "b": "abstain", "c": "abstain", "d": "abstain"}, "approve"),
        ({"a": "abstain", "b": "abstain", "c": "abstain"}, None),  # not everyone voted
    ],
)
def test_simple_majority_of_four(votes, verdict):
    tally = policy.decide(FOUR, votes)
    assert tally.verdict == verdict
    assert (tally.eligible, tally.quorum, tally.cast) == (4, 3, len(votes))


def test_votes_of_non_eligible_people_are_ignored():
    tally = policy.decide(["a", "b", "c"], {"a": "approve", "x": "approve", "y": "approve"})
    assert tally.verdict is None and tally.cast == 1
    assert tally.as_dict()["counts"] == {"approve": 1, "reject": 0, "defer": 0, "abstain": 0}


def test_single_member_board_and_odd_boards():
    assert policy.decide(["a"], {"a": "reject"}).verdict == "reject"
    assert policy.decide(["a"], {"a": "abstain"}).verdict == "defer"
    three = ["a", "b", "c"]
    assert policy.decide(three, {"a": "approve", "b": "approve"}).verdict == "approve"
    assert policy.decide(three, {"a": "approve", "b": "reject"}).verdict is None
    assert policy.decide(three, {"a": "approve", "b": "reject", "c": "abstain"}).verdict == "defer"


@given(
    n=st.integers(1, 9),
    votes=st.dictionaries(st.integers(0, 12), st.sampled_from(policy.DECISIONS)),
)
def test_majority_invariants(n, votes):
    eligible = [f"u{i}" for i in range(n)]
    named = {f"u{k}": d for k, d in votes.items()}
    tally = policy.decide(eligible, named)
    valid = {u: d for u, d in named.items() if u in eligible}
    assert tally.cast == len(valid)
    assert tally.quorum == n // 2 + 1
    if tally.verdict is not None:
        assert tally.verdict in ("approve", "reject", "defer")
        # decided only by an absolute majority, or once everyone has voted
        majority = sum(1 for d in valid.values() if d == tally.verdict) * 2 > n
        assert majority or len(valid) == n
    if any(sum(1 for d in valid.values() if d == x) * 2 > n for x in ("approve", "reject")):
        assert tally.verdict in ("approve", "reject")
    if len(valid) < n and not any(
        sum(1 for d in valid.values() if d == x) * 2 > n for x in ("approve", "reject", "defer")
    ):
        assert tally.verdict is None


L = {"max_effort_hours": D(40), "max_cost": D(10000), "max_schedule_days": D(5)}


@pytest.mark.parametrize(
    ("values", "limits", "ok"),
    [
        ((D(40), D(10000), D(5)), L, True),  # at the thresholds
        ((D(41), D(10000), D(5)), L, False),
        ((D(1), D(10001), D(1)), L, False),
        ((D(1), D(1), D("5.01")), L, False),
        ((None, D(1), D(1)), L, False),  # a missing value under a set threshold
        ((D(1000), None, None), {**L, "max_effort_hours": None, "max_schedule_days": None}, False),
        ((D(1000), D(1), None), {**L, "max_effort_hours": None, "max_schedule_days": None}, True),
        ((D(1), D(1), D(1)), dict.fromkeys(L), False),  # nothing set: no delegation
        ((D(0), D(0), D(0)), {k: D(0) for k in L}, True),
    ],
)
def test_within_delegation(values, limits, ok):
    effort, cost, days = values
    assert (
        policy.within_delegation(effort_hours=effort, cost=cost, schedule_days=days, **limits) is ok
    )
