"""The meeting pages: allowed / forbidden / outsider, the recurrence picker, a meeting run
from the page (hold, attendance, a signed vote, a decision, an action item, minutes, close)."""

from __future__ import annotations

import re

import pytest

from changeflow.meetings.models import Meeting, MeetingVote, Occurrence
from tests.factories import PASSWORD, advance, make_cr

from .helpers import latest_key, make_meeting

pytestmark = pytest.mark.django_db


def page(client, user, path, **kw):
    client.force_login(user)
    return client.get(path, **kw)


@pytest.mark.parametrize("who", ["pm", "viewer", "customer", "admin"])
def test_list_calendar_and_feed_pages_for_members(client, personas, who):
    p = personas
    make_meeting(p, "customer", title="客户周会")
    for path in (
        "/projects/ACME/meetings/",
        "/projects/ACME/calendar/",
        "/projects/ACME/calendar/?month=2026-05",
        "/account/calendar/",
    ):
        r = page(client, getattr(p, who), path)
        assert r.status_code == 200, (path, r.status_code)
    html = page(client, getattr(p, who), "/projects/ACME/meetings/").content.decode()
    assert "客户周会" in html


def test_outsider_and_bad_month(client, personas):
    p = personas
    m = make_meeting(p, "customer")
    for path in (
        "/projects/ACME/meetings/",
        "/projects/ACME/calendar/",
        f"/projects/ACME/meetings/{m.pk}/",
        f"/projects/ACME/meetings/{m.pk}/calendar.ics",
        f"/projects/ACME/meetings/{m.pk}/{latest_key(m)}/",
        f"/projects/ACME/meetings/{m.pk}/{latest_key(m)}/minutes.pdf",
    ):
        assert page(client, p.outsider, path).status_code == 404, path
    assert page(client, p.pm, "/projects/ACME/calendar/?month=13-2026").status_code == 400


def test_ccb_meeting_hidden_from_customer(client, personas):
    p = personas
    m = make_meeting(p, "ccb", invitees=[p.pm.username])
    assert page(client, p.customer, f"/projects/ACME/meetings/{m.pk}/").status_code == 404
    assert page(client, p.viewer, f"/projects/ACME/meetings/{m.pk}/").status_code == 200


def test_create_with_the_recurrence_picker(client, personas):
    p = personas
    client.force_login(p.pm)
    form = {
        "kind": "ccb",
        "title": "CCB 周会",
        "starts_at": "2026-03-17T10:00",
        "timezone": "Europe/Berlin",
        "duration_minutes": "60",
        "freq": "WEEKLY",
        "interval": "1",
        "byday": ["TU"],
        "count": "",
        "rrule": "",
        "remind_minutes_before": "30",
    }
    r = client.post("/projects/ACME/meetings/new/", form)
    assert r.status_code == 302, r.content.decode()[:2000]
    m = Meeting.objects.get()
    assert m.rrule == "FREQ=WEEKLY;BYDAY=TU"
    assert m.starts_at.isoformat() == "2026-03-17T09:00:00+00:00"  # 10:00 CET
    html = client.get(r["Location"]).content.decode()
    assert "FREQ=WEEKLY;BYDAY=TU" in html
    # A bad rule typed by hand: 422 with the problem on the field.
    r = client.post("/projects/ACME/meetings/new/", {**form, "rrule": "FREQ=WEEKLY;BYDAY=XX"})
    assert r.status_code == 422 and "BYDAY" in r.content.decode()
    # Who may not schedule: 403 page.
    assert page(client, p.qa, "/projects/ACME/meetings/new/").status_code == 403
    assert page(client, p.customer_rep, "/projects/ACME/meetings/new/").status_code == 200


def test_run_a_ccb_meeting_from_the_page(client, personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "in_review")
    m = make_meeting(p, "ccb")
    base = f"/projects/ACME/meetings/{m.pk}/{latest_key(m)}/"
    client.force_login(p.pm)
    html = client.get(base, headers={"Accept-Language": "zh-hans"}).content.decode()
    assert cr.key in html and "开始会议" in html
    assert client.post(base + "do/", {"op": "hold"}).status_code == 302
    occ = Occurrence.objects.get()
    att = {f"att-{u.username}": "present" for u in (p.pm, p.qa, p.customer_rep, p.tech_lead)}
    assert client.post(base + "do/", {"op": "attendance", **att}).status_code == 302
    item = occ.items.get()
    r = client.post(
        base + "do/", {"op": "vote", "item": item.pk, "decision": "approve", "password": "wrong"}
    )
    assert r.status_code == 403 and not MeetingVote.objects.exists()
    for voter in (p.pm, p.qa, p.customer_rep):
        client.force_login(voter)
        r = client.post(
            base + "do/",
            {
                "op": "vote",
                "item": item.pk,
                "decision": "approve",
                "password": PASSWORD,
                "comment": "同意",
            },
        )
        assert r.status_code == 302, r.content.decode()[:3000]
    client.force_login(p.pm)
    r = client.post(
        base + "do/",
        {
            "op": "decide",
            "item": item.pk,
            "outcome": "approved",
            "rationale": "收益明确",
            "conditions": "灰度发布",
        },
    )
    assert r.status_code == 302
    r = client.post(
        base + "do/",
        {
            "op": "action",
            "title": "通知客户",
            "owner": p.pm.username,
            "due_date": "2026-12-01",
            "change_request": cr.key,
        },
    )
    assert r.status_code == 302
    r = client.post(
        base + "do/", {"op": "minutes", "minutes": "**批准** 三票", "internal_notes": ""}
    )
    assert r.status_code == 302
    assert client.post(base + "do/", {"op": "close"}).status_code == 302
    html = client.get(base).content.decode()
    for text in ("收益明确", "灰度发布", "通知客户", p.qa.username, "<strong>批准</strong>"):
        assert text in html or text in html.replace("&lt;", "<"), text
    md = client.get(base + "minutes.md")
    assert md.status_code == 200 and "收益明确" in md.content.decode()
    assert client.get(base + "minutes.pdf").content.startswith(b"%PDF")
    assert MeetingVote.objects.count() == 3
    # Not who runs it: the page's actions answer 403.
    client.force_login(p.qa)
    assert client.post(base + "do/", {"op": "close"}).status_code == 403
    assert client.post(base + "do/", {"op": "nope"}).status_code == 400


