"""The meetings API: allowed / forbidden / outsider for every endpoint, bad input, the flow
from agenda to signed votes and closed minutes, exports parsed back."""

from __future__ import annotations

import datetime as dt

import pytest
from icalendar import Calendar

from changeflow.changes.models import Vote
from changeflow.core.models import AuditEvent
from changeflow.meetings.models import MeetingVote, Occurrence
from tests.api.conftest import error_of, names
from tests.factories import PASSWORD, advance, make_cr

from .helpers import latest_key, make_meeting, week_ago_start, weekly_rule

pytestmark = pytest.mark.django_db


def url(key="ACME", rest=""):
    return f"/api/v1/projects/{key}/meetings/{rest}"


def body(**over):
    start = week_ago_start()
    data = {
        "kind": "ccb",
        "title": "CCB 周会",
        "starts_at": start.isoformat(),
        "timezone": "UTC",
        "rrule": weekly_rule(start),
        "duration_minutes": 60,
    }
    data.update(over)
    return data


@pytest.mark.parametrize(
    ("who", "kind", "code"),
    [
        ("pm", "ccb", 201),
        ("admin", "ccb", 201),
        ("tech_lead", "ccb", 403),
        ("customer_rep", "ccb", 403),
        ("viewer", "ccb", 403),
        ("developer", "ccb", 403),
        ("pm", "customer", 201),
        ("customer_rep", "customer", 201),
        ("customer", "customer", 403),
        ("qa", "customer", 403),
        ("outsider", "ccb", 404),
        ("outsider", "customer", 404),
    ],
)
def test_create_allowed_forbidden_outsider(personas, api, who, kind, code):
    r = api(getattr(personas, who)).post(url(), body(kind=kind), format="json")
    assert r.status_code == code, r.content
    if code == 201:
        data = r.json()
        assert data["kind"] == kind and data["rrule"].startswith("FREQ=WEEKLY")
        assert data["invitees"]  # the board, or the customer-meeting roles
        assert AuditEvent.objects.filter(action="meeting.created").count() == 1
    else:
        assert not AuditEvent.objects.filter(action="meeting.created").exists()


@pytest.mark.parametrize(
    ("who", "code"),
    [("developer", 403), ("viewer", 403), ("customer", 403), ("outsider", 404),
     # runs customer meetings: the body decides, and a body without a kind is invalid
     ("customer_rep", 400)],
)  # fmt: skip
def test_create_checks_the_role_before_the_body(personas, api, who, code):
    for sent in ({}, {"kind": "ccb", "starts_at": "junk"}, {"kind": ["x"]}):
        r = api(getattr(personas, who)).post(url(), sent, format="json")
        assert r.status_code == code, (sent, r.content)


def test_board_chair_runs_ccb_meetings(personas, api):
    from changeflow.ccb import services as ccb

    p = personas
    ccb.board_set(
        user=p.pm,
        project=p.project,
        data={
            "members": [
                {"username": p.tech_lead.username, "role": "tech_lead"},
                {"username": p.qa.username, "role": "qa"},
            ],
            "chair": p.tech_lead.username,
        },
    )
    assert api(p.tech_lead).post(url(), body(), format="json").status_code == 201
    assert api(p.tech_lead).post(url(), body(kind="customer"), format="json").status_code == 403


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ("FREQ=SECONDLY", "FREQ=SECONDLY"),
        ("FREQ=WEEKLY;BYDAY=XX", "BYDAY"),
        ("FREQ=WEEKLY;UNTIL=20301231", "UNTIL"),
        ("FREQ=WEEKLY;INTERVAL=0", "INTERVAL"),
    ],
)
def test_bad_rule_is_422_naming_it(personas, api, rule, says):
    r = api(personas.pm).post(url(), body(rrule=rule), format="json")
    assert r.status_code == 422, r.content
    err = error_of(r)
    assert err["code"] == "invalid_rrule" and names(err, "rrule")
    assert says in err["fields"]["rrule"][0]
    assert not AuditEvent.objects.filter(action="meeting.created").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timezone", "Mars/Base"),
        ("starts_at", "tomorrow"),
        ("duration_minutes", 1),
        ("invitees", ["nobody"]),
        ("title", ""),
        ("kind", "party"),
        ("colour", "red"),
    ],
)
def test_bad_fields_are_400(personas, api, field, value):
    r = api(personas.pm).post(url(), body(**{field: value}), format="json")
    assert r.status_code == 400, r.content
    assert names(error_of(r), field)


