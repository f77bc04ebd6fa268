"""My work (我的工作台): each section lists an item for the person it waits on and for nobody
else (another member, a viewer, an outsider), and drops it once done; the page, the API and
the CLI show the same; the query count does not grow with items or projects."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from changeflow.accounts import services as accounts
from changeflow.changes import services as changes
from changeflow.changes.models import ChangeRequest
from changeflow.impact import services as impact
from changeflow.meetings import recurrence
from changeflow.meetings import selectors as meeting_selectors
from changeflow.meetings import services as meetings
from changeflow.orders import services as orders
from changeflow.reports import actions as improvements
from changeflow.work import selectors
from tests.factories import PASSWORD, advance, fresh, make_cr, make_project, make_user
from tests.meetings.helpers import make_meeting
from tests.orders.helpers import issued_order

pytestmark = pytest.mark.django_db

EVERYONE = ("pm", "tech_lead", "qa", "developer", "customer_rep", "customer", "viewer")


def keys(user, section: str) -> list[str]:
    return [i.key for i in _section(user, section)]


def _section(user, section: str):
    return next(s.items for s in selectors.my_work(user=user) if s.id == section)


def who_sees(p, section: str, key: str) -> set[str]:
    """The personas (and the outsider and the site admin) whose section lists ``key``."""
    people = {r: getattr(p, r) for r in (*EVERYONE, "outsider", "admin")}
    return {r for r, u in people.items() if key in keys(u, section)}


def vote(user, cr):
    changes.vote_cast(user=user, cr=fresh(cr, user), decision="approve", password=PASSWORD)


# ---------------------------------------------------------------- each section


def test_assigned_overdue_first_and_gone_when_unassigned(personas):
    p = personas
    calm = advance(make_cr(p.project, by=p.customer), p, "triaged")
    late = advance(make_cr(p.project, by=p.customer), p, "triaged")
    for cr in (calm, late):
        changes.change_request_update(
            user=p.pm, cr=fresh(cr, p.pm), data={"assignee": p.developer.username}
        )
    # P2 triaged: 24 hours; ``late`` entered the stage three days ago.
    ChangeRequest.objects.filter(pk=late.pk).update(
        state_changed_at=timezone.now() - dt.timedelta(days=3)
    )
    items = _section(p.developer, "assigned")
    assert [i.key for i in items] == [late.key, calm.key]
    assert items[0].overdue and not items[1].overdue
    assert items[0].due_at is not None and items[0].url == f"/changes/{late.key}/"
    assert items[0].project == "ACME"
    assert who_sees(p, "assigned", late.key) == {"developer"}
    changes.change_request_update(user=p.pm, cr=fresh(late, p.pm), data={"assignee": ""})
    assert keys(p.developer, "assigned") == [calm.key]


def test_a_member_who_left_sees_nothing_of_the_project(personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "triaged")
    changes.change_request_update(
        user=p.pm, cr=fresh(cr, p.pm), data={"assignee": p.developer.username}
    )
    assert keys(p.developer, "assigned") == [cr.key]
    accounts.membership_remove(user=p.pm, project=p.project, username=p.developer.username)
    assert selectors.total(selectors.my_work(user=p.developer)) == 0


def test_votes_for_the_board_members_until_they_vote(personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "in_review")
    # The default board: PM, tech lead, QA and the customer representative (the requester, the
    # developer, the viewer, the outsider and the site admin, who is no member, do not vote).
    assert who_sees(p, "votes", cr.key) == {"pm", "tech_lead", "qa", "customer_rep"}
    vote(p.qa, cr)
    assert who_sees(p, "votes", cr.key) == {"pm", "tech_lead", "customer_rep"}
    item = _section(p.pm, "votes")[0]
    assert item.detail == "Decision, round 1" and item.due_at is not None


def test_estimates_asked_of_the_estimators_until_they_estimate(personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "triaged")
    effort = {"optimistic": "10", "most_likely": "20", "pessimistic": "30"}
    assert who_sees(p, "estimates", cr.key) == set()  # no round open yet
    impact.expert_estimate_submit(user=p.tech_lead, cr=fresh(cr, p.tech_lead), effort=effort)
    # Round 1 asks every estimator of the project; customers and viewers never estimate.
    assert who_sees(p, "estimates", cr.key) == {"pm", "qa", "developer"}
    item = _section(p.developer, "estimates")[0]
    assert item.url == f"/changes/{cr.key}/#estimates" and item.detail == "Delphi round 1"
    far = {"optimistic": "100", "most_likely": "200", "pessimistic": "300"}
    impact.expert_estimate_submit(user=p.developer, cr=fresh(cr, p.developer), effort=far)
    assert who_sees(p, "estimates", cr.key) == {"pm", "qa"}
    # They disagree: round 2 asks those who estimated in round 1 to revise, not the others.
    impact.estimation_round_close(user=p.pm, cr=fresh(cr, p.pm))
    assert who_sees(p, "estimates", cr.key) == {"tech_lead", "developer"}
    impact.expert_estimate_submit(user=p.developer, cr=fresh(cr, p.developer), effort=effort)
    assert who_sees(p, "estimates", cr.key) == {"tech_lead"}


def test_orders_to_sign_for_the_customer_side_until_signed(personas):
    p = personas
    _cr, order = issued_order(p)
    assert who_sees(p, "signatures", order.key) == {"customer_rep", "customer"}
    item = _section(p.customer, "signatures")[0]
    assert item.url == f"/projects/ACME/change-orders/{order.number}/"
    orders.change_order_sign(
        user=p.customer_rep, order=order, password=PASSWORD, signer_name="李娜"
    )
    assert who_sees(p, "signatures", order.key) == set()


def _action(p, owner, title="更新需求基线", due=None):
    meeting = make_meeting(p)
    at = recurrence.last_before(meeting_selectors.schedule(meeting), timezone.now())
    occ = meetings._materialise(meeting, at)
    return meetings.action_item_add(
        user=p.pm, occurrence=occ, title=title, owner=owner.username,
        due_date=due or dt.date(2020, 1, 1),
    )  # fmt: skip


def test_meeting_action_items_for_their_owner_until_done(personas):
    p = personas
    action = _action(p, p.developer)
    items = _section(p.developer, "meeting_actions")
    assert [i.title for i in items] == ["更新需求基线"] and items[0].overdue
    assert items[0].url.startswith(f"/projects/ACME/meetings/{action.occurrence.meeting_id}/")
    for role in ("pm", "qa", "viewer", "outsider"):
        assert _section(getattr(p, role), "meeting_actions") == []
    meetings.action_item_done(user=p.developer, action=action)
    assert _section(p.developer, "meeting_actions") == []


def test_improvement_actions_for_their_owner_until_complete(personas):
    p = personas
    action = improvements.improvement_create(
        user=p.pm, project=p.project, title="验收标准", owner=p.qa.username,
        due_date="2099-01-01",
    )  # fmt: skip
    assert who_sees(p, "improvements", action.key) == {"qa"}
    action = improvements.improvement_transition(user=p.qa, action=action, name="start")
    assert who_sees(p, "improvements", action.key) == {"qa"}
    improvements.improvement_transition(user=p.qa, action=action, name="complete", resolution="x")
    assert who_sees(p, "improvements", action.key) == set()


def test_triage_for_those_who_triage_until_triaged(personas):
    p = personas
    cr = make_cr(p.project, by=p.customer, submit=True, type="feature", priority="P2")
    assert who_sees(p, "triage", cr.key) == {"pm", "tech_lead"}
    changes.change_request_transition(user=p.tech_lead, cr=fresh(cr, p.tech_lead), action="triage")
    assert who_sees(p, "triage", cr.key) == set()


def test_questions_and_open_requests_of_the_requester(personas):
    p = personas
    cr = make_cr(p.project, by=p.customer, submit=True)
    # The customer's open request, for them alone (not the representative, not the team).
    assert who_sees(p, "requests", cr.key) == {"customer"}
    changes.change_request_transition(
        user=p.tech_lead, cr=fresh(cr, p.tech_lead), action="return", comment="哪些门店？"
    )
    assert who_sees(p, "questions", cr.key) == {"customer"}
    assert who_sees(p, "requests", cr.key) == set()  # listed once, as a question
    changes.change_request_transition(user=p.customer, cr=fresh(cr, p.customer), action="submit")
    assert who_sees(p, "questions", cr.key) == set()
    assert who_sees(p, "requests", cr.key) == {"customer"}
    changes.change_request_transition(user=p.customer, cr=fresh(cr, p.customer), action="withdraw")
    assert who_sees(p, "requests", cr.key) == set()


# ---------------------------------------------------------------- the page


def test_home_opens_my_work(client, personas):
    client.force_login(personas.pm)
    r = client.get("/")
    assert r.status_code == 302 and r["Location"] == "/my-work/"
    assert client.get("/my-work/").status_code == 200
    client.logout()
    r = client.get("/my-work/")
    assert r.status_code == 302 and r["Location"].startswith("/signin/")


def test_page_lists_sections_with_links_and_the_nav_badge(client, personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer, title="短信验证码登录"), p, "in_review")
    client.force_login(p.qa)
    html = client.get("/my-work/").content.decode()
    assert 'id="work-votes"' in html and f'href="/changes/{cr.key}/"' in html
    assert "短信验证码登录" in html and 'id="work-assigned"' not in html  # empty: omitted
    assert 'data-testid="my-work-count">1<' in html
    assert 'href="/projects/"' in html  # the project list stays in the nav


def test_own_open_requests_are_listed_but_not_counted_as_work(client, personas, api):
    """A customer's open requests wait on the team, not on them: on the page, not in the
    badge; a request returned to them for information is their work, and counts."""
    p = personas
    cr = make_cr(p.project, by=p.customer, submit=True, title="订单导出")
    client.force_login(p.customer)
    html = client.get("/my-work/").content.decode()
    assert 'id="work-requests"' in html and f'href="/changes/{cr.key}/"' in html
    assert "my-work-count" not in html and 'data-testid="work-total"' not in html
    data = api(p.customer).get("/api/v1/me/work/").json()
    assert data["counts"]["requests"] == 1 and data["total"] == 0
    changes.change_request_transition(user=p.tech_lead, cr=fresh(cr, p.tech_lead),
                                      action="return", comment="哪些字段？")  # fmt: skip
    html = client.get("/my-work/").content.decode()
    assert 'id="work-questions"' in html and 'data-testid="my-work-count">1<' in html
    assert 'data-testid="work-total">1<' in html


@pytest.mark.parametrize("role", ["viewer", "outsider"])
def test_an_empty_page_says_so_and_shows_nothing_of_acme(client, personas, role):
    p = personas
    advance(make_cr(p.project, by=p.customer), p, "in_review")
    make_cr(p.project, by=p.customer, submit=True)
    client.force_login(getattr(p, role))
    html = client.get("/my-work/").content.decode()
    assert 'data-testid="work-empty"' in html and "Nothing waits on you right now" in html
    assert "ACME" not in html and "my-work-count" not in html


def test_a_user_of_no_project_is_told_why(client):
    client.force_login(make_user("loner"))
    html = client.get("/my-work/").content.decode()
    assert "not a member of any project" in html


def test_page_in_chinese(client, personas):
    p = personas
    advance(make_cr(p.project, by=p.customer), p, "in_review")
    client.force_login(p.qa)
    html = client.get("/my-work/", headers={"accept-language": "zh-hans"}).content.decode()
    assert "我的工作" in html and "等待我投票" in html


# ---------------------------------------------------------------- query counts


def _world(n_projects: int, per_project: int, *, first: int = 0):
    """The PM ``busy_pm`` of ``n_projects`` projects (W<first>, ...), each with ``per_project``
    submitted CRs assigned to them (and to triage) and as many improvement actions of theirs."""
    from changeflow.accounts.models import User

    pm = User.objects.filter(username="busy_pm").first() or make_user("busy_pm")
    customer = User.objects.filter(username="busy_customer").first() or make_user("busy_customer")
    for i in range(first, first + n_projects):
        project = make_project(f"W{i}", manager=pm)
        accounts.membership_set(
            user=pm, project=project, username=customer.username, role="customer"
        )
        for _ in range(per_project):
            cr = make_cr(project, by=customer, submit=True, type="feature", priority="P2")
            changes.change_request_update(user=pm, cr=fresh(cr, pm), data={"assignee": pm.username})
            improvements.improvement_create(
                user=pm, project=project, title="t", owner=pm.username, due_date="2099-01-01"
            )
    return pm


@pytest.mark.parametrize(("projects", "items"), [(1, 1), (3, 10)])
def test_the_query_count_does_not_grow(personas, projects, items, django_assert_max_num_queries):
    p = personas
    pm = _world(projects, items)
    # Votes, an estimate and a meeting action in ACME for its PM, as many again.
    for _ in range(items):
        cr = advance(make_cr(p.project, by=p.customer), p, "in_review")
        impact.expert_estimate_submit(
            user=p.tech_lead, cr=fresh(cr, p.tech_lead),
            effort={"optimistic": "1", "most_likely": "2", "pessimistic": "3"},
        )  # fmt: skip
        _action(p, p.pm, due=dt.date(2099, 1, 1))
    with django_assert_max_num_queries(12):
        sections = selectors.my_work(user=pm)
    assert len(next(s for s in sections if s.id == "assigned").items) == projects * items
    with django_assert_max_num_queries(12):
        sections = selectors.my_work(user=p.pm)
    assert selectors.total(sections) >= 3 * items


def test_the_page_costs_the_same_for_1_item_and_for_30_in_3_projects(client, db):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for first, (n_projects, items) in ((0, (1, 1)), (1, (2, 15))):
        pm = _world(n_projects, items, first=first)
        client.force_login(pm)
        client.get("/my-work/")
        with CaptureQueriesContext(connection) as queries:
            html = client.get("/my-work/").content.decode()
        counts.append(len(queries))
    # 31 CRs assigned, 31 to triage, 31 improvement actions.
    assert html.count('class="work-item') == 3 * 31
    assert 'data-testid="my-work-count">93<' in html and "more, not listed" not in html
    assert counts[0] == counts[1] <= 11, counts


# ---------------------------------------------------------------- API and CLI


def test_api_gives_every_section(api, personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "in_review")
    r = api(p.qa).get("/api/v1/me/work/")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"total", "counts", *(sid for sid, _t in selectors.SECTIONS)}
    assert body["total"] == 1 and body["assigned"] == [] and body["counts"]["votes"] == 1
    assert set(body["counts"]) == {sid for sid, _t in selectors.SECTIONS}
    (item,) = body["votes"]
    assert (
        item["key"] == cr.key and item["project"] == "ACME" and item["url"] == f"/changes/{cr.key}/"
    )
    assert set(item) == {
        "key", "title", "project", "project_name", "url", "state", "detail", "due", "due_at",
        "overdue",
    }  # fmt: skip
    assert api(p.outsider).get("/api/v1/me/work/").json()["total"] == 0
    assert api(None).get("/api/v1/me/work/").status_code == 401


def test_api_in_the_schema(api, personas):
    r = api(personas.pm).get("/api/v1/schema/", {"format": "json"})
    schema = json.loads(r.content)
    op = schema["paths"]["/api/v1/me/work/"]["get"]
    assert op["operationId"] == "me_work_retrieve"


def test_cli_prints_the_sections_and_json(run_cli, personas, english_terminal):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer, title="短信验证码登录"), p, "in_review")
    code, out, err = run_cli("my-work", "--user", p.qa.username)
    assert code == 0 and err == ""
    assert "Waiting for my vote (1)" in out and cr.key in out and "短信验证码登录" in out
    code, out, _err = run_cli("my-work", "--user", p.qa.username, "--json")
    assert code == 0 and json.loads(out)["votes"][0]["key"] == cr.key
    code, out, _err = run_cli("my-work", "--user", p.viewer.username)
    assert code == 0 and out.strip() == f"Nothing waits on {p.viewer.username}."


def test_cli_bad_user_is_one_line_and_exit_1(run_cli, personas, english_terminal):
    code, out, err = run_cli("my-work", "--user", "nobody")
    assert code == 1 and out == "" and err.strip() == "changeflow: unknown user 'nobody'"
    assert len(err.strip().splitlines()) == 1
    code, _out, err = run_cli("my-work")
    assert code == 2 and "--user" in err and "Traceback" not in err


def test_a_section_lists_the_first_50_and_counts_the_rest(client, db, monkeypatch):
    monkeypatch.setattr(selectors, "LIMIT", 3)
    pm = _world(1, 5)
    (assigned,) = [s for s in selectors.my_work(user=pm) if s.id == "assigned"]
    assert (len(assigned.items), assigned.count, assigned.more) == (3, 5, 2)
    client.force_login(pm)
    html = client.get("/my-work/").content.decode()
    assert "And 2 more, not listed here." in html and "/changes/?assignee=me" in html
