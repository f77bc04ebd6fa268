"""SLA timers with a controlled clock: level 1 to the assignee (or PM), level 2 to the PM,
each level once per entry into a stage; targets per project; the page and the API."""

import datetime as dt

import pytest
from django.utils import timezone

from changeflow.changes.models import ChangeRequest
from changeflow.comms import sla
from changeflow.comms.models import SlaBreach
from changeflow.core.models import AuditEvent
from tests.factories import advance, make_cr

pytestmark = pytest.mark.django_db


def triaged_cr(p, priority="P2"):
    cr = make_cr(p.project, by=p.customer, priority=priority, type="feature")
    cr = advance(cr, p, "triaged")
    return cr


def test_a_cr_left_too_long_in_triage_escalates_to_the_pm(personas):
    p = personas
    cr = triaged_cr(p)  # P2 in triage: 24 h by default
    entered = ChangeRequest.objects.get(pk=cr.pk).state_changed_at
    assert sla.sla_check(now=entered + dt.timedelta(hours=23)) == []
    first = sla.sla_check(now=entered + dt.timedelta(hours=25))
    assert [(b.level, b.notified) for b in first] == [(1, [p.pm.username])]
    assert sla.sla_check(now=entered + dt.timedelta(hours=30)) == []  # once per level
    second = sla.sla_check(now=entered + dt.timedelta(hours=49))
    assert [(b.level, b.notified) for b in second] == [(2, [p.pm.username])]
    events = AuditEvent.objects.filter(action="sla.breached", object_key=cr.key).order_by("seq")
    assert [e.after["level"] for e in events] == [1, 2]
    after = events[0].after
    assert (after["stage"], after["priority"], after["target_hours"], after["notify"]) == (
        "triaged", "P2", 24, [p.pm.username]
    )  # fmt: skip
    assert sla.sla_check(now=entered + dt.timedelta(days=30)) == []


def test_leaving_the_stage_and_coming_back_starts_the_clock_again(personas):
    from changeflow.changes import services

    p = personas
    cr = make_cr(p.project, by=p.customer, priority="P1", type="feature", submit=True)
    entered = ChangeRequest.objects.get(pk=cr.pk).state_changed_at
    assert len(sla.sla_check(now=entered + dt.timedelta(hours=5))) == 1  # P1 submitted: 4 h
    cr = services.change_request_transition(
        user=p.tech_lead, cr=ChangeRequest.objects.get(pk=cr.pk), action="return", comment="?"
    )
    assert sla.sla_check(now=timezone.now() + dt.timedelta(hours=500)) == []  # returned: none
    cr = services.change_request_transition(
        user=p.customer, cr=ChangeRequest.objects.get(pk=cr.pk), action="submit"
    )
    again = ChangeRequest.objects.get(pk=cr.pk).state_changed_at
    assert len(sla.sla_check(now=again + dt.timedelta(hours=5))) == 1
    assert SlaBreach.objects.filter(change_request=cr, level=1).count() == 2


def test_project_targets_override_the_defaults_and_are_validated(personas):
    from changeflow.core.errors import ValidationError

    p = personas
    table = sla.sla_targets_set(
        user=p.pm, project=p.project, rows=[{"stage": "triaged", "priority": "P2", "hours": 2}]
    )
    assert table["triaged"]["P2"] == 2 and table["triaged"]["P3"] == 72
    cr = triaged_cr(p)
    entered = ChangeRequest.objects.get(pk=cr.pk).state_changed_at
    assert len(sla.sla_check(now=entered + dt.timedelta(hours=3))) == 1
    for bad in (
        {"stage": "closed", "priority": "P2", "hours": 2},
        {"stage": "triaged", "priority": "P9", "hours": 2},
        {"stage": "triaged", "priority": "P2", "hours": 0},
        {"stage": "triaged", "priority": "P2", "hours": "2"},
    ):
        with pytest.raises(ValidationError):
            sla.sla_targets_set(user=p.pm, project=p.project, rows=[bad])
    assert AuditEvent.objects.filter(action="sla.targets_set").count() == 1


def test_sla_api_allowed_forbidden_outsider(personas, client):
    p = personas
    cr = triaged_cr(p)
    entered = ChangeRequest.objects.get(pk=cr.pk).state_changed_at
    sla.sla_check(now=entered + dt.timedelta(hours=25))
    url = "/api/v1/projects/ACME/sla/"
    client.force_login(p.developer)
    body = client.get(url).json()
    assert body["targets"]["triaged"]["P2"] == 24
    breaches = client.get(url + "breaches/").json()["results"]
    assert [(b["change_request"], b["level"], b["current"]) for b in breaches] == [
        (cr.key, 1, True)
    ]
    rows = {"targets": [{"stage": "triaged", "priority": "P2", "hours": 12}]}
    assert client.put(url, rows, content_type="application/json").status_code == 403
    client.force_login(p.pm)
    response = client.put(url, rows, content_type="application/json")
    assert response.status_code == 200 and response.json()["targets"]["triaged"]["P2"] == 12
    bad = {"targets": [{"stage": "triaged", "priority": "P2", "hours": -1}]}
    assert client.put(url, bad, content_type="application/json").status_code == 400
    client.force_login(p.outsider)
    assert client.get(url).status_code == 404
    assert client.get(url + "breaches/").status_code == 404


