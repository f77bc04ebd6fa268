"""The board's pages and new API endpoints: allowed, forbidden (wrong role) and outsider (404)
for each; the board settings form, freeze windows and delegation from the browser; the CR
page's board panel (each member's vote, signature meaning, what is still needed)."""

from __future__ import annotations

import pytest

from changeflow.ccb import services as ccb
from changeflow.ccb.models import Board, FreezeWindow
from changeflow.changes import services
from changeflow.core.models import AuditEvent
from tests.factories import PASSWORD, advance, fresh, make_cr

pytestmark = pytest.mark.django_db

MEMBERS = ("pm", "tech_lead", "qa", "developer", "customer_rep", "customer", "viewer", "admin")
READ_PAGES = (
    "/projects/ACME/board/",
    "/projects/ACME/emergencies/",
    "/projects/ACME/supervision/",
    "/projects/ACME/supervision/?closed=1",
)


def login(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize("who", MEMBERS)
def test_members_see_the_boards_pages(client, personas, who):
    login(client, getattr(personas, who))
    for url in (*READ_PAGES, "/votes/pending/"):
        assert client.get(url).status_code == 200, url


def test_outsider_gets_404_and_anonymous_signs_in(client, personas):
    for url in READ_PAGES:
        assert client.get(url).status_code == 302, url
    assert client.get("/votes/pending/").status_code == 302
    login(client, personas.outsider)
    for url in READ_PAGES:
        assert client.get(url).status_code == 404, url
    for url in ("/projects/ACME/board/", "/projects/ACME/board/delegation/",
                "/projects/ACME/freeze-windows/"):  # fmt: skip
        assert client.post(url, {}).status_code == 404, url
    assert client.get("/votes/pending/").status_code == 200  # their own, empty


def board_post(p, **extra):
    data = {
        "member": [p.pm.username, p.tech_lead.username, p.qa.username, p.customer_rep.username],
        f"role:{p.pm.username}": "project_manager",
        f"weight:{p.pm.username}": "2",
        "rule": "majority",
        "required_roles": ["customer_rep"],
        "chair": p.pm.username,
        "name": "ACME CCB",
        "ratification_days": "3",
    }
    data.update(extra)
    return data


def test_pm_configures_the_board_in_the_browser(client, personas):
    p = personas
    login(client, p.pm)
    page = client.get("/projects/ACME/board/").content.decode()
    assert 'name="member"' in page and "Required roles" in page
    assert f'<label for="m-{p.pm.username}">' in page and f'id="m-{p.pm.username}"' in page
    r = client.post("/projects/ACME/board/", board_post(p))
    assert r.status_code == 302, r.content.decode()[:2000]
    board = Board.objects.get()
    assert board.chair == p.pm and board.required_roles == ["customer_rep"]
    assert board.members.get(user=p.pm).weight == 2
    assert board.ratification_days == 3 and board.name == "ACME CCB"
    # unsatisfiable: 422 naming the problem, nothing changed
    r = client.post("/projects/ACME/board/", board_post(p, quorum="9"))
    assert r.status_code == 422
    assert "quorum" in r.content.decode() and Board.objects.get().quorum is None
    r = client.post("/projects/ACME/board/", board_post(p, required_roles=["developer"]))
    assert r.status_code == 422 and "developer" in r.content.decode()
    # back to the default board
    assert client.post("/projects/ACME/board/", {"reset": "1"}).status_code == 302
    assert not Board.objects.exists()


@pytest.mark.parametrize("who", ["tech_lead", "qa", "developer", "customer_rep", "viewer"])
def test_other_members_may_not_change_the_board(client, personas, who):
    p = personas
    login(client, getattr(p, who))
    page = client.get("/projects/ACME/board/").content.decode()
    assert 'name="member"' not in page
    # Without the checkboxes, no label points at one.
    assert 'for="m-' not in page and p.pm.username in page
    assert client.post("/projects/ACME/board/", board_post(p)).status_code == 403
    assert client.post("/projects/ACME/board/delegation/", {"max_cost": "1"}).status_code == 403
    # The role before the form: refused the same when the figures are not numbers.
    assert client.post("/projects/ACME/board/delegation/", {"max_cost": "x"}).status_code == 403
    r = client.post(
        "/projects/ACME/freeze-windows/",
        {"name": "x", "starts_at": "2030-01-01T00:00", "ends_at": "2030-01-02T00:00"},
    )
    assert r.status_code == 403
    r = client.post("/projects/ACME/freeze-windows/", {})  # refused before the form is read
    assert r.status_code == 403
    assert "Only the project&#x27;s managers may change its freeze windows." in r.content.decode()
    assert not Board.objects.exists() and not FreezeWindow.objects.exists()


def test_delegation_and_freeze_windows_from_the_board_page(client, personas):
    p = personas
    login(client, p.pm)
    r = client.post(
        "/projects/ACME/board/delegation/",
        {"max_effort_hours": "40", "max_cost": "", "max_schedule_days": "5",
         "max_risk_exposure": "1.5"},
    )  # fmt: skip
    assert r.status_code == 302
    p.project.refresh_from_db()
    assert str(p.project.delegate_max_risk_exposure) == "1.50"
    assert (
        client.post("/projects/ACME/board/delegation/", {"max_risk_exposure": "6"}).status_code
        == 400
    )
    r = client.post(
        "/projects/ACME/freeze-windows/",
        {"name": "Year end", "starts_at": "2030-12-28T00:00", "ends_at": "2031-01-02T00:00",
         "reason": "closing"},
    )  # fmt: skip
    assert r.status_code == 302
    window = FreezeWindow.objects.get()
    assert "Year end" in client.get("/projects/ACME/board/").content.decode()
    r = client.post(
        "/projects/ACME/freeze-windows/",
        {"name": "Bad", "starts_at": "2030-12-28T00:00", "ends_at": "2030-12-27T00:00"},
    )
    assert r.status_code == 400 and FreezeWindow.objects.count() == 1
    assert client.post(f"/projects/ACME/freeze-windows/{window.pk}/delete/").status_code == 302
    assert not FreezeWindow.objects.exists()
    assert AuditEvent.objects.filter(action="freeze_window.deleted").count() == 1
    login(client, p.outsider)
    assert client.post(f"/projects/ACME/freeze-windows/{window.pk}/delete/").status_code == 404


def test_cr_page_shows_board_votes_meaning_and_what_is_still_needed(client, personas):
    p = personas
    ccb.board_set(
        user=p.pm, project=p.project,
        data={"members": [{"username": u.username} for u in
                          (p.pm, p.tech_lead, p.qa, p.customer_rep)],
              "required_roles": ["customer_rep"], "chair": p.pm.username},
    )  # fmt: skip
    cr = advance(make_cr(p.project, by=p.customer), p, "in_review")
    login(client, p.qa)
    page = client.get(f"/changes/{cr.key}/").content.decode()
    assert "Sign and vote" in page and "as quality assurance" in page
    assert "Still needed" in page and "3 more votes for quorum" in page
    assert "(required)" in page
    assert "My pending votes" in page and 'data-testid="pending-votes-count">1<' in page
    r = client.post(
        f"/changes/{cr.key}/vote/",
        {"decision": "approve", "comment": "tested", "password": PASSWORD},
    )
    assert r.status_code == 302
    for user in (p.pm, p.tech_lead):
        services.vote_cast(user=user, cr=fresh(cr, user), decision="approve", password=PASSWORD)
    page = client.get(f"/changes/{cr.key}/").content.decode()
    assert "I approve change request" in page and "tested" in page
    assert "the approval of the Customer representative (required)" in page
    assert fresh(cr, p.pm).state == "in_review"
    login(client, p.customer_rep)
    r = client.post(f"/changes/{cr.key}/vote/", {"decision": "approve", "password": "wrong"})
    assert r.status_code == 403 and fresh(cr, p.pm).state == "in_review"
    r = client.post(f"/changes/{cr.key}/vote/", {"decision": "approve", "password": PASSWORD})
    assert r.status_code == 302 and fresh(cr, p.pm).state == "approved"
    page = client.get(f"/changes/{cr.key}/").content.decode()
    assert "Board votes" in page and "as the customer representative" in page
    # the requester (customer) sees no vote form
    login(client, p.customer)
    assert "Sign and vote" not in client.get(f"/changes/{cr.key}/").content.decode()


# ---------------------------------------------------------------- API of the lists


@pytest.mark.parametrize("who", MEMBERS)
def test_api_lists_for_members(personas, api, who):
    client = api(getattr(personas, who))
    for url in ("/api/v1/projects/ACME/unratified/", "/api/v1/projects/ACME/supervision/",
                "/api/v1/votes/pending/"):  # fmt: skip
        r = client.get(url)
        assert r.status_code == 200, (url, r.content)


def test_api_lists_outsider_and_anonymous(personas, api):
    for url in ("/api/v1/projects/ACME/unratified/", "/api/v1/projects/ACME/supervision/"):
        assert api(personas.outsider).get(url).status_code == 404
        assert api(None).get(url).status_code == 401
    assert api(None).get("/api/v1/votes/pending/").status_code == 401
    assert api(personas.outsider).get("/api/v1/votes/pending/").json()["results"] == []


def test_api_lists_content(personas, api):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer, emergency=True), p, "triaged")
    services.change_request_transition(user=p.pm, cr=fresh(cr, p.pm), action="approve_emergency")
    rows = api(p.viewer).get("/api/v1/projects/ACME/unratified/").json()["results"]
    assert [(r["key"], r["overdue"]) for r in rows] == [(cr.key, False)]
    rows = api(p.qa).get("/api/v1/votes/pending/").json()["results"]
    assert [(r["key"], r["purpose"]) for r in rows] == [(cr.key, "ratification")]
    rows = api(p.viewer).get("/api/v1/projects/ACME/supervision/").json()["results"]
    assert rows[0]["key"] == cr.key and rows[0]["owner"] == p.pm.username
    body = api(p.viewer).get(f"/api/v1/change-requests/{cr.key}/decision/").json()
    assert body["purpose"] == "ratification" and body["still_needed"]["votes_to_quorum"] == 3
