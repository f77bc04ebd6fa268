"""The change-request services: keys, history, compare-and-set, decisions, comments, files."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from changeflow.accounts import services as accounts
from changeflow.changes import selectors, services
from changeflow.changes.models import Attachment, Comment, ImpactAssessment, Risk, Vote
from changeflow.core import audit
from changeflow.core.errors import (
    ApplicationError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    RateLimited,
    StalePrecondition,
    TooLarge,
    ValidationError,
)
from changeflow.core.models import AuditEvent
from tests.factories import PASSWORD, advance, complete_assessment, fresh, make_cr

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def events(cr, action=None):
    qs = AuditEvent.objects.filter(object_key=cr.key).order_by("seq")
    return qs.filter(action=action) if action else qs


def to_state(cr, p, to):
    """Like ``advance`` for a CR whatever its requester: the PM submits it."""
    cr = services.change_request_transition(user=p.pm, cr=fresh(cr, p.pm), action="submit")
    cr = services.change_request_update(
        user=p.pm, cr=cr, data={"type": "feature", "priority": "P2"}
    )
    for action in ("triage", "start_assessment", "request_review"):
        if cr.state == to:
            return cr
        if action == "request_review":
            complete_assessment(cr, by=p.tech_lead)
        cr = services.change_request_transition(user=p.tech_lead, cr=fresh(cr, p.pm), action=action)
    assert cr.state == to
    return cr


def vote(user, cr, decision="approve", password=PASSWORD, **kw):
    return services.vote_cast(
        user=user, cr=fresh(cr, user), decision=decision, password=password, **kw
    )


# ---------------------------------------------------------------- create and edit


def test_keys_are_per_project_and_sequential(personas):
    p = personas
    keys = [make_cr(p.project, by=p.customer).key for _ in range(3)]
    assert keys == ["ACME-1", "ACME-2", "ACME-3"]
    assert make_cr(p.other_project, by=p.outsider).key == "OTHER-1"
    cr = make_cr(p.project, by=p.pm, submit=True)
    assert (cr.key, cr.state) == ("ACME-4", "submitted")
    created = events(cr, "cr.created").get()
    assert created.actor == p.pm.username and created.after["state"] == "submitted"


def test_create_refuses_viewers_outsiders_and_bad_input(personas):
    p = personas
    with pytest.raises(PermissionDenied):
        make_cr(p.project, by=p.viewer)
    with pytest.raises(NotFound):
        make_cr(p.project, by=p.outsider)
    with pytest.raises(ValidationError) as err:
        make_cr(p.project, by=p.pm, title="x" * 201)
    assert "title" in err.value.fields
    with pytest.raises(ValidationError) as err:
        make_cr(p.project, by=p.pm, description="   ")
    assert "description" in err.value.fields
    with pytest.raises(ValidationError) as err:
        make_cr(p.project, by=p.pm, priority="P9")
    assert "priority" in err.value.fields
    with pytest.raises(ValidationError):
        make_cr(p.project, by=p.pm, requested_by=p.outsider.username)
    # a failed create used no number
    assert make_cr(p.project, by=p.pm).key == "ACME-1"


def test_submit_on_create_for_someone_else_is_refused_and_rolled_back(personas):
    p = personas
    with pytest.raises(PermissionDenied):
        make_cr(p.project, by=p.tech_lead, requested_by=p.customer.username, submit=True)
    assert not selectors.change_request_list(user=p.pm).exists()
    assert not AuditEvent.objects.filter(action="cr.created").exists()


@pytest.mark.parametrize("role", ["qa", "developer", "customer_rep", "customer"])
def test_only_managers_and_tech_leads_name_another_requester(personas, role):
    p = personas
    author = p.by_role[role]
    with pytest.raises(PermissionDenied) as err:
        make_cr(p.project, by=author, requested_by=p.pm.username)
    assert "requested_by" in err.value.fields
    assert make_cr(p.project, by=author, requested_by=author.username).requested_by == author
    for manager in (p.pm, p.tech_lead, p.admin):
        cr = make_cr(p.project, by=manager, requested_by=p.customer.username)
        assert cr.requested_by == p.customer


def test_every_edit_is_audited_old_to_new(personas):
    p = personas
    cr = make_cr(p.project, by=p.customer, title="Old title")
    v = cr.version
    cr = services.change_request_update(
        user=p.customer, cr=cr, data={"title": "New title", "labels": ["b", "a", "a"]}
    )
    assert cr.version == v + 1 and cr.labels == ["a", "b"]
    cr = services.change_request_update(user=p.pm, cr=cr, data={"priority": "P1"})
    updates = list(events(cr, "cr.updated"))
    assert [(e.actor, e.before, e.after) for e in updates] == [
        (p.customer.username, {"title": "Old title", "labels": []},
         {"title": "New title", "labels": ["a", "b"]}),
        (p.pm.username, {"priority": ""}, {"priority": "P1"}),
    ]  # fmt: skip
    # no change, no event, no new version
    same = services.change_request_update(user=p.pm, cr=cr, data={"priority": "P1"})
    assert same.version == cr.version and events(cr, "cr.updated").count() == 2


def test_edit_rights(personas):
    p = personas
    cr = make_cr(p.project, by=p.customer)
    for user in (p.developer, p.qa, p.viewer):
        with pytest.raises(PermissionDenied):
            services.change_request_update(user=user, cr=cr, data={"title": "x"})
    with pytest.raises(NotFound):
        services.change_request_update(user=p.outsider, cr=cr, data={"title": "x"})
    with pytest.raises(ValidationError):
        services.change_request_update(user=p.pm, cr=cr, data={"state": "closed"})
    cr = services.change_request_transition(user=p.customer, cr=cr, action="submit")
    with pytest.raises(PermissionDenied):  # the requester edits only draft/returned
        services.change_request_update(user=p.customer, cr=cr, data={"title": "x"})
    services.change_request_update(user=p.tech_lead, cr=cr, data={"title": "by the lead"})


def test_stale_expected_version_is_refused(personas):
    p = personas
    cr = make_cr(p.project, by=p.customer)
    stale_version = cr.version
    services.change_request_update(user=p.pm, cr=cr, data={"title": "first"})
    with pytest.raises(StalePrecondition) as err:
        services.change_request_update(
            user=p.tech_lead, cr=cr, data={"title": "second"}, expected_version=stale_version
        )
    assert err.value.status == 412
    assert fresh(cr, p.pm).title == "first"
    current = fresh(cr, p.pm).version
    services.change_request_update(
        user=p.tech_lead, cr=cr, data={"title": "second"}, expected_version=current
    )
    assert fresh(cr, p.pm).title == "second"


def test_actuals_only_during_implementation_by_its_roles(personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "approved")
    with pytest.raises(PreconditionFailed):
        services.change_request_update(user=p.pm, cr=cr, data={"actual_effort_hours": "3"})
    cr = services.change_request_transition(user=p.tech_lead, cr=cr, action="start_implementation")
    for user in (p.qa, p.customer):
        with pytest.raises(PermissionDenied):
            services.change_request_update(user=user, cr=cr, data={"actual_effort_hours": "3"})
    for bad in ("-1", "abc", "NaN", "1e20"):
        with pytest.raises(ValidationError):
            services.change_request_update(
                user=p.developer, cr=cr, data={"actual_effort_hours": bad}
            )
    cr = services.change_request_update(
        user=p.developer, cr=cr, data={"actual_effort_hours": "7.5"}
    )
    assert cr.actual_effort_hours == Decimal("7.5")
    # Fields sent back unchanged alongside the actuals are not held against the developer,
    # but a real change to them is.
    cr = services.change_request_update(
        user=p.developer, cr=cr, data={"title": cr.title, "actual_effort_hours": "8"}
    )
    assert cr.actual_effort_hours == Decimal("8")
    with pytest.raises(PermissionDenied):
        services.change_request_update(
            user=p.developer, cr=cr, data={"title": "new", "actual_effort_hours": "9"}
        )
    assert fresh(cr, p.pm).actual_effort_hours == Decimal("8")


# ---------------------------------------------------------------- transitions


def test_transition_errors_are_typed(personas):
    p = personas
    cr = make_cr(p.project, by=p.customer, submit=True)
    with pytest.raises(PreconditionFailed) as err:  # no type and priority yet
        services.change_request_transition(user=p.pm, cr=cr, action="triage")
    assert err.value.status == 422 and err.value.code == "classification_required"
    with pytest.raises(PermissionDenied):
        services.change_request_transition(user=p.developer, cr=cr, action="triage")
    with pytest.raises(InvalidTransition):
        services.change_request_transition(user=p.pm, cr=cr, action="verify")
    with pytest.raises(ValidationError):
        services.change_request_transition(user=p.pm, cr=cr, action="explode")


def test_failed_transition_writes_no_comment(personas):
    p = personas
    cr = make_cr(p.project, by=p.customer, submit=True)
    n = AuditEvent.objects.count()
    with pytest.raises(ApplicationError):
        services.change_request_transition(
            user=p.pm, cr=cr, action="start_implementation", comment="go!"
        )
    with pytest.raises(ApplicationError):
        services.change_request_transition(user=p.developer, cr=cr, action="return", comment="x")
    assert not Comment.objects.filter(change_request=cr).exists()
    assert AuditEvent.objects.count() == n
    assert fresh(cr, p.pm).version == cr.version
    cr = services.change_request_transition(user=p.pm, cr=cr, action="return", comment="more")
    assert cr.state == "returned" and cr.comments.get().body == "more"


def test_transition_decides_on_the_current_row_not_a_stale_copy(personas):
    """A copy read before the actuals were cleared must not let QA close the CR."""
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "verifying")
    stale = fresh(cr, p.qa)
    assert stale.actual_effort_hours is None
    services.change_request_update(user=p.developer, cr=cr, data={"actual_effort_hours": "5"})
    stale_with_actuals = fresh(cr, p.qa)
    services.change_request_update(user=p.developer, cr=cr, data={"actual_effort_hours": None})
    with pytest.raises(PreconditionFailed):
        services.change_request_transition(user=p.qa, cr=stale_with_actuals, action="verify")
    assert fresh(cr, p.pm).state == "verifying"
    # and a stale copy of a non-emergency CR flagged since cannot bypass the flag the other way
    other = advance(make_cr(p.project, by=p.customer, emergency=True), p, "triaged")
    copy = fresh(other, p.pm)
    services.change_request_update(user=p.pm, cr=other, data={"emergency": False})
    with pytest.raises(PreconditionFailed):
        services.change_request_transition(user=p.pm, cr=copy, action="approve_emergency")


def test_main_path_history_and_closed_has_actuals(personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "closed")
    assert cr.actual_effort_hours is not None and cr.closed_at is not None
    history = [e.action for e in selectors.history(user=p.pm, cr=cr)]
    for action in ("cr.created", "cr.submit", "cr.triage", "assessment.created", "cr.decided",
                   "cr.verify"):  # fmt: skip
        assert action in history
    assert audit.verify().ok


# ---------------------------------------------------------------- delegated decisions


def delegating(p, **limits):
    accounts.project_update(
        user=p.pm, project=p.project, data=limits or {"delegate_max_effort_hours": "100"}
    )


@pytest.mark.parametrize("action", ["approve", "reject", "defer"])
def test_delegated_decision_is_recorded_as_delegated(personas, action):
    p = personas
    delegating(p)
    cr = advance(make_cr(p.project, by=p.customer), p, "assessing")
    complete_assessment(cr, by=p.tech_lead, effort_hours="40")
    cr = services.change_request_transition(user=p.pm, cr=fresh(cr, p.pm), action=action)
    assert cr.decision_mode == "delegated"
    assert events(cr, f"cr.{action}").get().after["decision_mode"] == "delegated"


def test_delegation_refused_above_thresholds_or_without_thresholds(personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "in_review")
    with pytest.raises(PreconditionFailed) as err:  # no threshold set: no delegation
        services.change_request_transition(user=p.pm, cr=fresh(cr, p.pm), action="approve")
    assert err.value.code == "above_delegation"
    delegating(p, delegate_max_effort_hours="10")
    with pytest.raises(PreconditionFailed):
        services.change_request_transition(user=p.pm, cr=fresh(cr, p.pm), action="approve")
    with pytest.raises(PermissionDenied):  # never by a tech lead
        services.change_request_transition(user=p.tech_lead, cr=fresh(cr, p.pm), action="approve")


def test_requester_pm_cannot_approve_own_cr(personas):
    p = personas
    delegating(p)
    cr = to_state(make_cr(p.project, by=p.pm), p, "assessing")
    complete_assessment(cr, by=p.tech_lead)
    with pytest.raises(PermissionDenied):
        services.change_request_transition(user=p.pm, cr=fresh(cr, p.pm), action="approve")


# ---------------------------------------------------------------- board votes


def test_board_majority_decides_once(personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "in_review")
    _v, tally = vote(p.pm, cr)
    assert (tally.eligible, tally.quorum, tally.verdict) == (4, 3, None)
    vote(p.qa, cr)
    _v, tally = vote(p.tech_lead, cr, "reject")
    assert tally.verdict is None
    _v, tally = vote(p.customer_rep, cr)
    assert tally.verdict == "approve"
    cr = fresh(cr, p.pm)
    assert (cr.state, cr.decision_mode) == ("approved", "board")
    assert events(cr, "cr.decided").count() == 1
    with pytest.raises(InvalidTransition):  # nothing more to vote on
        vote(p.tech_lead, cr)
    assert events(cr, "cr.decided").count() == 1


def test_requester_is_not_eligible(personas):
    p = personas
    cr = to_state(make_cr(p.project, by=p.qa), p, "in_review")
    with pytest.raises(PermissionDenied) as err:
        vote(p.qa, cr)
    assert err.value.code == "own_change_request"
    _v, tally = vote(p.pm, cr)
    assert tally.eligible == 3  # pm, tech lead, customer rep
    for user in (p.developer, p.customer):
        with pytest.raises(PermissionDenied):
            vote(user, cr)
    with pytest.raises(NotFound):
        vote(p.outsider, cr)
    assert not Vote.objects.filter(change_request=cr, voter=p.qa).exists()


def test_who_may_vote_is_decided_before_the_vote_is_read(personas, settings):
    """``require_voter``, the check a page or an endpoint makes before it reads a vote: the
    service refuses a voter the same way whatever the vote says, even one that is not valid,
    and before it checks the password (a wrong one is not counted against them)."""
    p = personas
    cr = to_state(make_cr(p.project, by=p.qa), p, "in_review")
    purpose, rnd, board = services.require_voter(p.pm, cr)
    assert (purpose, rnd) == ("decision", 1)
    assert sorted(board.eligible) == sorted(u.username for u in (p.pm, p.tech_lead, p.customer_rep))
    refused = {
        p.viewer: "forbidden",
        p.qa: "own_change_request",
        p.developer: "not_board",
        p.customer: "not_board",
    }
    for user, code in refused.items():
        with pytest.raises(PermissionDenied) as err:
            services.require_voter(user, cr)
        assert err.value.code == code, user
        for decision in ("approve", "no such decision"):
            with pytest.raises(PermissionDenied) as err:
                vote(user, cr, decision, password="wrong")
            assert err.value.code == code, (user, decision)
    with pytest.raises(NotFound):
        services.require_voter(p.outsider, cr)
    with pytest.raises(InvalidTransition):  # nothing is being voted on in a draft
        services.require_voter(p.pm, make_cr(p.project, by=p.pm))
    for _ in range(settings.SIGNIN_MAX_FAILURES + 1):  # never "wrong password", never 429
        with pytest.raises(PermissionDenied) as err:
            vote(p.developer, cr, password="wrong")
        assert err.value.code == "not_board"
    assert not Vote.objects.filter(change_request=cr).exists()


def test_a_viewer_takes_no_action_whatever_it_is(personas):
    p = personas
    cr = make_cr(p.project, by=p.customer, submit=True)
    for action in ("withdraw", "triage", "no such action"):
        with pytest.raises(PermissionDenied) as err:
            services.change_request_transition(user=p.viewer, cr=cr, action=action)
        assert err.value.message == "Viewers cannot change anything."
    assert fresh(cr, p.pm).state == "submitted"


def test_wrong_password_refused_then_rate_limited(personas, settings):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "in_review")
    for _ in range(settings.SIGNIN_MAX_FAILURES):
        with pytest.raises(PermissionDenied) as err:
            vote(p.pm, cr, password="wrong")
        assert err.value.code == "invalid_signature" and "password" in err.value.fields
    with pytest.raises(RateLimited) as err:  # now even the right password waits
        vote(p.pm, cr)
    assert err.value.status == 429
    assert not Vote.objects.filter(change_request=cr).exists()
    assert not events(cr).filter(action__startswith="vote.").exists()
    # another member is not affected
    vote(p.qa, cr)
    for e in events(cr, "vote.cast"):
        assert PASSWORD not in str(e.after) and "wrong" not in str(e.after)


def test_vote_may_change_before_the_decision(personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "in_review")
    vote(p.pm, cr, "reject")
    vote(p.qa, cr, "reject")
    vote(p.pm, cr, "approve")
    changed = events(cr, "vote.changed").get()
    assert (changed.before["decision"], changed.after["decision"]) == ("reject", "approve")
    assert Vote.objects.filter(change_request=cr, voter=p.pm).get().decision == "approve"
    _v, tally = vote(p.tech_lead, cr, "approve")
    assert tally.verdict is None  # 2 approve, 1 reject of 4
    _v, tally = vote(p.customer_rep, cr, "reject")
    assert tally.verdict == "defer"  # full board split 2:2
    assert fresh(cr, p.pm).state == "deferred"


def test_emergency_approval_then_board_ratifies(personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer, emergency=True), p, "triaged")
    cr = services.change_request_transition(user=p.pm, cr=cr, action="approve_emergency")
    assert (cr.state, cr.ratification, cr.decision_mode) == ("implementing", "pending", "emergency")
    with pytest.raises(PermissionDenied):
        services.change_request_transition(user=p.pm, cr=cr, action="ratify")
    with pytest.raises(ValidationError):  # a ratification is not deferred
        vote(p.pm, cr, "defer")
    for user in (p.pm, p.tech_lead):
        vote(user, cr)
    _v, tally = vote(p.qa, cr)
    assert tally.verdict == "approve"
    cr = fresh(cr, p.pm)
    assert (cr.ratification, cr.state) == ("ratified", "implementing")
    assert events(cr, "cr.ratified").count() == 1


def test_emergency_approval_refused_by_the_board(personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer, emergency=True), p, "assessing")
    services.change_request_transition(user=p.pm, cr=cr, action="approve_emergency")
    for user in (p.pm, p.qa, p.customer_rep):
        vote(user, cr, "reject")
    cr = fresh(cr, p.pm)
    assert cr.ratification == "refused"
    assert events(cr, "cr.ratification_refused").count() == 1


def test_emergency_needs_the_flag(personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "triaged")
    with pytest.raises(PreconditionFailed):
        services.change_request_transition(user=p.pm, cr=cr, action="approve_emergency")


# ---------------------------------------------------------------- assessments


def test_invalid_assessment_writes_nothing(personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "assessing")
    n, v = AuditEvent.objects.count(), fresh(cr, p.pm).version
    bad = [
        {"effort_hours": "-1"},
        {"cost": "lots"},
        {"currency": "yuan"},
        {"method": "crystal_ball"},
        {"risks": [{"description": "x", "probability": "1.5", "impact": 3}]},
        {"risks": [{"description": "x", "probability": "0.5", "impact": 9}]},
        {"risks": [{"description": "ok", "probability": "0.5", "impact": 2}, "not a risk"]},
        {"resources": [{"role": "dev"}]},
    ]
    for data in bad:
        with pytest.raises(ValidationError):
            complete_assessment(cr, by=p.tech_lead, **data)
    assert not ImpactAssessment.objects.filter(change_request=cr).exists()
    assert not Risk.objects.exists()
    assert AuditEvent.objects.count() == n and fresh(cr, p.pm).version == v


def test_assessments_are_versioned_and_guarded(personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "assessing")
    with pytest.raises(PermissionDenied):
        complete_assessment(cr, by=p.developer)
    complete_assessment(cr, by=p.tech_lead, risks=[])
    with pytest.raises(PreconditionFailed):  # no risk statement: not complete
        services.change_request_transition(user=p.pm, cr=fresh(cr, p.pm), action="request_review")
    a2 = complete_assessment(cr, by=p.pm)
    assert a2.version == 2
    assert services.current_assessment(fresh(cr, p.pm)).pk == a2.pk
    services.change_request_transition(user=p.pm, cr=fresh(cr, p.pm), action="request_review")


# ---------------------------------------------------------------- comments and attachments


def test_internal_comments_hidden_from_customers(personas):
    p = personas
    cr = make_cr(p.project, by=p.customer)
    services.comment_create(user=p.pm, cr=cr, body="margin is thin", internal=True)
    services.comment_create(user=p.customer, cr=cr, body="thanks")
    with pytest.raises(PermissionDenied):
        services.comment_create(user=p.customer_rep, cr=cr, body="x", internal=True)
    with pytest.raises(PermissionDenied):
        services.comment_create(user=p.viewer, cr=cr, body="x")
    with pytest.raises(ValidationError):
        services.comment_create(user=p.pm, cr=cr, body="   ")
    for user, visible in ((p.customer, 1), (p.customer_rep, 1), (p.developer, 2), (p.viewer, 2)):
        assert selectors.comment_list(user=user, cr=cr).count() == visible
        hist = selectors.history(user=user, cr=cr).filter(action="comment.created")
        assert hist.count() == visible
    assert not selectors.history(user=p.customer, cr=cr).filter(internal=True).exists()


def test_attachments(personas, settings):
    p = personas
    cr = make_cr(p.project, by=p.customer)
    settings.ATTACHMENT_MAX_BYTES = 1000
    with pytest.raises(TooLarge) as err:
        services.attachment_create(
            user=p.customer, cr=cr, upload=SimpleUploadedFile("big.txt", b"a" * 1001)
        )
    assert err.value.status == 413
    with pytest.raises(ValidationError):
        services.attachment_create(
            user=p.customer, cr=cr,
            upload=SimpleUploadedFile("shot.png", b"GIF89a not a png", content_type="image/png"),
        )  # fmt: skip
    with pytest.raises(ValidationError):
        services.attachment_create(
            user=p.customer, cr=cr, upload=SimpleUploadedFile("x.exe", b"MZ")
        )
    assert not Attachment.objects.exists()
    att = services.attachment_create(
        user=p.customer, cr=cr, upload=SimpleUploadedFile("shot.png", PNG, content_type="image/png")
    )
    import hashlib

    assert att.sha256 == hashlib.sha256(PNG).hexdigest()
    assert att.size == len(PNG) and att.content_type == "image/png"
    with att.file.open("rb") as fh:
        assert fh.read() == PNG
    assert events(cr, "attachment.created").get().after["sha256"] == att.sha256
    assert selectors.attachment_list(user=p.outsider, cr=cr).count() == 0
    with pytest.raises(NotFound):
        selectors.attachment_get(user=p.outsider, cr=cr, pk=att.pk)
