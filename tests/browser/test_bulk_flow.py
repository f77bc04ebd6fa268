"""A real browser on the CR list's bulk bar: hidden until a row is ticked, showing only the
field its operation needs; the tech lead ticks three rows, assigns them, and is back on the
same filtered list with the message. Chinese page, no CSP or script error."""

from changeflow.changes.models import ChangeRequest
from tests.browser.support import BROWSER_TEST, signed_in_page
from tests.factories import make_cr

pytestmark = BROWSER_TEST


def test_bulk_assign_in_a_browser(live_server, personas, browser):
    p = personas
    crs = [make_cr(p.project, by=p.customer, submit=True, title=f"变更 {i}") for i in range(4)]
    make_cr(p.project, by=p.customer, title="草稿")  # filtered out: a draft

    context, page, errors = signed_in_page(browser, live_server.url, p.tech_lead)
    url = f"{live_server.url}/projects/ACME/?state=submitted&ordering=created"
    page.goto(url)
    bar = page.locator("[data-bulk-bar]")
    assert not bar.is_visible()  # nothing ticked yet
    for cr in crs[:3]:
        page.check(f"input[data-bulk-row][value='{cr.key}']")
    assert bar.is_visible()
    assert page.locator("[data-bulk-count]").inner_text() == "(3)"
    assert page.locator("input[data-bulk-page]").evaluate("el => el.indeterminate")
    page.select_option("[data-bulk-operation]", "assign")
    assert page.locator("[data-bulk-for='assign']").is_visible()
    assert not page.locator("[data-bulk-for='priority']").is_visible()
    page.select_option("[data-bulk-bar] select[name=assignee]", p.developer.username)
    page.click("[data-bulk-bar] button[type=submit]")
    page.wait_for_selector(".msg-success")
    assert page.url == url
    assert "已更新 3 个变更请求" in page.locator(".msg-success").inner_text()
    assigned = ChangeRequest.objects.filter(assignee=p.developer).values_list("key", flat=True)
    assert sorted(assigned) == sorted(cr.key for cr in crs[:3])
    # The page's checkbox ticks every row of the page.
    page.check("input[data-bulk-page]")
    assert page.locator("input[data-bulk-row]:checked").count() == 4
    context.close()
    assert errors == []
