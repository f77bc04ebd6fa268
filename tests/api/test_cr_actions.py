"""Transitions, history, comments, assessments, votes and the decision of a CR."""

import pytest
from django.test import override_settings

from changeflow.changes.models import Comment, ImpactAssessment, Vote
from changeflow.core.models import AuditEvent
from tests.api.conftest import error_of, names
from tests.factories import PASSWORD, advance, complete_assessment, make_cr

URL = "/api/v1/change-requests/"


def cr_url(cr, tail=""):
    return f"{URL}{cr.key}/{tail}"


# ---------------------------------------------------------------- transitions


def test_transitions_get_lists_what_the_caller_may_do(personas, api):
    p = personas
    cr = make_cr(p.project, by=p.customer, submit=True, type="feature", priority="P2")
    r = api(p.tech_lead).get(cr_url(cr, "transitions/"))
    assert r.status_code == 200
    assert {a["action"] for a in r.json()["actions"]} == {"triage", "return"}
    triage = next(a for a in r.json()["actions"] if a["action"] == "triage")
    assert triage["target"] == "triaged"
    assert triage["label"]
    assert api(p.viewer).get(cr_url(cr, "transitions/")).json()["actions"] == []
    assert api(p.outsider).get(cr_url(cr, "transitions/")).status_code == 404


