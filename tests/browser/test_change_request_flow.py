"""One real-browser walk: sign in, create a CR in Chinese, submit it, see it in the history.

Playwright for Python drives Debian's Chromium (``/usr/bin/chromium``); Playwright's own browser
builds are never downloaded. Set ``CHANGEFLOW_SCREENSHOTS=DIR`` to keep screenshots of the CR
page at laptop and phone width.
"""

import os
from pathlib import Path

from tests.browser.support import BROWSER_TEST, open_page, sign_in

pytestmark = BROWSER_TEST


def test_sign_in_create_in_chinese_submit_and_see_history(live_server, personas, browser, tmp_path):
    shots = Path(os.environ.get("CHANGEFLOW_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    context, page, errors = open_page(browser)

    # Sign in (the browser asks for Chinese: the page answers in Chinese).
    sign_in(page, live_server.url, personas.customer)

    # Create a change request in Chinese: from My work (the signed-in home) to the projects.
    page.click("nav.mainnav a[href='/projects/']")
    page.click(f"a[href='/projects/{personas.project.key}/']")
    page.click(f"a[href='/projects/{personas.project.key}/changes/new/']")
    page.fill("input[name=title]", "登录页面需要支持短信验证码")
    page.fill("textarea[name=description]", "用户希望通过短信验证码登录。\n第二行：不再只用密码。")
    page.select_option("select[name=type]", "feature")
    page.select_option("select[name=priority]", "P2")
    page.click("form.form-wide button[type=submit]")
    page.wait_for_url(f"{live_server.url}/changes/ACME-1/")
    assert page.locator("h1").inner_text() == "登录页面需要支持短信验证码"
    assert "第二行" in page.locator(".prose").first.inner_text()

    # Take one action: submit. The customer may only submit or withdraw their draft.
    buttons = page.locator(".action-buttons button")
    assert sorted(buttons.evaluate_all("bs => bs.map(b => b.value)")) == ["submit", "withdraw"]
    page.click("button[name=action][value=submit]")
    page.wait_for_selector(".timeline .tl-cr-submit")

    # The history timeline shows the submission, read from the audit log.
    timeline = page.locator(".timeline")
    assert timeline.locator(".tl-cr-submit").count() == 1
    assert "提交了变更请求" in timeline.locator(".tl-cr-submit").inner_text()
    assert page.locator(".crhead .state-submitted").count() == 1

    page.screenshot(path=str(shots / "cr-detail-laptop.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(shots / "cr-detail-phone.png"), full_page=True)

    # The list filters through HTMX without a full reload.
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_server.url}/projects/{personas.project.key}/")
    page.fill("input[name=q]", "验证码")
    page.wait_for_function("() => location.search.includes('q=')")
    assert page.locator("table.crs tbody tr").count() == 1
    page.fill("input[name=q]", "没有这种需求")
    page.wait_for_selector(".results .empty")
    page.screenshot(path=str(shots / "cr-list-laptop.png"), full_page=True)

    assert not errors, errors  # no CSP violation or script error
    context.close()
