"""The board and decision endpoints: allowed, forbidden, outsider; bad input; the tally."""

from __future__ import annotations

import pytest

from changeflow.ccb.models import Board
from changeflow.core.models import AuditEvent
from tests.api.conftest import error_of, names
from tests.factories import PASSWORD, advance, make_cr

pytestmark = pytest.mark.django_db


def board_url(key="ACME"):
    return f"/api/v1/projects/{key}/board/"


def body(p, **overrides):
    data = {
        "members": [
            {"username": p.pm.username, "role": "project_manager", "weight": "3"},
            {"username": p.tech_lead.username, "role": "tech_lead"},
            {"username": p.qa.username, "role": "qa", "weight": 1},
            {"username": p.customer_rep.username, "role": "customer_rep", "weight": "1.5"},
        ],
        "quorum": 3,
        "rule": "weighted",
        "threshold": "0.6",
        "required_roles": ["customer_rep"],
        "veto_roles": ["qa"],
        "delegation": {"max_effort_hours": "16", "max_cost": "5000", "max_schedule_days": None},
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("who", ["pm", "tech_lead", "qa", "developer", "customer", "viewer",
                                 "admin"])  # fmt: skip
def test_members_see_the_default_board(personas, api, who):
    p = personas
    r = api(getattr(p, who)).get(board_url())
    assert r.status_code == 200, r.content
    data = r.json()
    assert data["configured"] is False
    assert data["rule"] == "majority" and data["quorum"] is None
    assert {m["role"] for m in data["members"]} == {
        "project_manager", "tech_lead", "qa", "customer_rep",
    }  # fmt: skip


def test_outsider_and_anonymous(personas, api):
    p = personas
    assert api(p.outsider).get(board_url()).status_code == 404
    assert api(p.outsider).put(board_url(), body(p), format="json").status_code == 404
    assert api(None).get(board_url()).status_code == 401
    assert api(p.pm).get(board_url("NOPE")).status_code == 404


@pytest.mark.parametrize("who", ["pm", "admin"])
def test_put_by_manager_or_admin(personas, api, who):
    p = personas
    r = api(getattr(p, who)).put(board_url(), body(p), format="json")
    assert r.status_code == 200, r.content
    data = r.json()
    assert data["configured"] is True and data["rule"] == "weighted"
    assert data["threshold"] == "0.600" and data["quorum"] == 3
    assert data["members"][0] == {"username": p.pm.username, "role": "project_manager",
                                  "weight": "3.00", "active": True}  # fmt: skip
    assert data["members"][1]["weight"] == "1.00"
    assert data["delegation"] == {"max_effort_hours": "16.00", "max_cost": "5000.00",
                                  "max_schedule_days": None,
                                  "max_risk_exposure": None}  # fmt: skip
    assert data["required_roles"] == ["customer_rep"] and data["veto_roles"] == ["qa"]
    assert api(p.viewer).get(board_url()).json() == data
    assert AuditEvent.objects.filter(action="board.set", object_key="ACME").count() == 1


@pytest.mark.parametrize("who", ["tech_lead", "qa", "developer", "customer_rep", "customer",
                                 "viewer"])  # fmt: skip
def test_put_forbidden_for_other_members(personas, api, who):
    p = personas
    r = api(getattr(p, who)).put(board_url(), body(p), format="json")
    assert r.status_code == 403
    assert error_of(r)["code"] == "forbidden"
    assert not Board.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"members": []}, "members"),
        ({"members": [{"username": "outsider_acme"}]}, "members"),
        ({"members": [{"username": "qa_acme", "weight": "0"}]}, "members"),
        ({"members": [{"username": "qa_acme", "weight": "abc"}]}, "members"),
        ({"members": [{"username": "qa_acme", "role": "viewer"}]}, "members"),
        ({"members": [{"username": "qa_acme", "colour": "red"}]}, "members"),
        ({"rule": "dictator"}, "rule"),
        ({"quorum": 0}, "quorum"),
        ({"veto_roles": ["boss"]}, "veto_roles"),
        ({"delegation": {"max_cost": "-1"}}, "delegation"),
        ({"delegation": {"max_money": 1}}, "delegation"),
        ({"chair": "developer_acme"}, "chair"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_put_bad_input_is_400_naming_the_field(personas, api, change, field):
    p = personas
    r = api(p.pm).put(board_url(), body(p, **change), format="json")
    assert r.status_code == 400, r.content
    err = error_of(r)
    assert names(err, field), err
    assert not Board.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"threshold": "0"}, "threshold"),
        ({"threshold": "1.2"}, "threshold"),
        ({"rule": "weighted", "threshold": None}, "threshold"),
        ({"quorum": 9}, "quorum"),
        ({"required_roles": ["developer"]}, "required_roles"),
        ({"veto_roles": ["developer"]}, "veto_roles"),
    ],
)
def test_put_unsatisfiable_policy_is_422_naming_the_problem(personas, api, change, field):
    p = personas
    r = api(p.pm).put(board_url(), body(p, **change), format="json")
    assert r.status_code == 422, r.content
    err = error_of(r)
    assert err["code"] == "unsatisfiable_policy" and names(err, field), err
    assert not Board.objects.exists()