def test_visibility_of_ccb_meetings(personas, api):
    p = personas
    ccb = make_meeting(p, "ccb", invitees=[p.pm.username, p.customer_rep.username])
    cust = make_meeting(p, "customer", by=p.customer_rep)
    seen = {
        w: {m["id"] for m in api(getattr(p, w)).get(url()).json()["results"]}
        for w in ("pm", "viewer", "customer", "customer_rep", "admin")
    }
    assert seen["pm"] == seen["viewer"] == seen["admin"] == {ccb.pk, cust.pk}
    assert seen["customer"] == {cust.pk}  # not invited: no CCB meeting
    assert seen["customer_rep"] == {ccb.pk, cust.pk}  # invited to the CCB meeting
    assert api(p.customer).get(url(rest=f"{ccb.pk}/")).status_code == 404
    assert api(p.outsider).get(url(rest=f"{cust.pk}/")).status_code == 404
    assert api(p.outsider).get(url("OTHER", f"{cust.pk}/")).status_code == 404
    assert api(p.pm).get(url(rest="?kind=party")).status_code == 400


def test_update_and_its_permissions(personas, api):
    p = personas
    m = make_meeting(p, "customer")
    r = api(p.customer_rep).patch(url(rest=f"{m.pk}/"), {"title": "周例会"}, format="json")
    assert r.status_code == 200 and r.json()["title"] == "周例会" and r.json()["sequence"] == 1
    assert (
        api(p.customer).patch(url(rest=f"{m.pk}/"), {"title": "x"}, format="json").status_code
        == 403
    )
    assert (
        api(p.outsider).patch(url(rest=f"{m.pk}/"), {"title": "x"}, format="json").status_code
        == 404
    )
    r = api(p.pm).patch(url(rest=f"{m.pk}/"), {"rrule": "FREQ=MINUTELY"}, format="json")
    assert r.status_code == 422
    r = api(p.pm).patch(url(rest=f"{m.pk}/"), {"kind": "ccb"}, format="json")
    assert r.status_code == 400


def _held_ccb(p, api):
    """A CCB meeting whose latest occurrence is in progress, with a CR in review on it."""
    cr = advance(make_cr(p.project, by=p.customer), p, "in_review")
    m = make_meeting(p, "ccb")
    key = latest_key(m)
    occ_url = url(rest=f"{m.pk}/occurrences/{key}/")
    live = api(p.pm).get(occ_url).json()
    assert live["state"] == "scheduled" and live["agenda"][0]["change_request"] == cr.key
    assert live["agenda"][0]["id"] is None  # live until the meeting begins
    r = api(p.pm).post(occ_url + "hold/", {}, format="json")
    assert r.status_code == 200, r.content
    return m, cr, occ_url, r.json()


