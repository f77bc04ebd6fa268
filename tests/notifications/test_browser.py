"""The notification flow in a real Chromium: a CR enters review; a board member sees the unread
count in the top bar, opens the inbox and the CR; sets preferences; the PM adds a DingTalk
webhook, sends a test and reads the delivery log. In Chinese, as the demo's team would.

``CHANGEFLOW_SCREENSHOTS=DIR`` keeps the screenshots.
"""

from __future__ import annotations

import os
from pathlib import Path

from changeflow.changes import services as cr_services
from tests.browser.support import BROWSER_TEST, open_page, sign_in
from tests.factories import advance, complete_assessment, fresh, make_cr

pytestmark = BROWSER_TEST


def test_inbox_preferences_and_webhook_pages(live_server, p, browser, receiver, tmp_path):
    shots = Path(os.environ.get("CHANGEFLOW_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    cr = advance(make_cr(p.project, by=p.customer, title="登录页面需要支持短信验证码"), p,
                 "assessing")  # fmt: skip
    complete_assessment(cr, by=p.tech_lead)
    cr_services.change_request_transition(
        user=p.tech_lead, cr=fresh(cr, p.tech_lead), action="request_review"
    )
    base = live_server.url
    context, page, errors = open_page(browser)

    # A board member: the unread count, the inbox, the CR.
    sign_in(page, base, p.qa)
    badge = page.locator(".nav-inbox .count-badge")
    assert badge.inner_text() == "1"
    page.click(".nav-inbox")
    page.wait_for_url(f"{base}/notifications/")
    item = page.locator(".inbox-item.unread .inbox-open").first
    assert f"请对 {cr.key} 投票" in item.inner_text()
    page.screenshot(path=str(shots / "notify-inbox.png"), full_page=True)
    item.click()
    page.wait_for_url(f"{base}/changes/{cr.key}/")
    assert page.locator(".nav-inbox .count-badge").count() == 0
    page.click("#watch-h ~ form button")
    assert "取消关注" in page.locator("#watch-h ~ form").inner_text()

    # Preferences: comments by e-mail too.
    page.goto(f"{base}/notifications/preferences/")
    page.select_option("select[name='kind:cr.commented']", "both")
    page.screenshot(path=str(shots / "notify-preferences.png"), full_page=True)
    page.click("form button[type=submit].btn-primary")
    page.wait_for_url(f"{base}/notifications/preferences/")
    assert page.locator("select[name='kind:cr.commented']").input_value() == "both"

    # The PM: project settings → webhooks → a DingTalk robot → send test → delivery log.
    page.context.clear_cookies()
    sign_in(page, base, p.pm)
    page.goto(f"{base}/projects/{p.project.key}/settings/")
    page.click(f"a[href='/projects/{p.project.key}/webhooks/']")
    page.wait_for_url(f"{base}/projects/{p.project.key}/webhooks/")
    page.fill("input[name=name]", "CCB 钉钉群")
    page.fill("input[name=url]", receiver.url + "?access_token=t")
    page.select_option("select[name=kind]", "dingtalk")
    page.check("input[name=events][value='cr.vote_needed']")
    page.fill("input[name=secret]", "SECbrowser0123456789")
    form = page.locator(f"form[action='/projects/{p.project.key}/webhooks/']")
    form.locator("select[name=language]").select_option("zh-hans")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    page.screenshot(path=str(shots / "notify-webhook-saved.png"), full_page=True)
    assert page.url.rstrip("/").split("/")[-1].isdigit(), page.locator("main").inner_text()
    assert "已设置密钥" in page.content() and "SECbrowser0123456789" not in page.content()
    assert "6789" not in page.content()
    page.click("text=发送测试消息")
    page.wait_for_load_state()
    log = page.locator("table.deliveries").inner_text()
    assert "webhook.test" in log and "HTTP 200" in log, log
    page.screenshot(path=str(shots / "notify-webhook.png"), full_page=True)
    assert receiver.requests and receiver.requests[-1]["json"]["msgtype"] == "markdown"
    assert not errors, errors
    context.close()
