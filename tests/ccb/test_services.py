"""Board services: configuring a board, and votes and delegation under it."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from changeflow.accounts import services as accounts
from changeflow.ccb import selectors as ccb_selectors
from changeflow.ccb import services as ccb
from changeflow.ccb.models import Board, BoardMember
from changeflow.changes import services
from changeflow.core.errors import NotFound, PermissionDenied, PreconditionFailed, ValidationError
from changeflow.core.models import AuditEvent
from tests.factories import PASSWORD, advance, complete_assessment, fresh, make_cr

pytestmark = pytest.mark.django_db


def board(p, **overrides):
    data = {
        "members": [
            {"username": p.pm.username, "role": "project_manager", "weight": 3},
            {"username": p.tech_lead.username, "role": "tech_lead", "weight": 1},
            {"username": p.qa.username, "role": "qa", "weight": 1},
            {"username": p.customer_rep.username, "role": "customer_rep", "weight": 1},
        ],
        "rule": "majority",
    }
    data.update(overrides)
    return data


def vote(user, cr, decision="approve"):
    return services.vote_cast(user=user, cr=fresh(cr, user), decision=decision, password=PASSWORD)


def test_default_board_is_the_projects_board_roles(personas):
    p = personas
    spec = ccb_selectors.board_get(user=p.viewer, project=p.project)
    assert not spec.configured
    assert [m["role"] for m in spec.members] == sorted(
        ["project_manager", "tech_lead", "qa", "customer_rep"],
        key=[m["role"] for m in spec.members].index,
    )
    assert {m["username"] for m in spec.members} == {
        p.pm.username, p.tech_lead.username, p.qa.username, p.customer_rep.username,
    }  # fmt: skip
    assert (spec.rule, spec.quorum, spec.threshold) == ("majority", None, None)
    assert not Board.objects.exists()


@pytest.mark.parametrize("who", ["pm", "admin"])
def test_board_set_allowed_and_audited(personas, who):
    p = personas
    user = getattr(p, who)
    spec = ccb.board_set(
        user=user,
        project=p.project,
        data=board(
            p,
            rule="weighted",
            threshold="0.6",
            quorum=3,
            required_roles=["customer_rep"],
            veto_roles=["qa"],
            delegation={"max_effort_hours": "16", "max_cost": 5000, "max_schedule_days": None},
            chair=p.pm.username,
        ),
    )
    assert spec.configured and spec.rule == "weighted" and spec.threshold == D("0.6")
    assert spec.chair == p.pm.username and spec.quorum == 3
    stored = Board.objects.get(links__project=p.project)
    p.project.refresh_from_db()  # the thresholds' one place: the project
    assert p.project.delegate_max_cost == D(5000) and p.project.delegate_max_schedule_days is None
    assert BoardMember.objects.filter(board=stored).count() == 4
    event = AuditEvent.objects.filter(action="board.set").get()
    assert event.actor == user.username and event.project == p.project.key
    assert event.after["rule"] == "weighted" and event.before["rule"] == "majority"
    # replacing the board replaces its members
    ccb.board_set(user=user, project=p.project, data=board(p, members=board(p)["members"][:2]))
    assert BoardMember.objects.filter(board=stored).count() == 2
    assert AuditEvent.objects.filter(action="board.set").count() == 2


@pytest.mark.parametrize("who", ["tech_lead", "qa", "customer_rep", "developer", "viewer"])
def test_board_set_forbidden_for_other_members(personas, who):
    p = personas
    with pytest.raises(PermissionDenied):
        ccb.board_set(user=getattr(p, who), project=p.project, data=board(p))
    assert not Board.objects.exists()
    assert not AuditEvent.objects.filter(action="board.set").exists()


def test_board_outsider_is_not_found(personas):
    p = personas
    with pytest.raises(NotFound):
        ccb.board_set(user=p.outsider, project=p.project, data=board(p))
    with pytest.raises(NotFound):
        ccb_selectors.board_get(user=p.outsider, project=p.project)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"members": []}, "members"),
        ({"members": "pm"}, "members"),
        ({"members": [{"username": "nobody", "role": "qa"}]}, "members"),
        ({"members": [{"username": "outsider_acme", "role": "qa"}]}, "members"),
        ({"members": [{"role": "qa"}]}, "members"),
        ({"members": [{"username": "qa_acme", "role": "viewer"}]}, "members"),
        ({"members": [{"username": "qa_acme", "role": "boss"}]}, "members"),
        ({"members": [{"username": "qa_acme", "weight": 0}]}, "members"),
        ({"members": [{"username": "qa_acme", "weight": -1}]}, "members"),
        ({"members": [{"username": "qa_acme", "weight": "x"}]}, "members"),
        ({"members": [{"username": "qa_acme"}, {"username": "qa_acme"}]}, "members"),
        ({"members": [{"username": "qa_acme", "extra": 1}]}, "members"),
        ({"rule": "dictator"}, "rule"),
        ({"threshold": "abc"}, "threshold"),
        ({"quorum": 0}, "quorum"),
        ({"quorum": "3"}, "quorum"),
        ({"required_roles": ["boss"]}, "required_roles"),
        ({"veto_roles": "qa"}, "veto_roles"),
        ({"delegation": {"max_cost": -1}}, "delegation.max_cost"),
        ({"delegation": {"max_money": 1}}, "delegation"),
        ({"delegation": [1]}, "delegation"),
        ({"chair": "developer_acme"}, "chair"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_board_set_bad_input_names_the_field(personas, change, field):
    p = personas
    with pytest.raises(ValidationError) as err:
        ccb.board_set(user=p.pm, project=p.project, data=board(p, **change))
    assert field in err.value.fields, err.value.fields
    assert not Board.objects.exists()
    assert not AuditEvent.objects.filter(action="board.set").exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rule": "weighted"}, "threshold"),
        ({"rule": "weighted", "threshold": 0}, "threshold"),
        ({"rule": "weighted", "threshold": "1.5"}, "threshold"),
        ({"threshold": "1.5"}, "threshold"),
        ({"quorum": 5}, "quorum"),  # larger than the board: never met
        ({"required_roles": ["developer"]}, "required_roles"),  # nobody holds it
        ({"veto_roles": ["developer"]}, "veto_roles"),
    ],
)
def test_unsatisfiable_policy_is_refused_422_naming_the_problem(personas, change, field):
    p = personas
    with pytest.raises(PreconditionFailed) as err:
        ccb.board_set(user=p.pm, project=p.project, data=board(p, **change))
    assert err.value.status == 422 and err.value.code == "unsatisfiable_policy"
    assert field in err.value.fields, err.value.fields
    assert not Board.objects.exists()
    assert not AuditEvent.objects.filter(action="board.set").exists()


def test_role_defaults_to_the_project_role(personas):
    p = personas
    spec = ccb.board_set(
        user=p.pm, project=p.project, data={"members": [{"username": p.developer.username}]}
    )
    assert spec.members == [{"username": p.developer.username, "role": "developer",
                             "weight": D(1), "active": True}]  # fmt: skip


# ---------------------------------------------------------------- votes under a board


def test_weighted_board_decides_by_weight(personas):
    p = personas
    ccb.board_set(user=p.pm, project=p.project,
                  data=board(p, rule="weighted", threshold="0.5"))  # fmt: skip
    cr = advance(make_cr(p.project, by=p.customer), p, "in_review")
    _v, tally = vote(p.tech_lead, cr, "reject")
    assert tally.verdict is None
    _v, tally = vote(p.qa, cr, "reject")
    assert tally.verdict is None  # below quorum (3 of 4)
    # the PM's weight 3 against 2: 3 ≥ 0.5 · (5 + 1 pending)
    _v, tally = vote(p.pm, cr, "approve")
    assert tally.verdict == "approve"
    assert tally.details()["weights"]["approve"] == "3"
    cr = fresh(cr, p.pm)
    assert (cr.state, cr.decision_mode) == ("approved", "board")
    decided = AuditEvent.objects.filter(action="cr.decided", object_key=cr.key).get()
    assert decided.after["tally"]["verdict"] == "approve"
    cast = AuditEvent.objects.filter(action="vote.cast", object_key=cr.key)
    assert {e.after["role"] for e in cast} == {"tech_lead", "qa", "project_manager"}


def test_veto_role_rejects(personas):
    p = personas
    ccb.board_set(user=p.pm, project=p.project, data=board(p, veto_roles=["customer_rep"]))
    cr = advance(make_cr(p.project, by=p.customer), p, "in_review")
    vote(p.pm, cr)
    vote(p.qa, cr)
    _v, tally = vote(p.tech_lead, cr)
    assert tally.verdict is None  # three of four approve, but the veto holder has not voted
    assert fresh(cr, p.pm).state == "in_review"
    _v, tally = vote(p.customer_rep, cr, "reject")
    assert tally.verdict == "reject" and tally.vetoed_by == p.customer_rep.username
    assert fresh(cr, p.pm).state == "rejected"


def test_required_role_approves_last(personas):
    p = personas
    ccb.board_set(user=p.pm, project=p.project, data=board(p, required_roles=["customer_rep"]))
    cr = advance(make_cr(p.project, by=p.customer), p, "in_review")
    for user in (p.pm, p.tech_lead, p.qa):
        _v, tally = vote(user, cr)
        assert tally.verdict is None
    _purpose, tally = services.decision_tally(fresh(cr, p.pm))
    assert tally.required_missing == ("customer_rep",)
    _v, tally = vote(p.customer_rep, cr)
    assert tally.verdict == "approve"
    assert fresh(cr, p.pm).state == "approved"


def test_board_members_only_and_requester_excluded(personas):
    p = personas
    members = board(p)["members"] + [{"username": p.developer.username, "role": "developer"}]
    ccb.board_set(user=p.pm, project=p.project, data=board(p, members=members))
    cr = advance(make_cr(p.project, by=p.customer), p, "in_review")
    assert set(services.board_eligible(fresh(cr, p.pm))) == {
        p.pm.username, p.tech_lead.username, p.qa.username, p.customer_rep.username,
        p.developer.username,
    }  # fmt: skip
    _v, tally = vote(p.developer, cr)
    assert tally.eligible == 5
    # a CR the developer requested: the developer is no voter on it
    own = make_cr(p.project, by=p.developer, type="feature", priority="P2")
    assert p.developer.username not in services.board_eligible(own)
    # a member removed from the project no longer votes
    accounts.membership_remove(user=p.pm, project=p.project, username=p.qa.username)
    assert p.qa.username not in services.board_eligible(fresh(cr, p.pm))
    with pytest.raises(PermissionDenied):
        vote(p.customer, cr)


def in_review_requested_by(user, p):
    cr = make_cr(p.project, by=user, type="feature", priority="P2")
    cr = services.change_request_transition(user=user, cr=fresh(cr, user), action="submit")
    for action in ("triage", "start_assessment", "request_review"):
        if action == "request_review":
            complete_assessment(cr, by=p.tech_lead)
        cr = services.change_request_transition(
            user=p.tech_lead, cr=fresh(cr, p.tech_lead), action=action
        )
    return cr


def test_a_customer_rep_who_requested_the_cr_signs_off_when_the_board_needs_their_role(personas):
    """The only holder of a required role votes on their own request: without them the board
    could never approve it. Anyone else who requested it still does not vote."""
    p = personas
    ccb.board_set(user=p.pm, project=p.project, data=board(p, required_roles=["customer_rep"]))
    cr = in_review_requested_by(p.customer_rep, p)
    assert p.customer_rep.username in services.board_eligible(fresh(cr, p.pm))
    from changeflow.ccb import decisions

    assert [r["cr"].key for r in decisions.pending_votes(user=p.customer_rep)] == [cr.key]
    vote(p.tech_lead, cr)
    _v, tally = vote(p.pm, cr)
    assert tally.verdict is None and tally.required_missing == ("customer_rep",)
    v, tally = vote(p.customer_rep, cr)
    assert v.meaning == f"I approve change request {cr.key} as the customer representative."
    assert tally.verdict == "approve" and fresh(cr, p.pm).state == "approved"
    # without the requirement, the requester is out as before
    ccb.board_set(user=p.pm, project=p.project, data=board(p))
    other = in_review_requested_by(p.customer_rep, p)
    assert p.customer_rep.username not in services.board_eligible(fresh(other, p.pm))
    assert decisions.pending_votes(user=p.customer_rep) == []
    with pytest.raises(PermissionDenied) as err:
        vote(p.customer_rep, other)
    assert err.value.code == "own_change_request"


def test_delegation_thresholds_live_on_the_project_and_the_board_sets_them(personas):
    p = personas
    accounts.project_update(user=p.pm, project=p.project, data={"delegate_max_cost": D(100000)})
    cr = advance(make_cr(p.project, by=p.customer), p, "assessing")
    complete_assessment(cr, by=p.tech_lead)  # cost 12000
    ctx = services.workflow_context(fresh(cr, p.pm), p.pm)
    assert ctx.within_delegation  # the project's threshold, no board yet
    ccb.board_set(user=p.pm, project=p.project,
                  data=board(p, delegation={"max_cost": 10000}))  # fmt: skip
    assert not services.workflow_context(fresh(cr, p.pm), p.pm).within_delegation
    ccb.board_set(user=p.pm, project=p.project, data=board(p, delegation={"max_cost": 20000}))
    assert services.workflow_context(fresh(cr, p.pm), p.pm).within_delegation
    ccb.board_set(user=p.pm, project=p.project, data=board(p))  # no delegation: unchanged
    assert services.workflow_context(fresh(cr, p.pm), p.pm).within_delegation
    # and the project's own setting is the same threshold, not a second one
    accounts.project_update(user=p.pm, project=p.project, data={"delegate_max_cost": D(100)})
    assert not services.workflow_context(fresh(cr, p.pm), p.pm).within_delegation
    p.project.refresh_from_db()
    assert ccb_selectors.board_get(user=p.pm, project=p.project).delegation["max_cost"] == 100


def test_ratification_under_a_unanimous_board(personas):
    p = personas
    ccb.board_set(user=p.pm, project=p.project, data=board(p, rule="unanimous"))
    cr = advance(make_cr(p.project, by=p.customer, emergency=True), p, "triaged")
    services.change_request_transition(user=p.pm, cr=cr, action="approve_emergency")
    for user in (p.pm, p.tech_lead, p.qa):
        _v, tally = vote(user, cr)
        assert tally.verdict is None  # unanimity waits for every member
    _v, tally = vote(p.customer_rep, cr, "abstain")
    assert tally.verdict == "approve"
    assert fresh(cr, p.pm).ratification == "ratified"