def test_list_page_queries_do_not_grow_with_meetings(
    client, personas, django_assert_max_num_queries
):
    p = personas
    client.force_login(p.pm)
    make_meeting(p, "customer")
    client.get("/projects/ACME/meetings/")  # warm the session and caches
    with django_assert_max_num_queries(12) as few:
        client.get("/projects/ACME/meetings/")
    for i in range(6):
        make_meeting(p, "ccb" if i % 2 else "customer", title=f"会议 {i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get("/projects/ACME/meetings/").status_code == 200


def test_project_feed_by_token(client, personas):
    import datetime as dt

    from django.utils import timezone
    from icalendar import Calendar

    from changeflow.ccb import services as ccb
    from changeflow.meetings import services

    p = personas
    make_meeting(p, "ccb", title="CCB 评审会")
    make_meeting(p, "customer", title="客户周会")
    soon = timezone.now() + dt.timedelta(days=3)
    ccb.freeze_window_create(user=p.pm, project=p.project, name="封版",
                             starts_at=soon, ends_at=soon + dt.timedelta(days=2))  # fmt: skip
    token = services.calendar_token_create(user=p.customer)
    cal = Calendar.from_ical(client.get(f"/calendar/feed/{token}/ACME.ics").content)
    summaries = {str(e["summary"]) for e in cal.events}
    assert "客户周会" in summaries and "CCB 评审会" not in summaries
    assert any("封版" in s for s in summaries)
    # Another project, or a revoked token: nothing.
    assert client.get(f"/calendar/feed/{token}/OTHER.ics").status_code == 404
    services.calendar_token_revoke(user=p.customer)
    assert client.get(f"/calendar/feed/{token}/ACME.ics").status_code == 404


def test_edit_page(client, personas):
    p = personas
    m = make_meeting(p, "customer", timezone="Asia/Shanghai")
    client.force_login(p.customer_rep)
    r = client.get(f"/projects/ACME/meetings/{m.pk}/edit/")
    assert r.status_code == 200 and m.rrule in r.content.decode()
    form = {
        "kind": "customer", "title": "客户月会", "starts_at": "2026-01-08T15:00",
        "timezone": "Asia/Shanghai", "duration_minutes": "45", "freq": "", "rrule":
        "FREQ=MONTHLY;BYDAY=2TH", "remind_minutes_before": "60",
    }  # fmt: skip
    r = client.post(f"/projects/ACME/meetings/{m.pk}/edit/", form)
    assert r.status_code == 302, r.content.decode()[:2000]
    m.refresh_from_db()
    assert (m.title, m.rrule, m.sequence) == ("客户月会", "FREQ=MONTHLY;BYDAY=2TH", 1)
    assert m.starts_at.isoformat() == "2026-01-08T07:00:00+00:00"
    client.force_login(p.customer)
    assert client.get(f"/projects/ACME/meetings/{m.pk}/edit/").status_code == 403
    client.force_login(p.outsider)
    assert client.get(f"/projects/ACME/meetings/{m.pk}/edit/").status_code == 404


def test_the_forms_of_a_held_meeting_have_ids_of_their_own(client, personas):
    """Agenda and action items both have a title and a change request, and each agenda item
    has its decision and vote forms: with Django's default ids the page had each id several
    times and the labels pointed at the first field of that name."""
    p = personas
    crs = [advance(make_cr(p.project, by=p.customer), p, "in_review") for _ in range(2)]
    m = make_meeting(p, "ccb")
    base = f"/projects/ACME/meetings/{m.pk}/{latest_key(m)}/"
    client.force_login(p.pm)
    assert client.post(base + "do/", {"op": "hold"}).status_code == 302
    att = {f"att-{u.username}": "present" for u in (p.pm, p.qa, p.customer_rep)}
    assert client.post(base + "do/", {"op": "attendance", **att}).status_code == 302
    html = client.get(base).content.decode()
    items = list(Occurrence.objects.get().items.order_by("pk").values_list("pk", flat=True))
    assert len(items) == 2 and all(cr.key in html for cr in crs)
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert sorted({i for i in ids if ids.count(i) > 1}) == []
    expected = ["id_agenda_title", "id_action_title", "id_action_change_request"]
    for pk in items:
        expected += [f"id_decision{pk}_outcome", f"id_vote{pk}_decision", f"id_vote{pk}_comment"]
    for field_id in expected:
        assert f'for="{field_id}"' in html and f'id="{field_id}"' in html, field_id
    # A vote refused for its password shows that item's form again, with the same ids.
    r = client.post(base + "do/", {"op": "vote", "item": items[1], "decision": "approve",
                                   "password": "wrong"})  # fmt: skip
    assert r.status_code == 403
    ids = re.findall(r'\sid="([^"]+)"', r.content.decode())
    assert sorted({i for i in ids if ids.count(i) > 1}) == []
    assert f'id="id_vote{items[1]}_password"' in r.content.decode()
