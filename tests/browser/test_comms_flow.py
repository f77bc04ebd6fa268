"""A real-browser walk of the communication pages: the PM logs a phone call on a CR, sees it
on the CR's page, and finds an overdue CR escalated on the SLA page (zh-Hans)."""

import datetime as dt
import os
from pathlib import Path

from changeflow.changes.models import ChangeRequest
from changeflow.comms import sla
from tests.browser.support import BROWSER_TEST, signed_in_page
from tests.factories import advance, make_cr

pytestmark = BROWSER_TEST


def test_log_a_call_and_see_the_escalation(live_server, personas, browser, tmp_path):
    shots = Path(os.environ.get("CHANGEFLOW_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    p = personas
    cr = advance(make_cr(p.project, by=p.customer, title="报表导出 Excel"), p, "triaged")
    entered = ChangeRequest.objects.get(pk=cr.pk).state_changed_at
    sla.sla_check(now=entered + dt.timedelta(hours=50))  # P2 triage 24 h: both levels

    context, page, errors = signed_in_page(browser, live_server.url, p.pm)

    page.goto(f"{live_server.url}/projects/ACME/")
    page.click("a[href='/projects/ACME/communications/']")
    page.select_option("select[name=channel]", "phone")
    page.fill("input[name=occurred_at]", "2026-11-20T10:30")
    page.fill("input[name=participants]", "周杰, 王磊")
    page.fill("textarea[name=summary]", "电话确认：导出需要保留公式。")
    page.fill("input[name=change_requests]", cr.key)
    page.click("form button[type=submit].btn-primary")
    page.wait_for_selector(".comm-entry")
    assert "电话确认：导出需要保留公式。" in page.locator(".timeline").inner_text()

    page.goto(f"{live_server.url}/changes/{cr.key}/")
    panel = page.locator("#comms-h").locator("xpath=..")
    text = panel.inner_text()
    assert "电话确认" in text and "SLA 2 级" in text
    page.screenshot(path=str(shots / "cr-communications.png"), full_page=True)

    page.goto(f"{live_server.url}/projects/ACME/sla/")
    current = page.locator("table.sla-current").inner_text()
    assert cr.key in current and p.pm.username in current
    page.screenshot(path=str(shots / "sla.png"), full_page=True)
    assert not errors, errors
    context.close()