def test_transition_allowed(personas, api):
    p = personas
    cr = make_cr(p.project, by=p.customer, type="feature", priority="P2")
    r = api(p.customer).post(cr_url(cr, "transitions/"), {"action": "submit"}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["state"] == "submitted"
    assert r.headers["ETag"] == f'"{r.json()["version"]}"'
    r = api(p.tech_lead).post(
        cr_url(cr, "transitions/"), {"action": "return", "comment": "缺少截图"}, format="json"
    )
    assert r.json()["state"] == "returned"
    assert Comment.objects.filter(change_request=cr, body="缺少截图").exists()


def test_transition_forbidden_role_is_403(personas, api):
    p = personas
    cr = make_cr(p.project, by=p.customer, submit=True, type="feature", priority="P2")
    r = api(p.developer).post(cr_url(cr, "transitions/"), {"action": "triage"}, format="json")
    assert r.status_code == 403
    assert error_of(r)["code"] == "role"


def test_transition_outsider_is_404(personas, api):
    cr = make_cr(personas.project, by=personas.customer, submit=True)
    r = api(personas.outsider).post(
        cr_url(cr, "transitions/"), {"action": "withdraw"}, format="json"
    )
    assert r.status_code == 404


def test_transition_from_wrong_state_is_409(personas, api):
    cr = make_cr(personas.project, by=personas.customer)
    r = api(personas.pm).post(cr_url(cr, "transitions/"), {"action": "verify"}, format="json")
    assert r.status_code == 409
    assert error_of(r)["code"] == "invalid_transition"


def test_unmet_precondition_is_422(personas, api):
    p = personas
    cr = make_cr(p.project, by=p.customer, submit=True)  # no type and priority
    r = api(p.tech_lead).post(cr_url(cr, "transitions/"), {"action": "triage"}, format="json")
    assert r.status_code == 422
    assert error_of(r)["code"] == "classification_required"
    cr = advance(make_cr(p.project, by=p.customer, type="feature", priority="P2"), p, "assessing")
    r = api(p.tech_lead).post(
        cr_url(cr, "transitions/"), {"action": "request_review"}, format="json"
    )
    assert r.status_code == 422
    assert error_of(r)["code"] == "assessment_required"
    r = api(p.tech_lead).post(cr_url(cr, "transitions/"), {"action": "return"}, format="json")
    assert r.status_code == 422
    assert error_of(r)["code"] == "comment_required"


@pytest.mark.parametrize(
    "data, field",
    [({"action": "explode"}, "action"), ({}, "action"), ({"action": None}, "action"),
     ({"action": "submit", "comment": "x" * 100_001}, "comment"),
     ({"action": "submit", "extra": 1}, "extra")],
)  # fmt: skip
def test_transition_bad_input(personas, api, data, field):
    cr = make_cr(personas.project, by=personas.customer)
    r = api(personas.customer).post(cr_url(cr, "transitions/"), data, format="json")
    assert r.status_code == 400
    assert names(error_of(r), field)


def test_delegated_approval_under_thresholds(personas, api):
    p = personas
    api(p.pm).patch("/api/v1/projects/ACME/", {"delegate_max_cost": "50000"}, format="json")
    cr = advance(make_cr(p.project, by=p.customer, type="feature", priority="P2"), p, "assessing")
    complete_assessment(cr, by=p.tech_lead)
    r = api(p.pm).post(cr_url(cr, "transitions/"), {"action": "approve"}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["state"] == "approved"
    assert r.json()["decision_mode"] == "delegated"


# ---------------------------------------------------------------- history


def test_history_oldest_first_and_visibility(personas, api):
    p = personas
    cr = make_cr(p.project, by=p.customer, type="feature", priority="P2")
    api(p.customer).post(cr_url(cr, "transitions/"), {"action": "submit"}, format="json")
    api(p.pm).post(cr_url(cr, "comments/"), {"body": "内部备注", "internal": True}, format="json")
    r = api(p.pm).get(cr_url(cr, "history/"))
    assert r.status_code == 200
    actions = [e["action"] for e in r.json()["results"]]
    assert actions == ["cr.created", "cr.submit", "comment.created"]
    seqs = [e["seq"] for e in r.json()["results"]]
    assert seqs == sorted(seqs)
    assert r.json()["results"][1]["channel"] == "api"
    # Customers do not see the internal comment's event.
    r = api(p.customer).get(cr_url(cr, "history/"))
    assert [e["action"] for e in r.json()["results"]] == ["cr.created", "cr.submit"]
    assert api(p.outsider).get(cr_url(cr, "history/")).status_code == 404


# ---------------------------------------------------------------- comments


def test_comments(personas, api):
    p = personas
    cr = make_cr(p.project, by=p.customer)
    r = api(p.customer).post(cr_url(cr, "comments/"), {"body": "请尽快"}, format="json")
    assert r.status_code == 201
    assert r.json()["author"] == p.customer.username
    assert r.json()["internal"] is False
    r = api(p.tech_lead).post(
        cr_url(cr, "comments/"), {"body": "cost note", "internal": True}, format="json"
    )
    assert r.status_code == 201
    bodies = [c["body"] for c in api(p.qa).get(cr_url(cr, "comments/")).json()["results"]]
    assert bodies == ["请尽快", "cost note"]
    for customer in (p.customer, p.customer_rep):
        r = api(customer).get(cr_url(cr, "comments/"))
        assert [c["body"] for c in r.json()["results"]] == ["请尽快"]


def test_comments_forbidden_and_outsider(personas, api):
    p = personas
    cr = make_cr(p.project, by=p.customer)
    assert (
        api(p.viewer).post(cr_url(cr, "comments/"), {"body": "x"}, format="json").status_code == 403
    )
    r = api(p.customer).post(
        cr_url(cr, "comments/"), {"body": "x", "internal": True}, format="json"
    )
    assert r.status_code == 403
    assert (
        api(p.outsider).post(cr_url(cr, "comments/"), {"body": "x"}, format="json").status_code
        == 404
    )
    assert api(p.outsider).get(cr_url(cr, "comments/")).status_code == 404
    assert not Comment.objects.exists()


@pytest.mark.parametrize(
    "data, field",
    [({}, "body"), ({"body": ""}, "body"), ({"body": None}, "body"),
     ({"body": "x" * 100_001}, "body"), ({"body": "x", "internal": "perhaps"}, "internal")],
)  # fmt: skip
def test_comments_bad_input(personas, api, data, field):
    cr = make_cr(personas.project, by=personas.customer)
    r = api(personas.pm).post(cr_url(cr, "comments/"), data, format="json")
    assert r.status_code == 400
    assert names(error_of(r), field)


# ---------------------------------------------------------------- assessments

ASSESSMENT = {
    "effort_hours": "40",
    "schedule_days": "5",
    "cost": "12000",
    "currency": "CNY",
    "resources": [{"role": "backend", "hours": "30"}, {"role": "qa", "hours": 10}],
    "risks": [
        {"description": "短信网关配额", "probability": "0.3", "impact": 3, "mitigation": "备用网关"}
    ],
    "method": "manual",
    "notes": "internal cost note",
}


def test_assessments_create_and_list(personas, api):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer, type="feature", priority="P2"), p, "assessing")
    r = api(p.tech_lead).post(cr_url(cr, "assessments/"), ASSESSMENT, format="json")
    assert r.status_code == 201, r.content
    data = r.json()
    assert data["version"] == 1
    assert data["risks"][0]["exposure"] == "0.900"
    assert data["resources"] == [
        {"role": "backend", "hours": "30.00"},
        {"role": "qa", "hours": "10.00"},
    ]
    r = api(p.pm).post(cr_url(cr, "assessments/"), {**ASSESSMENT, "cost": "9000"}, format="json")
    assert r.json()["version"] == 2
    r = api(p.qa).get(cr_url(cr, "assessments/"))
    assert [a["version"] for a in r.json()["results"]] == [2, 1]
    assert r.json()["results"][0]["notes"] == "internal cost note"
    r = api(p.customer).get(cr_url(cr, "assessments/"))
    assert r.json()["results"][0]["notes"] == ""
    detail = api(p.pm).get(cr_url(cr)).json()
    assert detail["current_assessment"]["version"] == 2
    assert detail["current_assessment"]["cost"] == "9000.00"