def test_sla_page_lists_current_and_past_breaches(personas, client):
    from changeflow.changes import services

    p = personas
    cr = triaged_cr(p)
    entered = ChangeRequest.objects.get(pk=cr.pk).state_changed_at
    sla.sla_check(now=entered + dt.timedelta(hours=25))
    client.force_login(p.viewer)
    page = client.get("/projects/ACME/sla/")
    assert page.status_code == 200
    html = page.content.decode()
    assert cr.key in html and "sla-current" in html
    services.change_request_transition(
        user=p.tech_lead, cr=ChangeRequest.objects.get(pk=cr.pk), action="start_assessment"
    )
    html = client.get("/projects/ACME/sla/").content.decode()
    assert cr.key in html and "sla-past" in html
    client.force_login(p.outsider)
    assert client.get("/projects/ACME/sla/").status_code == 404
    client.force_login(p.developer)
    form = client.post("/projects/ACME/sla/", {"triaged__P2": "10"})
    assert form.status_code == 403
    client.force_login(p.pm)
    form = client.post("/projects/ACME/sla/", {"triaged__P2": "10"})
    assert form.status_code == 302
    assert sla.targets(p.project)["triaged"]["P2"] == 10


def test_level_one_goes_to_the_assignee_then_level_two_to_the_pm(personas):
    from changeflow.changes import services

    p = personas
    cr = triaged_cr(p)  # P2 in triage: 24 h
    services.change_request_update(
        user=p.pm, cr=ChangeRequest.objects.get(pk=cr.pk), data={"assignee": p.developer.username}
    )
    entered = ChangeRequest.objects.get(pk=cr.pk).state_changed_at
    assert sla.sla_check(now=entered + dt.timedelta(hours=23)) == []
    first = sla.sla_check(now=entered + dt.timedelta(hours=25))
    assert [(b.level, b.notified) for b in first] == [(1, [p.developer.username])]
    second = sla.sla_check(now=entered + dt.timedelta(hours=49))
    assert [(b.level, b.notified) for b in second] == [(2, [p.pm.username])]
    events = AuditEvent.objects.filter(action="sla.breached", object_key=cr.key).order_by("seq")
    assert [(e.after["level"], e.after["notify"]) for e in events] == [
        (1, [p.developer.username]), (2, [p.pm.username])
    ]  # fmt: skip


def test_an_inactive_assignee_leaves_level_one_to_the_pm(personas):
    from changeflow.changes import services

    p = personas
    cr = triaged_cr(p)
    services.change_request_update(
        user=p.pm, cr=ChangeRequest.objects.get(pk=cr.pk), data={"assignee": p.qa.username}
    )
    type(p.qa).objects.filter(pk=p.qa.pk).update(is_active=False)
    entered = ChangeRequest.objects.get(pk=cr.pk).state_changed_at
    first = sla.sla_check(now=entered + dt.timedelta(hours=25))
    assert [(b.level, b.notified) for b in first] == [(1, [p.pm.username])]


def test_an_assignee_who_left_the_project_leaves_level_one_to_the_pm(personas):
    from changeflow.accounts import services as accounts
    from changeflow.changes import services

    p = personas
    left, demoted, stays = (triaged_cr(p) for _ in range(3))
    for cr, who in ((left, p.qa), (demoted, p.developer), (stays, p.tech_lead)):
        services.change_request_update(
            user=p.pm, cr=ChangeRequest.objects.get(pk=cr.pk), data={"assignee": who.username}
        )
    accounts.membership_remove(user=p.pm, project=p.project, username=p.qa.username)
    # Now only a viewer: no longer on the team that owes the next step.
    accounts.membership_set(
        user=p.pm, project=p.project, username=p.developer.username, role="viewer"
    )
    latest = max(ChangeRequest.objects.filter(pk__in=[left.pk, demoted.pk, stays.pk]).values_list(
        "state_changed_at", flat=True
    ))  # fmt: skip
    first = sla.sla_check(now=latest + dt.timedelta(hours=25))
    told = {b.change_request_id: (b.level, b.notified) for b in first}
    assert told == {
        left.pk: (1, [p.pm.username]),
        demoted.pk: (1, [p.pm.username]),
        stays.pk: (1, [p.tech_lead.username]),
    }
    events = AuditEvent.objects.filter(action="sla.breached", object_key=left.key)
    assert [e.after["notify"] for e in events] == [[p.pm.username]]


def test_who_is_on_the_team_is_read_once_for_all_crs(personas):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from changeflow.changes import services

    p = personas
    crs = [triaged_cr(p) for _ in range(4)]
    for cr, who in zip(crs, (p.qa, p.developer, p.tech_lead, p.qa), strict=True):
        services.change_request_update(
            user=p.pm, cr=ChangeRequest.objects.get(pk=cr.pk), data={"assignee": who.username}
        )
    with CaptureQueriesContext(connection) as queries:
        breaches = sla.sla_check(now=timezone.now() + dt.timedelta(hours=25))
    assert len(breaches) == 4
    # The managers and the assignees' memberships: one query each, not one per CR.
    membership = [q for q in queries.captured_queries if "accounts_membership" in q["sql"]]
    assert len(membership) == 2