def test_put_is_idempotent_with_a_key(personas, api):
    p = personas
    client = api(p.pm)
    for _ in range(2):
        r = client.put(board_url(), body(p), format="json", HTTP_IDEMPOTENCY_KEY="board-1")
        assert r.status_code == 200
    assert AuditEvent.objects.filter(action="board.set").count() == 1


def vote(api, user, cr, decision="approve"):
    return api(user).post(
        f"/api/v1/change-requests/{cr.key}/votes/",
        {"decision": decision, "password": PASSWORD},
        format="json",
    )


def test_decision_under_a_weighted_board_with_a_required_role(personas, api):
    p = personas
    assert api(p.pm).put(board_url(), body(p, veto_roles=[]), format="json").status_code == 200
    cr = advance(make_cr(p.project, by=p.customer), p, "in_review")
    url = f"/api/v1/change-requests/{cr.key}/decision/"
    r = api(p.viewer).get(url)
    assert r.status_code == 200, r.content
    data = r.json()
    assert data["board_configured"] is True
    assert data["policy"] == {"rule": "weighted", "threshold": "0.600", "quorum": 3,
                              "required_roles": ["customer_rep"], "veto_roles": []}  # fmt: skip
    assert data["verdict"] is None and data["tally"]["required_missing"] == ["customer_rep"]
    assert len(data["eligible_members"]) == 4
    for user in (p.pm, p.tech_lead, p.qa):
        assert vote(api, user, cr).json()["tally"]["verdict"] is None
    data = api(p.pm).get(url).json()
    assert data["tally"]["weights"]["approve"] == "5"
    assert data["tally"]["pending"] == [p.customer_rep.username]
    r = vote(api, p.customer_rep, cr)
    assert r.json()["state"] == "approved"
    data = api(p.pm).get(url).json()
    assert data["purpose"] is None and data["votes"] == []


def test_decision_veto_and_visibility(personas, api):
    p = personas
    api(p.pm).put(board_url(), body(p, rule="majority", threshold=None, required_roles=[]),
                  format="json")  # fmt: skip
    cr = advance(make_cr(p.project, by=p.customer), p, "in_review")
    url = f"/api/v1/change-requests/{cr.key}/decision/"
    assert api(p.outsider).get(url).status_code == 404
    vote(api, p.pm, cr)
    vote(api, p.tech_lead, cr)
    r = vote(api, p.qa, cr, "reject")
    assert r.json()["tally"]["verdict"] == "reject" and r.json()["state"] == "rejected"
    assert AuditEvent.objects.filter(action="cr.decided", object_key=cr.key).count() == 1


def test_default_board_decision_body(personas, api):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "in_review")
    data = api(p.customer).get(f"/api/v1/change-requests/{cr.key}/decision/").json()
    assert data["board_configured"] is False
    assert data["policy"]["rule"] == "majority" and data["tally"]["quorum"] == 3