def test_assessments_forbidden_outsider_and_state(personas, api):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer, type="feature", priority="P2"), p, "assessing")
    for who in (p.qa, p.developer, p.customer, p.viewer):
        assert (
            api(who).post(cr_url(cr, "assessments/"), ASSESSMENT, format="json").status_code == 403
        )
    assert (
        api(p.outsider).post(cr_url(cr, "assessments/"), ASSESSMENT, format="json").status_code
        == 404
    )
    assert api(p.outsider).get(cr_url(cr, "assessments/")).status_code == 404
    draft = make_cr(p.project, by=p.customer)
    assert (
        api(p.pm).post(cr_url(draft, "assessments/"), ASSESSMENT, format="json").status_code == 409
    )
    assert not ImpactAssessment.objects.exists()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"effort_hours": "-3"}, "effort_hours"),
        ({"cost": "a lot"}, "cost"),
        ({"currency": "yuan"}, "currency"),
        ({"method": "guess"}, "method"),
        ({"risks": [{"description": "r", "probability": "1.5", "impact": 3}]}, "risks"),
        ({"risks": [{"description": "r", "probability": "0.5", "impact": 6}]}, "risks"),
        ({"risks": [{"probability": "0.5", "impact": 2}]}, "risks"),
        ({"risks": "high"}, "risks"),
        ({"resources": [{"role": "dev"}]}, "resources"),
        ({"resources": {"role": "dev", "hours": 1}}, "resources"),
        ({"notes": "n" * 100_001}, "notes"),
    ],
)
def test_assessments_bad_input(personas, api, change, field):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer, type="feature", priority="P2"), p, "assessing")
    r = api(p.tech_lead).post(cr_url(cr, "assessments/"), {**ASSESSMENT, **change}, format="json")
    assert r.status_code == 400, r.content
    assert names(error_of(r), field)


# ---------------------------------------------------------------- votes and decision


@pytest.fixture
def in_review(personas):
    return advance(make_cr(personas.project, by=personas.customer, type="feature", priority="P2"),
                   personas, "in_review")  # fmt: skip


def vote(api, user, cr, decision="approve", password=PASSWORD, **kw):
    return api(user).post(
        cr_url(cr, "votes/"), {"decision": decision, "password": password, **kw}, format="json"
    )


def test_votes_reach_a_verdict(personas, api, in_review):
    p = personas
    r = api(p.viewer).get(cr_url(in_review, "decision/"))
    assert r.status_code == 200
    data = r.json()
    assert data["purpose"] == "decision"
    assert data["eligible_members"] == sorted(
        u.username for u in (p.pm, p.tech_lead, p.qa, p.customer_rep)
    )
    assert data["tally"]["verdict"] is None
    r = vote(api, p.pm, in_review, comment="同意")
    assert r.status_code == 201, r.content
    assert r.json()["vote"]["decision"] == "approve"
    assert r.json()["tally"]["cast"] == 1
    assert r.json()["state"] == "in_review"
    vote(api, p.qa, in_review)
    r = vote(api, p.customer_rep, in_review)
    assert r.json()["tally"]["verdict"] == "approve"
    assert r.json()["state"] == "approved"
    detail = api(p.pm).get(cr_url(in_review)).json()
    assert detail["state"] == "approved"
    assert detail["decision_mode"] == "board"
    votes = api(p.customer).get(cr_url(in_review, "votes/")).json()["results"]
    assert [v["voter"] for v in votes] == [p.pm.username, p.qa.username, p.customer_rep.username]
    assert "password" not in votes[0]


