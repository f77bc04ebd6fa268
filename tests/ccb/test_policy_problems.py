"""``policy.problems``: a board that could never decide is named before it is saved; and
``still_needed`` says what a board still lacks. Tables plus one property: a policy without
problems is always satisfiable (every member approving approves)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from changeflow.ccb.policy import Policy, evaluate, problems, still_needed, within_delegation
from tests.ccb.test_policy_rules import ALL_ROLES

FOUR = {"pm": "project_manager", "tl": "tech_lead", "qa": "qa", "cr": "customer_rep"}


def check(**overrides):
    args = {"members": FOUR, "rule": "majority", "threshold": None, "quorum": None,
            "required_roles": (), "veto_roles": ()}  # fmt: skip
    args.update(overrides)
    return problems(**args)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, {}),
        ({"quorum": 4}, {}),
        ({"quorum": 5}, {"quorum": ("quorum_too_large", {"q": 5, "n": 4})}),
        ({"quorum": 0}, {"quorum": ("quorum_too_large", {"q": 0, "n": 4})}),
        ({"members": {}}, {"members": ("no_members", {})}),
        ({"required_roles": ("customer_rep",)}, {}),
        ({"required_roles": ("developer",)},
         {"required_roles": ("role_not_held", {"roles": "developer"})}),
        ({"veto_roles": ("customer", "qa")},
         {"veto_roles": ("role_not_held", {"roles": "customer"})}),
        ({"rule": "weighted"}, {"threshold": ("threshold_needed", {})}),
        ({"rule": "weighted", "threshold": D(0)}, {"threshold": ("threshold_needed", {})}),
        ({"rule": "weighted", "threshold": D("1.01")}, {"threshold": ("threshold_needed", {})}),
        ({"rule": "weighted", "threshold": D(1)}, {}),
        ({"threshold": D(2)}, {"threshold": ("threshold_range", {})}),
        ({"rule": "dictator"}, {"rule": ("unknown_rule", {"rule": "dictator"})}),
    ],
)  # fmt: skip
def test_problems_table(overrides, expected):
    assert check(**overrides) == expected


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "c", "d", "e"]), st.sampled_from(ALL_ROLES), max_size=5
    ),
    st.sampled_from(["majority", "unanimous", "weighted"]),
    st.sampled_from([None, D("0.3"), D("0.5"), D(1), D("1.5"), D(0)]),
    st.none() | st.integers(0, 6),
    st.sets(st.sampled_from(ALL_ROLES), max_size=2),
    st.sets(st.sampled_from(ALL_ROLES), max_size=2),
)
def test_a_policy_without_problems_can_always_approve(
    members, rule, threshold, quorum, required, veto
):
    found = problems(
        members=members, rule=rule, threshold=threshold, quorum=quorum,
        required_roles=tuple(required), veto_roles=tuple(veto),
    )  # fmt: skip
    if found:
        return
    policy = Policy(
        rule=rule, threshold=threshold, quorum=quorum, roles=members,
        required_roles=tuple(required), veto_roles=tuple(veto),
    )  # fmt: skip
    tally = evaluate(policy, members, dict.fromkeys(members, "approve"))
    assert tally.verdict == "approve"


def test_still_needed_names_quorum_required_and_veto():
    policy = Policy(quorum=3, roles=FOUR, required_roles=("customer_rep",), veto_roles=("qa",))
    tally = evaluate(policy, FOUR, {"pm": "approve"})
    assert still_needed(tally, policy) == {
        "votes_to_quorum": 2, "required_roles": ["customer_rep"], "veto_pending": ["qa"],
        "pending": ["cr", "qa", "tl"],
    }  # fmt: skip
    tally = evaluate(policy, FOUR, {"pm": "approve", "tl": "approve", "qa": "approve"})
    needed = still_needed(tally, policy)
    assert tally.verdict is None and needed["required_roles"] == ["customer_rep"]
    assert needed["votes_to_quorum"] == 0 and needed["veto_pending"] == []
    tally = evaluate(policy, FOUR, {"pm": "approve", "tl": "approve", "qa": "approve",
                                    "cr": "approve"})  # fmt: skip
    assert tally.verdict == "approve"


@pytest.mark.parametrize(
    ("exposure", "limit", "ok"),
    [(D("0.9"), D("0.9"), True), (D("0.91"), D("0.9"), False), (None, D(1), False),
     (D(5), None, True)],
)  # fmt: skip
def test_within_delegation_risk_exposure(exposure, limit, ok):
    assert within_delegation(
        effort_hours=D(1), cost=D(1), schedule_days=D(1), max_effort_hours=D(10),
        max_cost=None, max_schedule_days=None, risk_exposure=exposure, max_risk_exposure=limit,
    ) is ok  # fmt: skip
