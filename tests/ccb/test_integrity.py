"""Integrity of the board's decisions: signatures and their meaning, votes reset on material
change, the voters snapshot taken when a review starts, members who leave the project, the
chair's emergency approval, delegation limits including risk exposure, shared boards."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from changeflow.accounts import services as accounts
from changeflow.ccb import decisions
from changeflow.ccb import selectors as ccb_selectors
from changeflow.ccb import services as ccb
from changeflow.ccb.models import Board, BoardProject, VotingSnapshot
from changeflow.changes import services
from changeflow.changes.models import Vote
from changeflow.core import audit
from changeflow.core.errors import InvalidTransition, PermissionDenied, ValidationError
from changeflow.core.models import AuditEvent
from tests.factories import PASSWORD, advance, complete_assessment, fresh, make_cr, make_project

pytestmark = pytest.mark.django_db


def members(p, *, with_developer=False):
    rows = [
        {"username": p.pm.username, "role": "project_manager"},
        {"username": p.tech_lead.username, "role": "tech_lead"},
        {"username": p.qa.username, "role": "qa"},
        {"username": p.customer_rep.username, "role": "customer_rep"},
    ]
    if with_developer:
        rows.append({"username": p.developer.username, "role": "developer"})
    return rows


def vote(user, cr, decision="approve", comment=""):
    return services.vote_cast(
        user=user, cr=fresh(cr, user), decision=decision, password=PASSWORD, comment=comment
    )


def in_review(p):
    return advance(make_cr(p.project, by=p.customer), p, "in_review")


# ---------------------------------------------------------------- e-signature


def test_signature_records_meaning_time_and_signer(personas):
    p = personas
    cr = in_review(p)
    v, _t = vote(p.customer_rep, cr, comment="OK for us")
    assert v.meaning == f"I approve change request {cr.key} as the customer representative."
    assert v.signed_at is not None and v.voter == p.customer_rep
    event = AuditEvent.objects.filter(action="vote.cast", object_key=cr.key).get()
    assert event.actor == p.customer_rep.username
    assert event.after["meaning"] == v.meaning and event.after["signer"] == "customer_rep_acme"
    assert event.after["signature"] == "password re-entered"


def test_wrong_password_records_nothing(personas):
    p = personas
    cr = in_review(p)
    with pytest.raises(PermissionDenied) as err:
        services.vote_cast(user=p.qa, cr=fresh(cr, p.qa), decision="approve", password="nope")
    assert err.value.code == "invalid_signature"
    assert not Vote.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="vote.").exists()


def test_requester_may_not_vote_on_own_cr(personas):
    p = personas
    cr = make_cr(p.project, by=p.qa, submit=True, type="feature", priority="P2")
    for action in ("triage", "start_assessment", "request_review"):
        if action == "request_review":
            complete_assessment(cr, by=p.tech_lead)
        cr = services.change_request_transition(
            user=p.tech_lead, cr=fresh(cr, p.tech_lead), action=action
        )
    with pytest.raises(PermissionDenied) as err:
        vote(p.qa, cr)
    assert err.value.code == "own_change_request"
    assert not Vote.objects.exists()


def test_a_changed_vote_replaces_the_first_and_both_are_audited(personas):
    p = personas
    cr = in_review(p)
    vote(p.qa, cr, "reject")
    v, _t = vote(p.qa, cr, "approve")
    assert Vote.objects.filter(change_request=cr).count() == 1 and v.decision == "approve"
    changed = AuditEvent.objects.get(action="vote.changed", object_key=cr.key)
    assert changed.before["decision"] == "reject" and changed.after["decision"] == "approve"
    assert "reject" in changed.before["meaning"]


def test_voting_after_the_decision_is_409(personas):
    p = personas
    cr = in_review(p)
    for user in (p.pm, p.tech_lead, p.qa):
        vote(user, cr)
    assert fresh(cr, p.pm).state == "approved"
    with pytest.raises(InvalidTransition):
        vote(p.customer_rep, cr)


# ---------------------------------------------------------------- reset on material change


def test_material_change_of_the_assessment_resets_the_votes_and_tells_the_members(personas):
    p = personas
    cr = in_review(p)
    vote(p.pm, cr)
    vote(p.qa, cr, "reject")
    complete_assessment(cr, by=p.tech_lead, cost="30000")
    assert not Vote.objects.filter(change_request=cr, voided_at__isnull=True).exists()
    kept = Vote.objects.filter(change_request=cr)
    assert kept.count() == 2 and all(v.void_reason for v in kept)  # never deleted
    event = AuditEvent.objects.get(action="votes.reset", object_key=cr.key)
    assert "cost" in event.after["reason"]
    assert event.after["voided"] == 2
    assert set(event.after["notify"]) >= {p.pm.username, p.qa.username, p.customer_rep.username}
    _purpose, tally = services.decision_tally(fresh(cr, p.pm))
    assert tally.cast == 0
    # the members vote again on the new figures
    vote(p.pm, cr)
    assert services.decision_tally(fresh(cr, p.pm))[1].cast == 1
    assert audit.verify().ok


@pytest.mark.parametrize(
    ("change", "material"),
    [
        ({"notes": "typo fixed"}, False),
        ({"method": "expert"}, False),
        ({"resources": [{"role": "qa", "hours": "4"}]}, False),
        (
            {
                "risks": [
                    {
                        "description": "SMS gateway QUOTA",
                        "probability": "0.3",
                        "impact": 3,
                        "mitigation": "ask early",
                    }
                ]
            },
            False,
        ),  # fmt: skip
        ({"effort_hours": "41"}, True),
        ({"schedule_days": "6"}, True),
        ({"cost": "12001"}, True),
        ({"currency": "USD"}, True),
        (
            {"risks": [{"description": "SMS gateway quota", "probability": "0.5", "impact": 3}]},
            True,
        ),
        (
            {
                "risks": [
                    {"description": "SMS gateway quota", "probability": "0.3", "impact": 3},
                    {"description": "new", "probability": "0.1", "impact": 1},
                ]
            },
            True,
        ),  # fmt: skip
    ],
)
def test_what_is_material(personas, change, material):
    p = personas
    cr = in_review(p)
    vote(p.pm, cr)
    complete_assessment(cr, by=p.tech_lead, **change)
    live = Vote.objects.filter(change_request=cr, voided_at__isnull=True).count()
    assert live == (0 if material else 1)
    assert AuditEvent.objects.filter(action="votes.reset").exists() == material


def test_reset_votes_for_change_sets_and_nothing_to_reset(personas):
    p = personas
    cr = in_review(p)
    assert ccb.reset_votes(cr=cr, reason="change set edited", by=p.pm) == 0
    assert not AuditEvent.objects.filter(action="votes.reset").exists()
    vote(p.qa, cr)
    assert ccb.reset_votes(cr=cr, reason="change set edited", by=p.pm) == 1
    event = AuditEvent.objects.get(action="votes.reset")
    assert event.actor == p.pm.username and event.after["reason"] == "change set edited"


def test_reset_during_ratification(personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer, emergency=True), p, "triaged")
    services.change_request_transition(user=p.pm, cr=fresh(cr, p.pm), action="approve_emergency")
    vote(p.qa, cr)
    assert ccb.reset_votes(cr=fresh(cr, p.pm), reason="scope grew", by=p.tech_lead) == 1
    assert AuditEvent.objects.get(action="votes.reset").after["purpose"] == "ratification"


# ---------------------------------------------------------------- snapshot and leavers


def test_board_change_mid_review_does_not_change_the_tally(personas):
    p = personas
    cr = in_review(p)  # default board: pm, tech lead, qa, customer rep
    vote(p.pm, cr)
    # The PM now configures a board of two with unanimity
    ccb.board_set(
        user=p.pm, project=p.project,
        data={"members": members(p)[:2], "rule": "unanimous"},
    )  # fmt: skip
    purpose, tally = services.decision_tally(fresh(cr, p.pm))
    assert tally.eligible == 4 and tally.verdict is None  # still the board of the review
    vote(p.qa, cr)  # the QA, no longer on the board, still votes on this review
    _v, tally = vote(p.customer_rep, cr)
    assert tally.verdict == "approve" and fresh(cr, p.pm).state == "approved"
    # A new review uses the new board
    cr2 = in_review(p)
    with pytest.raises(PermissionDenied):
        vote(p.qa, cr2)
    snap = VotingSnapshot.objects.get(change_request=cr2)
    assert snap.eligible == sorted([p.pm.username, p.tech_lead.username])


def test_a_member_removed_from_the_project_no_longer_votes_nor_counts(personas):
    p = personas
    ccb.board_set(
        user=p.pm, project=p.project,
        data={"members": members(p, with_developer=True), "quorum": 5},
    )  # fmt: skip
    cr = in_review(p)
    accounts.membership_remove(user=p.pm, project=p.project, username=p.developer.username)
    with pytest.raises(Exception) as err:  # not a member: the CR does not exist for them
        vote(p.developer, cr)
    assert getattr(err.value, "status", None) in (403, 404)
    _p, tally = services.decision_tally(fresh(cr, p.pm))
    assert tally.eligible == 4 and tally.quorum == 4  # quorum capped at who is left
    spec = ccb_selectors.board_get(user=p.pm, project=p.project)
    assert [m["active"] for m in spec.members if m["username"] == p.developer.username] == [False]


def test_the_only_holder_of_a_required_role_cannot_leave_until_the_board_changes(personas, api):
    """Removing the customer representative whom the policy requires would leave a board that
    can never decide: refused (422, nothing removed, nothing audited) until the board changes."""
    from changeflow.accounts.models import Membership
    from tests.api.conftest import error_of

    p = personas
    ccb.board_set(
        user=p.pm, project=p.project,
        data={"members": members(p), "required_roles": ["customer_rep"]},
    )  # fmt: skip
    url = f"/api/v1/projects/{p.project.key}/members/{p.customer_rep.username}/"
    client = api(p.pm)
    before = AuditEvent.objects.count()
    r = client.delete(url)
    assert r.status_code == 422, r.content
    err = error_of(r)
    assert err["code"] == "board_needs_member" and p.customer_rep.username in err["message"]
    assert "required_roles" in err["fields"]
    assert Membership.objects.filter(project=p.project, user=p.customer_rep).exists()
    assert AuditEvent.objects.count() == before
    # Not required any more: the representative may leave; the seat stays, inactive.
    ccb.board_set(user=p.pm, project=p.project, data={"members": members(p)})
    assert client.delete(url).status_code == 204
    spec = ccb_selectors.board_get(user=p.pm, project=p.project)
    assert [m["active"] for m in spec.members if m["username"] == p.customer_rep.username] == [
        False
    ]


# ---------------------------------------------------------------- delegation


@pytest.mark.parametrize(
    ("limits", "within"),
    [
        ({"max_risk_exposure": "0.9"}, True),  # the assessment's largest risk: 0.3 × 3
        ({"max_risk_exposure": "0.89"}, False),
        ({"max_cost": "12000", "max_risk_exposure": "1"}, True),
        ({"max_cost": "11999.99"}, False),
        ({"max_effort_hours": "40", "max_schedule_days": "5"}, True),
        ({"max_schedule_days": "4.99"}, False),
        ({}, False),  # no threshold: no delegation
    ],
)
def test_delegation_limits_including_risk_exposure(personas, limits, within):
    p = personas
    ccb.delegation_set(user=p.pm, project=p.project, limits=limits)
    cr = advance(make_cr(p.project, by=p.customer), p, "assessing")
    complete_assessment(cr, by=p.tech_lead)
    ctx = services.workflow_context(fresh(cr, p.pm), p.pm)
    assert ctx.within_delegation is within
    if within:
        cr = services.change_request_transition(user=p.pm, cr=fresh(cr, p.pm), action="approve")
        assert cr.decision_mode == "delegated"
        event = AuditEvent.objects.get(action="cr.approve", object_key=cr.key)
        assert event.after["decision_mode"] == "delegated" and "delegation" in event.after
    else:
        with pytest.raises(Exception) as err:
            services.change_request_transition(user=p.pm, cr=fresh(cr, p.pm), action="approve")
        assert err.value.status == 422 and err.value.code == "above_delegation"


def test_delegation_set_is_pm_only_and_audited(personas):
    p = personas
    with pytest.raises(PermissionDenied):
        ccb.delegation_set(user=p.tech_lead, project=p.project, limits={"max_cost": 1})
    ccb.delegation_set(user=p.pm, project=p.project, limits={"max_risk_exposure": "2"})
    p.project.refresh_from_db()
    assert p.project.delegate_max_risk_exposure == D(2)
    assert AuditEvent.objects.filter(action="delegation.set").count() == 1


# ---------------------------------------------------------------- chair and emergencies


def test_the_chair_may_approve_an_emergency(personas):
    p = personas
    ccb.board_set(
        user=p.pm, project=p.project,
        data={"members": members(p), "chair": p.tech_lead.username},
    )  # fmt: skip
    cr = advance(make_cr(p.project, by=p.customer, emergency=True), p, "triaged")
    with pytest.raises(PermissionDenied):
        services.change_request_transition(
            user=p.qa, cr=fresh(cr, p.qa), action="approve_emergency"
        )
    cr = services.change_request_transition(
        user=p.tech_lead, cr=fresh(cr, p.tech_lead), action="approve_emergency"
    )
    assert cr.state == "implementing" and cr.ratification == "pending"


def test_unratified_listed_with_deadline_and_overdue_flag(personas):
    p = personas
    ccb.board_set(
        user=p.pm, project=p.project, data={"members": members(p), "ratification_days": 2}
    )
    cr = advance(make_cr(p.project, by=p.customer, emergency=True), p, "triaged")
    services.change_request_transition(user=p.pm, cr=fresh(cr, p.pm), action="approve_emergency")
    rows = decisions.unratified(user=p.viewer, project=p.project)
    assert [r["cr"].key for r in rows] == [cr.key] and not rows[0]["overdue"]
    assert (rows[0]["due"] - rows[0]["approved_at"]).days == 2
    later = rows[0]["approved_at"] + __import__("datetime").timedelta(days=2, seconds=1)
    rows = decisions.unratified(user=p.viewer, project=p.project, now=later)
    assert rows[0]["overdue"]
    assert decisions.unratified(user=p.outsider, project=p.project) == []
    # ratified: no longer listed
    for user in (p.pm, p.tech_lead, p.qa):
        vote(user, cr)
    assert fresh(cr, p.pm).ratification == "ratified"
    assert decisions.unratified(user=p.viewer, project=p.project) == []


def test_emergency_implemented_then_ratified_through_votes(personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer, emergency=True), p, "triaged")
    services.change_request_transition(user=p.pm, cr=fresh(cr, p.pm), action="approve_emergency")
    services.change_request_update(
        user=p.developer, cr=fresh(cr, p.developer), data={"actual_effort_hours": "3"}
    )
    services.change_request_transition(
        user=p.developer, cr=fresh(cr, p.developer), action="submit_verification"
    )
    with pytest.raises(Exception) as err:
        vote(p.qa, cr, "defer")  # a ratification is approved, rejected or abstained
    assert err.value.status == 400
    for user in (p.pm, p.tech_lead, p.qa):
        vote(user, cr)
    cr = fresh(cr, p.pm)
    assert cr.ratification == "ratified" and cr.state == "verifying"
    assert AuditEvent.objects.filter(action="cr.ratified", object_key=cr.key).count() == 1


# ---------------------------------------------------------------- pending votes, supervision


def test_pending_votes_per_member(personas, django_assert_max_num_queries):
    p = personas
    cr = in_review(p)
    cr2 = in_review(p)
    assert [r["cr"].key for r in decisions.pending_votes(user=p.qa)] == [cr.key, cr2.key]
    vote(p.qa, cr)
    with django_assert_max_num_queries(6):
        rows = decisions.pending_votes(user=p.qa)
    assert [r["cr"].key for r in rows] == [cr2.key]
    assert decisions.pending_votes(user=p.customer) == []  # the requester; not on the board
    assert decisions.pending_votes(user=p.developer) == []  # not on the default board
    assert decisions.pending_votes(user=p.outsider) == []
    complete_assessment(cr, by=p.tech_lead, cost="99999")  # reset: to be cast again
    assert {r["cr"].key for r in decisions.pending_votes(user=p.qa)} == {cr.key, cr2.key}


def test_supervision_lists_approved_to_closed_with_owner_and_overdue(personas):
    import datetime as dt

    p = personas
    late = make_cr(p.project, by=p.customer, desired_date=dt.date(2020, 1, 1))
    late = advance(late, p, "implementing")
    ok = advance(make_cr(p.project, by=p.customer), p, "approved")
    rows = decisions.supervision(user=p.viewer, project=p.project)
    by_key = {r["cr"].key: r for r in rows}
    assert set(by_key) == {late.key, ok.key}
    assert by_key[late.key]["overdue"] and by_key[late.key]["owner"] == p.tech_lead.username
    assert not by_key[ok.key]["overdue"] and by_key[ok.key]["owner"] == ""
    assert decisions.supervision(user=p.outsider, project=p.project) == []


# ---------------------------------------------------------------- shared boards


def test_a_board_serves_several_projects(personas):
    p = personas
    other = make_project("BETA", manager=p.pm)
    for user, role in ((p.tech_lead, "tech_lead"), (p.qa, "qa")):
        accounts.membership_set(user=p.pm, project=other, username=user.username, role=role)
    spec = ccb.board_set(
        user=p.pm, project=p.project,
        data={"members": members(p)[:3], "projects": ["BETA"], "name": "Shared CCB"},
    )  # fmt: skip
    assert spec.projects == ["ACME", "BETA"]
    assert Board.objects.count() == 1 and BoardProject.objects.count() == 2
    beta = ccb_selectors.board_get(user=p.pm, project=other)
    assert beta.configured and beta.name == "Shared CCB"
    # a project one does not belong to does not exist; one not managed is refused
    with pytest.raises(ValidationError):
        ccb.board_set(
            user=p.pm, project=p.project,
            data={"members": members(p)[:3], "projects": ["OTHER"]},
        )  # fmt: skip
    gamma = make_project("GAMMA", manager=p.tech_lead)
    accounts.membership_set(
        user=p.tech_lead, project=gamma, username=p.pm.username, role="developer"
    )
    with pytest.raises(PermissionDenied):
        ccb.board_set(
            user=p.pm, project=p.project,
            data={"members": members(p)[:3], "projects": ["BETA", "GAMMA"]},
        )  # fmt: skip
    # detaching: BETA back to the default board, ACME keeps the board
    ccb.board_set(user=p.pm, project=p.project, data={"members": members(p)[:3], "projects": []})
    other.__dict__.pop("_ccb_board", None)
    assert not ccb_selectors.board_get(user=p.pm, project=other).configured
    ccb.board_remove(user=p.pm, project=p.project)
    assert not Board.objects.exists()
    assert AuditEvent.objects.filter(action="board.removed").count() == 1