def test_votes_forbidden_outsider_and_wrong_password(personas, api, in_review):
    p = personas
    assert vote(api, p.developer, in_review).status_code == 403  # not on the board
    assert vote(api, p.customer, in_review).status_code == 403  # the requester
    assert vote(api, p.outsider, in_review).status_code == 404
    assert api(p.outsider).get(cr_url(in_review, "votes/")).status_code == 404
    assert api(p.outsider).get(cr_url(in_review, "decision/")).status_code == 404
    r = vote(api, p.qa, in_review, password="wrong")
    assert r.status_code == 403
    assert error_of(r)["code"] == "invalid_signature"
    assert not Vote.objects.exists()
    # The password never reaches the audit log.
    assert not AuditEvent.objects.filter(after__icontains=PASSWORD).exists()


@override_settings(SIGNIN_MAX_FAILURES=2)
def test_vote_signature_is_rate_limited(personas, api, in_review):
    p = personas
    for _ in range(2):
        assert vote(api, p.qa, in_review, password="wrong").status_code == 403
    r = vote(api, p.qa, in_review)
    assert r.status_code == 429
    assert not Vote.objects.exists()


def test_vote_when_nothing_is_voted_on_is_409(personas, api):
    cr = make_cr(personas.project, by=personas.customer)
    assert vote(api, personas.pm, cr).status_code == 409
    r = api(personas.pm).get(cr_url(cr, "decision/"))
    assert r.json()["purpose"] is None
    assert r.json()["votes"] == []


@pytest.mark.parametrize(
    "data, field",
    [({"decision": "maybe", "password": PASSWORD}, "decision"),
     ({"password": PASSWORD}, "decision"),
     ({"decision": "approve"}, "password"),
     ({"decision": "approve", "password": None}, "password"),
     ({"decision": "approve", "password": PASSWORD, "comment": "c" * 100_001}, "comment")],
)  # fmt: skip
def test_vote_bad_input(personas, api, in_review, data, field):
    r = api(personas.pm).post(cr_url(in_review, "votes/"), data, format="json")
    assert r.status_code == 400
    assert names(error_of(r), field)


# ---------------------------------------------------------------- the role before the body


@pytest.mark.parametrize(
    "who, tail, code",
    [("viewer", "transitions/", "forbidden"), ("viewer", "comments/", "forbidden"),
     ("viewer", "votes/", "forbidden"), ("developer", "votes/", "not_board"),
     ("customer", "votes/", "own_change_request")],  # the requester
)  # fmt: skip
@pytest.mark.parametrize("body", [{}, {"decision": "maybe", "action": 1, "body": ""}, []])
def test_a_refused_role_gets_its_403_whatever_the_body(personas, api, in_review, who, tail,
                                                       code, body):  # fmt: skip
    """The role is checked before the body is read: empty, invalid or not even an object,
    the answer is the refusal the valid body gets."""
    r = api(getattr(personas, who)).post(cr_url(in_review, tail), body, format="json")
    assert r.status_code == 403 and error_of(r)["code"] == code
    assert not Vote.objects.exists() and not Comment.objects.filter(author__username=who)


def test_a_viewer_may_create_no_change_request_whatever_the_rest_of_the_body(personas, api):
    """The project is read from the body first, then the role in it, then the rest."""
    viewer = api(personas.viewer)
    for body in ({"project": "ACME"}, {"project": "ACME", "title": "", "nope": 1}):
        r = viewer.post(URL, body, format="json")
        assert r.status_code == 403 and error_of(r)["message"] == "Viewers cannot change anything."
    r = api(personas.outsider).post(URL, {"project": "ACME"}, format="json")
    assert r.status_code == 404
    r = viewer.post(URL, {"title": "t"}, format="json")  # no project: nothing to decide on
    assert r.status_code == 400 and names(error_of(r), "project")
    r = api(personas.customer).post(URL, {"project": "ACME"}, format="json")
    assert r.status_code == 400 and names(error_of(r), "title")  # a member: the body is read
