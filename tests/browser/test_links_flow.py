"""A real browser on the CR page's Links panel: the tech lead adds a dependency (swapped in by
HTMX, no reload), is refused a self-link in the panel (the 400 is swapped in, not dropped),
removes the link; the project manager marks a suggestion of the similar-change panel as the
original (confirmed), the CR is withdrawn. Chinese page, no CSP or script error."""

from changeflow.changes.models import ChangeRequestLink
from tests.browser.support import BROWSER_TEST, signed_in_page
from tests.factories import fresh, make_cr

pytestmark = BROWSER_TEST


def test_links_panel_in_a_browser(live_server, personas, browser):
    p = personas
    original = make_cr(p.project, by=p.customer, submit=True, title="登录页面需要支持短信验证码")
    cr = make_cr(p.project, by=p.customer, submit=True, title="登录页面支持短信验证码登录")
    other = make_cr(p.project, by=p.customer, submit=True, title="发票抬头支持增值税专用发票")

    context, page, errors = signed_in_page(browser, live_server.url, p.tech_lead)
    page.goto(f"{live_server.url}/changes/{cr.key}/")
    url_before = page.url
    page.select_option("#id_link_kind", "depends_on")
    page.fill("#id_link_target", other.key)
    page.click("#links button:has-text('添加关联')")
    page.wait_for_selector(f"#links a:has-text('{other.key}')")
    assert page.url == url_before
    assert "依赖于" in page.locator("#links").inner_text()
    page.fill("#id_link_target", cr.key)
    page.click("#links button:has-text('添加关联')")
    page.wait_for_selector("#links .msg-error")
    assert "不能关联到自身" in page.locator("#links .msg-error").inner_text()
    page.click("#links button:has-text('移除')")
    page.wait_for_selector("#links p.empty")
    assert not ChangeRequestLink.objects.exists()
    context.close()

    context, page, pm_errors = signed_in_page(browser, live_server.url, p.pm)
    page.goto(f"{live_server.url}/changes/{cr.key}/")
    page.on("dialog", lambda dialog: dialog.accept())
    button = page.locator(f"#similar li:has-text('{original.key}') button:has-text('标记为重复')")
    button.click()
    page.wait_for_url(f"{live_server.url}/changes/{cr.key}/")
    page.wait_for_selector("#links")
    assert "重复于" in page.locator("#links").inner_text()
    assert fresh(cr, p.pm).state == "withdrawn"
    context.close()
    # The refused self-link's 400 is the one error the browser logs; nothing else (no CSP
    # refusal, no script error).
    assert [e for e in errors if "status of 400" not in e] == [] and pm_errors == []
