"""The workflow table, exhaustively and without a database.

The expected answers come from an independent transcription of API.md's roles table and
transition table (``SPEC_*`` below), never from ``workflow.TABLE``: a wrong entry in the table
makes these tests fail.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from changeflow.changes import workflow
from changeflow.changes.workflow import Action, Context, State

# ---------------------------------------------------------------- API.md, transcribed by hand

PM, TL, QA, DEV, REP, CUST, VIEWER = (
    "project_manager", "tech_lead", "qa", "developer", "customer_rep", "customer", "viewer",
)  # fmt: skip
ROLES = (PM, TL, QA, DEV, REP, CUST, VIEWER)

# Actors: the seven roles, a site admin who is no member, a site admin who is a viewer, and
# someone who is not a member of the project at all.
ACTORS = [*ROLES, "admin", "admin_viewer", "nonmember"]

# "who" of the roles table, per action (the requester clauses are in SPEC_REQUESTER_MAY).
SPEC_ROLES: dict[str, set[str]] = {
    "submit": {PM},
    "withdraw": {PM},
    "triage": {PM, TL},
    "return": {PM, TL},
    "start_assessment": {PM, TL},
    "request_review": {PM, TL},
    "approve": {PM},
    "reject": {PM},
    "defer": {PM},
    "approve_emergency": {PM},
    "reopen": {PM},
    "start_implementation": {PM, TL},
    "submit_verification": {PM, TL, DEV},
    "verify": {QA, PM},
    "reject_verification": {QA, PM},
    "ratify": set(),  # the board's votes only
}
# "submit, withdraw (own CR, before approval): the requester".
SPEC_REQUESTER_MAY = {"submit", "withdraw"}
# "Nobody ever approves, votes on or verifies a CR they requested"; the delegated decisions
# say "never the requester"; an emergency approval is an approval.
SPEC_NEVER_REQUESTER = {"approve", "reject", "defer", "approve_emergency", "verify"}

PRE_APPROVAL = {"draft", "submitted", "triaged", "assessing", "in_review", "returned", "deferred"}
# from-states → to-state, per action (the transition table).
SPEC_TRANSITIONS: dict[str, tuple[set[str], str | None]] = {
    "submit": ({"draft", "returned"}, "submitted"),
    "triage": ({"submitted"}, "triaged"),
    "return": ({"submitted", "triaged", "assessing", "in_review"}, "returned"),
    "start_assessment": ({"triaged"}, "assessing"),
    "request_review": ({"assessing"}, "in_review"),
    "approve": ({"assessing", "in_review"}, "approved"),
    "reject": ({"assessing", "in_review"}, "rejected"),
    "defer": ({"assessing", "in_review"}, "deferred"),
    "reopen": ({"deferred"}, "triaged"),
    "approve_emergency": ({"triaged", "assessing", "in_review"}, "implementing"),
    "ratify": (set(), None),  # never callable
    "start_implementation": ({"approved"}, "implementing"),
    "submit_verification": ({"implementing"}, "verifying"),
    "verify": ({"verifying"}, "closed"),
    "reject_verification": ({"verifying"}, "implementing"),
    "withdraw": (PRE_APPROVAL, "withdrawn"),
}
SPEC_FINAL = {"closed", "rejected", "withdrawn"}
ALL_STATES = [s.value for s in State]
ALL_ACTIONS = [a.value for a in Action]


def spec_preconditions_met(action: str, ctx: Context) -> bool:
    """The precondition column of the transition table."""
    match action:
        case "submit":
            return ctx.has_title_and_description
        case "triage":
            return ctx.type_set and ctx.priority_set
        case "return" | "reject_verification":
            return ctx.has_comment
        case "request_review":
            return ctx.assessment_complete
        case "approve" | "reject" | "defer":
            return ctx.assessment_complete and ctx.within_delegation
        case "approve_emergency":
            return ctx.emergency
        case "start_implementation":
            return ctx.emergency or not ctx.in_freeze
        case "verify":
            return ctx.actual_effort_recorded
    return True


def spec_may(action: str, ctx: Context) -> bool:
    """Who may take the action at all (the roles table), whatever the state."""
    if action == "ratify":
        return False
    if ctx.is_requester and action in SPEC_NEVER_REQUESTER:
        return False
    if ctx.is_admin:
        return True
    if ctx.role is None or ctx.role == VIEWER:
        return False
    if ctx.role in SPEC_ROLES[action]:
        return True
    return ctx.is_requester and action in SPEC_REQUESTER_MAY


def spec_outcome(action: str, ctx: Context) -> str | None:
    """None when allowed, else the kind of denial, checked in the documented order:
    who (forbidden) → state → preconditions."""
    if not spec_may(action, ctx):
        return "forbidden"
    if ctx.state.value not in SPEC_TRANSITIONS[action][0]:
        return "state"
    if not spec_preconditions_met(action, ctx):
        return "precondition"
    return None


ALL_MET = {
    "has_title_and_description": True,
    "type_set": True,
    "priority_set": True,
    "has_comment": True,
    "assessment_complete": True,
    "within_delegation": True,
    "emergency": True,
    "actual_effort_recorded": True,
    "in_freeze": False,
}
NONE_MET = {
    "has_title_and_description": False,
    "type_set": False,
    "priority_set": False,
    "has_comment": False,
    "assessment_complete": False,
    "within_delegation": False,
    "emergency": False,
    "actual_effort_recorded": False,
    "in_freeze": True,
}


def ctx_for(state: str, actor: str, requester: bool, **facts) -> Context:
    role = {"admin": None, "admin_viewer": VIEWER, "nonmember": None}.get(actor, actor)
    return Context(
        state=State(state),
        role=role,
        is_admin=actor in ("admin", "admin_viewer"),
        is_requester=requester,
        **facts,
    )


# ---------------------------------------------------------------- the exhaustive table


@pytest.mark.parametrize("requester", [False, True], ids=["other", "requester"])
@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("action", ALL_ACTIONS)
@pytest.mark.parametrize("state", ALL_STATES)
def test_every_state_action_actor(state, action, actor, requester):
    # once with every precondition met, once with none met
    for facts in (ALL_MET, NONE_MET):
        ctx = ctx_for(state, actor, requester, **facts)
        denial = workflow.evaluate(action, ctx)
        expected = spec_outcome(action, ctx)
        assert (denial.kind if denial else None) == expected, (facts, denial, expected)
        if expected is None:
            assert workflow.target_state(action, State(state)) == SPEC_TRANSITIONS[action][1]


@pytest.mark.parametrize("requester", [False, True])
@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("state", ALL_STATES)
def test_available_actions(state, actor, requester):
    # available_actions assumes a comment comes with the action.
    facts = {**ALL_MET, "has_comment": False}
    ctx = ctx_for(state, actor, requester, **facts)
    expected = {a for a in ALL_ACTIONS if spec_outcome(a, replace(ctx, has_comment=True)) is None}
    assert {a.value for a in workflow.available_actions(ctx)} == expected


@pytest.mark.parametrize("requester", [False, True])
@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("state", sorted(SPEC_FINAL))
def test_final_states_have_no_actions(state, actor, requester):
    ctx = ctx_for(state, actor, requester, **ALL_MET)
    assert workflow.available_actions(ctx) == []
    assert workflow.can_edit(ctx) is False
    assert workflow.can_record_actuals(ctx) is False


def test_spec_and_table_agree_on_final_states():
    assert {s.value for s in workflow.FINAL_STATES} == SPEC_FINAL
    # a final state is the source of no transition
    for action, (sources, _to) in SPEC_TRANSITIONS.items():
        assert not sources & SPEC_FINAL, action


# ---------------------------------------------------------------- preconditions one by one

# (action, a state it starts from, the one fact that is missing, the code of the denial)
PRECONDITIONS = [
    ("submit", "draft", {"has_title_and_description": False}, "missing_fields"),
    ("triage", "submitted", {"type_set": False}, "classification_required"),
    ("triage", "submitted", {"priority_set": False}, "classification_required"),
    ("return", "assessing", {"has_comment": False}, "comment_required"),
    ("reject_verification", "verifying", {"has_comment": False}, "comment_required"),
    ("request_review", "assessing", {"assessment_complete": False}, "assessment_required"),
    ("approve", "in_review", {"assessment_complete": False}, "assessment_required"),
    ("approve", "in_review", {"within_delegation": False}, "above_delegation"),
    ("reject", "assessing", {"within_delegation": False}, "above_delegation"),
    ("defer", "in_review", {"within_delegation": False}, "above_delegation"),
    ("approve_emergency", "triaged", {"emergency": False}, "not_emergency"),
    ("start_implementation", "approved", {"in_freeze": True, "emergency": False}, "freeze_window"),
    ("verify", "verifying", {"actual_effort_recorded": False}, "actuals_required"),
]


@pytest.mark.parametrize(("action", "state", "missing", "code"), PRECONDITIONS)
def test_each_precondition_alone(action, state, missing, code):
    actor = PM if action != "verify" else QA
    ok = ctx_for(state, actor, False, **ALL_MET)
    assert workflow.evaluate(action, ok) is None
    denial = workflow.evaluate(action, replace(ok, **missing))
    assert denial is not None
    assert (denial.kind, denial.code) == ("precondition", code)


def test_emergency_may_start_implementation_inside_a_freeze():
    ctx = ctx_for("approved", TL, False, **{**ALL_MET, "in_freeze": True, "emergency": True})
    assert workflow.evaluate("start_implementation", ctx) is None


@pytest.mark.parametrize("action", sorted(SPEC_NEVER_REQUESTER))
@pytest.mark.parametrize("actor", [PM, QA, "admin"])
def test_requester_never_decides_even_as_pm_or_admin(action, actor):
    state = next(iter(sorted(SPEC_TRANSITIONS[action][0])))
    ctx = ctx_for(state, actor, True, **ALL_MET)
    denial = workflow.evaluate(action, ctx)
    assert denial is not None and denial.kind == "forbidden"


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("state", ALL_STATES)
def test_ratify_is_never_callable(state, actor):
    for requester in (False, True):
        ctx = replace(ctx_for(state, actor, requester, **ALL_MET), ratification_pending=True)
        denial = workflow.evaluate("ratify", ctx)
        assert denial is not None and denial.kind == "forbidden"
        assert Action.RATIFY not in workflow.available_actions(ctx)


@pytest.mark.parametrize("action", ["", "approve!", "APPROVE", "vote", "close"])
def test_unknown_action_is_invalid(action):
    denial = workflow.evaluate(action, ctx_for("draft", PM, False, **ALL_MET))
    assert denial is not None and denial.kind == "invalid"


# ---------------------------------------------------------------- edit and actuals


def spec_can_edit(state: str, actor: str, requester: bool) -> bool:
    """'its requester while draft/returned; project_manager, tech_lead until closed'."""
    if state in SPEC_FINAL:
        return False
    if actor in ("admin", "admin_viewer"):
        return True
    if actor in ("nonmember", VIEWER):
        return False
    if actor in (PM, TL):
        return True
    return requester and state in ("draft", "returned")


def spec_can_record_actuals(state: str, actor: str) -> bool:
    """'submit_verification, record actuals: PM, TL, developer', during implementation and
    verification."""
    if state not in ("implementing", "verifying"):
        return False
    return actor in ("admin", "admin_viewer", PM, TL, DEV)


@pytest.mark.parametrize("requester", [False, True])
@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("state", ALL_STATES)
def test_can_edit_and_record_actuals(state, actor, requester):
    ctx = ctx_for(state, actor, requester, **ALL_MET)
    assert workflow.can_edit(ctx) is spec_can_edit(state, actor, requester)
    assert workflow.can_record_actuals(ctx) is spec_can_record_actuals(state, actor)


# ---------------------------------------------------------------- reachability


def test_reachable_states_cover_every_state():
    assert {s.value for s in workflow.reachable_states()} == set(ALL_STATES)


def test_spec_graph_reaches_every_state_from_draft():
    # The independent table agrees: nothing in API.md is unreachable.
    seen, frontier = {"draft"}, ["draft"]
    while frontier:
        state = frontier.pop()
        for sources, target in SPEC_TRANSITIONS.values():
            if state in sources and target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == set(ALL_STATES)


def test_table_targets_match_spec():
    for action in ALL_ACTIONS:
        sources, target = SPEC_TRANSITIONS[action]
        for state in ALL_STATES:
            if state in sources:
                assert workflow.target_state(action, State(state)) == target


def test_every_action_has_a_label():
    assert set(workflow.ACTION_LABELS) == set(Action)