def test_whole_ccb_meeting(personas, api):
    p = personas
    m, cr, occ_url, held = _held_ccb(p, api)
    assert held["state"] == "held"
    item = held["agenda"][0]
    assert item["id"] and item["snapshot"]["state"] == "in_review"
    assert item["snapshot"]["purpose"] == "decision"
    attendance = [
        {"username": u.username, "status": "present"}
        for u in (p.pm, p.tech_lead, p.qa, p.customer_rep)
    ]
    attendance.append({"username": p.developer.username, "status": "excused"})
    # Only who runs it records attendance.
    r = api(p.qa).put(occ_url + "attendance/", {"attendance": attendance}, format="json")
    assert r.status_code == 403
    r = api(p.pm).put(occ_url + "attendance/", {"attendance": attendance}, format="json")
    assert r.status_code == 200, r.content
    # Votes in the meeting need the voter's password (the e-signature) ...
    vote = {"item": item["id"], "decision": "approve", "password": "wrong"}
    r = api(p.pm).post(occ_url + "votes/", vote, format="json")
    assert r.status_code == 403 and not Vote.objects.exists() and not MeetingVote.objects.exists()
    # ... and presence: the viewer is no voter, the developer was excused.
    r = api(p.developer).post(occ_url + "votes/", {**vote, "password": PASSWORD}, format="json")
    assert r.status_code == 422 and error_of(r)["code"] == "not_present"
    for voter in (p.pm, p.qa, p.customer_rep):
        r = api(voter).post(
            occ_url + "votes/", {**vote, "password": PASSWORD, "comment": "同意"}, format="json"
        )
        assert r.status_code == 201, r.content
    data = api(p.pm).get(occ_url).json()
    votes = data["agenda"][0]["votes"]
    assert [v["voter"] for v in votes] == [p.pm.username, p.qa.username, p.customer_rep.username]
    assert MeetingVote.objects.count() == 3
    cr.refresh_from_db()
    assert cr.state == "approved"  # the board's policy decided through the usual votes
    # A decision with rationale and conditions, and an action item.
    r = api(p.pm).patch(
        occ_url + f"agenda/{item['id']}/",
        {"outcome": "approved", "rationale": "符合合同范围", "conditions": "12 月前上线"},
        format="json",
    )
    assert r.status_code == 200, r.content
    r = api(p.pm).patch(occ_url + f"agenda/{item['id']}/", {"outcome": "approved"}, format="json")
    assert r.status_code == 400 and names(error_of(r), "rationale")
    r = api(p.pm).post(
        occ_url + "actions/",
        {
            "title": "更新需求基线",
            "owner": p.tech_lead.username,
            "due_date": "2026-12-15",
            "change_request": cr.key,
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    action_id = r.json()["id"]
    # The owner marks it done; others who do not run the meeting may not.
    assert (
        api(p.qa)
        .patch(occ_url + f"actions/{action_id}/", {"done": True}, format="json")
        .status_code
        == 403
    )
    assert (
        api(p.tech_lead)
        .patch(occ_url + f"actions/{action_id}/", {"done": True}, format="json")
        .status_code
        == 200
    )
    r = api(p.pm).patch(
        occ_url, {"minutes": "会议纪要：批准。", "internal_notes": "成本敏感"}, format="json"
    )
    assert r.status_code == 200
    r = api(p.pm).post(occ_url + "close/", {}, format="json")
    assert r.status_code == 200 and r.json()["state"] == "closed"
    # Closed: nothing more is recorded.
    r = api(p.pm).put(occ_url + "attendance/", {"attendance": attendance}, format="json")
    assert r.status_code == 409
    assert api(p.pm).post(occ_url + "close/", {}, format="json").status_code == 409

    md = api(p.pm).get(occ_url + "minutes.md")
    assert md.status_code == 200 and md["Content-Type"].startswith("text/markdown")
    text = md.content.decode()
    for expected in (
        cr.key,
        "符合合同范围",
        "12 月前上线",
        "更新需求基线",
        "成本敏感",
        p.qa.username,
        p.customer_rep.username,
        "Present",
        "Excused",
    ):
        assert expected in text, expected
    # Customer roles never see internal notes.
    text_rep = api(p.customer_rep).get(occ_url + "minutes.md").content.decode()
    assert "成本敏感" not in text_rep and "符合合同范围" in text_rep

    pdf = api(p.pm).get(occ_url + "minutes.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert "符合合同范围" in _pdf_text(pdf.content)
    actions = set(AuditEvent.objects.filter(object_type="meeting").values_list("action", flat=True))
    assert {
        "meeting.held",
        "meeting.attendance",
        "meeting.vote",
        "meeting.decision",
        "meeting.action_item",
        "meeting.action_done",
        "meeting.minutes",
        "meeting.closed",
    } <= actions


def _pdf_text(data: bytes) -> str:
    """The PDF's text: read back by poppler's pdftotext when present, else straight from the
    page streams (ReportLab writes them ASCII85 + Flate encoded, and the STSong-Light text as
    UTF-16BE literal strings), so the check never silently skips."""
    import base64
    import re
    import shutil
    import subprocess
    import zlib

    if shutil.which("pdftotext"):
        out = subprocess.run(
            ["pdftotext", "-", "-"],  # noqa: S607
            input=data, capture_output=True, check=True,
        )  # fmt: skip
        return out.stdout.decode()
    escapes = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}

    def unescape(raw: bytes) -> bytes:
        def one(m: re.Match) -> bytes:
            e = m.group(1)
            if e[:1].isdigit():
                return bytes([int(e, 8)])
            return escapes.get(e, e)

        return re.sub(rb"\\([0-7]{1,3}|.)", one, raw, flags=re.S)

    texts = []
    pattern = rb"/ASCII85Decode /FlateDecode \][^>]*>>\s*stream\r?\n(.*?)endstream"
    for m in re.finditer(pattern, data, re.S):
        raw = m.group(1).strip().removesuffix(b"~>")
        page = zlib.decompress(base64.a85decode(raw))
        for lit in re.findall(rb"\(((?:[^()\\]|\\.)*)\)\s*Tj", page, re.S):
            texts.append(unescape(lit).decode("utf-16-be", errors="replace"))
    return "".join(texts)


def test_votes_cast_on_the_cr_page_during_the_meeting_are_linked_at_close(personas, api):
    from changeflow.changes import services as changes
    from tests.factories import fresh

    p = personas
    m, cr, occ_url, held = _held_ccb(p, api)
    changes.vote_cast(user=p.qa, cr=fresh(cr, p.qa), decision="reject", password=PASSWORD)
    live = api(p.pm).get(occ_url).json()["agenda"][0]["votes"]
    assert [v["voter"] for v in live] == [p.qa.username]  # shown while in progress
    assert not MeetingVote.objects.exists()
    api(p.pm).post(occ_url + "close/", {}, format="json")
    assert MeetingVote.objects.count() == 1


def test_occurrence_endpoints_forbidden_and_outsider(personas, api):
    p = personas
    m = make_meeting(p, "ccb")
    occ_url = url(rest=f"{m.pk}/occurrences/{latest_key(m)}/")
    for who, code in (("qa", 403), ("viewer", 403), ("outsider", 404), ("customer", 404)):
        c = api(getattr(p, who))
        assert c.post(occ_url + "hold/", {}, format="json").status_code == code, who
        assert c.post(occ_url + "agenda/", {"title": "x"}, format="json").status_code == code
        assert c.post(occ_url + "cancel/", {}, format="json").status_code == code
        # The role before the body: refused the same with an empty or a malformed one.
        assert c.post(occ_url + "agenda/", {}, format="json").status_code == code
        assert c.put(occ_url + "attendance/", {"attendance": 7}, format="json").status_code == code
        assert c.post(occ_url + "votes/", {}, format="json").status_code in (
            {"qa": 400, "viewer": 403}.get(who, code),
        )
    assert api(p.viewer).get(occ_url).status_code == 200
    assert api(p.outsider).get(occ_url + "minutes.pdf").status_code == 404
    assert api(p.customer).get(occ_url + "minutes.md").status_code == 404
    # Not an occurrence of the series: 404.
    assert api(p.pm).get(url(rest=f"{m.pk}/occurrences/20200101T000000Z/")).status_code == 404
    assert api(p.pm).get(url(rest=f"{m.pk}/occurrences/junk/")).status_code == 404
    # Attendance and decisions before the meeting began: 409.
    r = api(p.pm).put(
        occ_url + "attendance/",
        {"attendance": [{"username": p.qa.username, "status": "present"}]},
        format="json",
    )
    assert r.status_code == 409
    r = api(p.pm).post(occ_url + "agenda/", {"title": "上线计划"}, format="json")
    assert r.status_code == 201
    assert api(p.pm).post(occ_url + "cancel/", {}, format="json").status_code == 200
    assert api(p.pm).post(occ_url + "hold/", {}, format="json").status_code == 409
    assert Occurrence.objects.get().state == "cancelled"


def test_customer_meeting_agenda_is_open_crs_and_exports_ics(personas, api):
    p = personas
    open_cr = make_cr(p.project, by=p.customer, submit=True, title="会员积分规则调整")
    make_cr(p.project, by=p.customer, title="草稿不上会")  # a draft is nobody's business yet
    withdrawn = make_cr(p.project, by=p.customer, submit=True, title="已撤回")
    from changeflow.changes import services as changes
    from tests.factories import fresh

    changes.change_request_transition(
        user=p.customer, cr=fresh(withdrawn, p.customer), action="withdraw"
    )
    m = make_meeting(
        p,
        "customer",
        by=p.customer_rep,
        timezone="Asia/Shanghai",
        starts_at=dt.datetime(2026, 1, 6, 10, 0),
        rrule="FREQ=WEEKLY;BYDAY=TU",
    )
    nxt = api(p.customer).get(url(rest=f"{m.pk}/")).json()["next_occurrence"]
    occ = api(p.customer).get(url(rest=f"{m.pk}/occurrences/{nxt}/")).json()
    assert [a["change_request"] for a in occ["agenda"]] == [open_cr.key]
    assert "internal_notes" not in occ  # a customer role
    r = api(p.customer).get(url(rest=f"{m.pk}/calendar.ics"))
    assert r.status_code == 200 and r["Content-Type"].startswith("text/calendar")
    cal = Calendar.from_ical(r.content)
    event = cal.events[0]
    assert str(event["uid"]) == f"{m.uid}@changeflow"
    assert event["rrule"]["FREQ"] == ["WEEKLY"] and event["rrule"]["BYDAY"] == ["TU"]
    assert event.start.hour == 10 and str(event.start.tzinfo) == "Asia/Shanghai"
    assert "DTSTAMP" in event and cal.walk("VTIMEZONE")
    listing = api(p.pm).get(
        url(rest=f"{m.pk}/occurrences/?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z")
    )
    assert [o["key"] for o in listing.json()] == [
        "20260106T020000Z",
        "20260113T020000Z",
        "20260120T020000Z",
        "20260127T020000Z",
    ]
    bad = api(p.pm).get(url(rest=f"{m.pk}/occurrences/?from=soon"))
    assert bad.status_code == 400


def test_calendar_feed_token(personas, api, client):
    p = personas
    make_meeting(p, "ccb", title="CCB 评审会")
    make_meeting(p, "customer", title="客户周会", invitees=[p.customer.username])
    r = api(p.customer).post("/api/v1/me/calendar-feed/")
    assert r.status_code == 201
    feed = r.json()["url"]
    path = feed.split("testserver", 1)[1]
    cal = Calendar.from_ical(client.get(path).content)
    assert [str(e["summary"]) for e in cal.events] == ["客户周会"]  # not the CCB meeting
    r = api(p.pm).post("/api/v1/me/calendar-feed/")
    pm_path = r.json()["url"].split("testserver", 1)[1]
    pm_cal = Calendar.from_ical(client.get(pm_path).content)
    assert {str(e["summary"]) for e in pm_cal.events} == {"CCB 评审会"}
    # Revoked: the old URL is gone.
    assert api(p.customer).delete("/api/v1/me/calendar-feed/").status_code == 204
    assert client.get(path).status_code == 404
    assert api(p.customer).delete("/api/v1/me/calendar-feed/").status_code == 404
    assert client.get("/calendar/feed/not-a-token.ics").status_code == 404


def test_project_calendar(personas, api):
    from changeflow.ccb import services as ccb

    p = personas
    make_meeting(
        p, "customer", starts_at=dt.datetime(2026, 5, 5, 9, 0), rrule="FREQ=WEEKLY;BYDAY=TU"
    )
    ccb.freeze_window_create(
        user=p.pm,
        project=p.project,
        name="五一封版",
        starts_at=dt.datetime(2026, 4, 30, tzinfo=dt.UTC),
        ends_at=dt.datetime(2026, 5, 6, tzinfo=dt.UTC),
    )
    make_cr(p.project, by=p.customer, submit=True, title="母亲节活动", desired_date="2026-05-10")
    r = api(p.customer).get("/api/v1/projects/ACME/calendar/?month=2026-05")
    assert r.status_code == 200, r.content
    kinds = [e["kind"] for e in r.json()]
    assert kinds.count("meeting") == 4 and "freeze" in kinds and "desired" in kinds
    assert api(p.pm).get("/api/v1/projects/ACME/calendar/?month=2026-13").status_code == 400
    assert api(p.outsider).get("/api/v1/projects/ACME/calendar/").status_code == 404


def test_votes_reset_during_the_meeting_are_marked_void_in_the_minutes(personas, api):
    """A material change in the meeting voids the votes cast so far: the minutes, the page
    and the API still list them (they were cast) but say they do not count, and why."""
    from changeflow.ccb.services import reset_votes

    p = personas
    m, cr, occ_url, held = _held_ccb(p, api)
    item = held["agenda"][0]["id"]
    present = [{"username": u.username, "status": "present"} for u in (p.pm, p.qa)]
    api(p.pm).put(occ_url + "attendance/", {"attendance": present}, format="json")
    vote = {"item": item, "password": PASSWORD}
    r = api(p.qa).post(occ_url + "votes/", {**vote, "decision": "reject"}, format="json")
    assert r.status_code == 201, r.content
    assert reset_votes(cr=cr, reason="估算翻倍 estimate doubled", by=p.pm) == 1
    r = api(p.qa).post(occ_url + "votes/", {**vote, "decision": "approve"}, format="json")
    assert r.status_code == 201, r.content
    lines = api(p.pm).get(occ_url).json()["agenda"][0]["votes"]
    assert [(v["decision"], v["void_reason"], v["voided_at"] is None) for v in lines] == [
        ("reject", "估算翻倍 estimate doubled", False),
        ("approve", "", True),
    ]
    assert api(p.pm).post(occ_url + "close/", {}, format="json").status_code == 200
    md = api(p.pm).get(occ_url + "minutes.md").content.decode()
    rows = [line for line in md.splitlines() if line.startswith("| ") and p.qa.username in line]
    assert len(rows) == 2
    assert "void, does not count: 估算翻倍 estimate doubled" in rows[0] and "Reject" in rows[0]
    assert "void" not in rows[1] and "Approve" in rows[1]
    pdf = _pdf_text(api(p.pm).get(occ_url + "minutes.pdf").content)
    # The narrow column wraps the note; its start is on the voided vote only.
    assert pdf.count("Reject (voi") == 1 and "Approve (" not in pdf
    client = api(p.pm)
    client.force_login(p.pm)
    page = client.get(f"/projects/ACME/meetings/{m.pk}/{latest_key(m)}/").content.decode()
    assert page.count("void, does not count: 估算翻倍 estimate doubled") == 1


def test_occurrence_range_with_any_offset(personas, api):
    """Found by the schema fuzzing (test_fuzz.py): ``from``/``to`` with an offset beyond
    PostgreSQL's ±15:59 (valid ISO 8601) went to the database as it came, a 500 there."""
    p = personas
    m = make_meeting(p, "ccb", starts_at=dt.datetime(2026, 1, 6, 10, 0), rrule="FREQ=WEEKLY")
    r = api(p.pm).get(
        url(rest=f"{m.pk}/occurrences/?from=2026-01-01T20:00:00%2B22:22&to=2026-01-20T00:00:00Z")
    )
    assert r.status_code == 200, r.content
    assert [o["key"] for o in r.json()] == ["20260106T100000Z", "20260113T100000Z"]
    r = api(p.pm).get(url(rest=f"{m.pk}/occurrences/?from=0001-01-01T00:00:00%2B01:00"))
    assert r.status_code == 400
    assert names(error_of(r), "from")
