"""A real-browser walk of a CCB meeting: schedule it with the recurrence picker (the script
writes the RRULE), begin it, record attendance, vote with the password, record the decision,
close the minutes and download them. Debian's Chromium, no downloaded browser builds."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from zoneinfo import ZoneInfo

from django.utils import timezone

from changeflow.meetings.models import Meeting, MeetingVote
from tests.browser.support import BROWSER_TEST, open_page, sign_in
from tests.factories import PASSWORD, advance, make_cr

pytestmark = BROWSER_TEST


def test_schedule_and_run_a_ccb_meeting(live_server, personas, browser, tmp_path):
    shots = Path(os.environ.get("CHANGEFLOW_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    p = personas
    cr = advance(make_cr(p.project, by=p.customer, title="会员积分抵扣运费"), p, "in_review")
    context, page, errors = open_page(browser, accept_downloads=True)
    base = live_server.url
    sign_in(page, base, p.pm)

    # The project's nav leads to its meetings; schedule a weekly one with the picker.
    page.goto(f"{base}/projects/ACME/")
    page.click(".tabs a[href='/projects/ACME/meetings/']")
    page.click("a[href='/projects/ACME/meetings/new/']")
    page.fill("input[name=title]", "CCB 周会")
    # Weekly on today's weekday, at a time that began five minutes ago, three weeks back.
    start = timezone.now().astimezone(ZoneInfo("Asia/Shanghai")) - dt.timedelta(minutes=5)
    day = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[start.weekday()]
    first = start - dt.timedelta(weeks=3)
    page.fill("input[name=starts_at]", first.strftime("%Y-%m-%dT%H:%M"))
    page.fill("input[name=timezone]", "Asia/Shanghai")
    page.select_option("select[name=freq]", "WEEKLY")
    page.check(f"input[name=byday][value={day}]")
    assert page.input_value("input[name=rrule]") == f"FREQ=WEEKLY;BYDAY={day}"
    page.screenshot(path=str(shots / "meeting-form.png"), full_page=True)
    page.click("#meeting-form button[type=submit]")
    page.wait_for_selector(f"text=FREQ=WEEKLY;BYDAY={day}")
    meeting = Meeting.objects.get()
    assert meeting.rrule == f"FREQ=WEEKLY;BYDAY={day}"

    # Its latest occurrence: begin it, attendance, a signed vote, the decision, close.
    page.locator(".occurrences a").first.click()
    assert cr.key in page.locator(".agenda").inner_text()
    page.click("button[name=op][value=hold]")
    page.wait_for_selector("select[name='att-%s']" % p.pm.username)
    for u in (p.pm, p.qa, p.customer_rep, p.tech_lead):
        page.select_option(f"select[name='att-{u.username}']", "present")
    page.click("form:has(input[value=attendance]) button[type=submit]")
    page.wait_for_selector(".msg-success")
    page.click("summary:has-text('在本次会议上投票')")
    page.select_option("select[name=decision]", "approve")
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[value=vote]) button[type=submit]")
    page.wait_for_selector("table.votes")
    assert MeetingVote.objects.count() == 1
    page.select_option("select[name=outcome]", "continued")
    page.fill("textarea[name=rationale]", "等待其余委员投票")
    page.click("form:has(input[value=decide]) button[type=submit]")
    page.wait_for_selector("text=等待其余委员投票")
    page.on("dialog", lambda d: d.accept())
    page.click("button[name=op][value=close]")
    page.wait_for_selector(".occ-closed")
    page.screenshot(path=str(shots / "meeting-occurrence.png"), full_page=True)
    with page.expect_download() as download:
        page.click("a[href$='minutes.pdf']")
    assert download.value.path().read_bytes().startswith(b"%PDF")

    page.goto(f"{base}/projects/ACME/calendar/")
    assert page.locator(".calendar").count() == 1
    page.screenshot(path=str(shots / "project-calendar.png"), full_page=True)
    assert not errors, errors
    context.close()
