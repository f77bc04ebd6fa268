"""My work in a real browser, at a phone's width and a laptop's: signing in lands on it, every
row is within the screen (nothing scrolls sideways), and a row opens where the work is done."""

import os
from pathlib import Path

from changeflow.changes import services as changes
from tests.browser.support import BROWSER_TEST, sign_in
from tests.factories import advance, fresh, make_cr

pytestmark = BROWSER_TEST

# Set to a folder to keep the screenshots (they are looked at when the page changes).
SHOTS = os.environ.get("CHANGEFLOW_SCREENSHOTS")


def test_my_work_on_a_phone_and_a_laptop(live_server, personas, browser):
    p = personas
    voted = advance(make_cr(p.project, by=p.customer, title="会员积分可以抵扣运费"), p, "in_review")
    title = "Inventory sync with the warehouse every 5 minutes"
    mine = advance(make_cr(p.project, by=p.customer, title=title), p, "triaged")
    changes.change_request_update(
        user=p.pm, cr=fresh(mine, p.pm), data={"assignee": p.tech_lead.username}
    )
    for width, locale in ((390, "zh-CN"), (1280, "en-US")):
        context, page, errors = _page(browser, locale, width)
        sign_in(page, live_server.url, p.tech_lead)
        assert page.locator("#work-votes .work-item").count() == 1
        assert page.locator("#work-assigned .work-item").count() == 1
        assert page.locator("[data-testid=my-work-count]").inner_text() == "2"
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{width}px: scrolls sideways by {overflow}px"
        if width >= 1280:  # the top bar's links and tools on one line
            assert page.evaluate("document.querySelector('.topbar').offsetHeight") < 80
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=f"{SHOTS}/my-work-{width}.png", full_page=True)
        page.click(f"#work-votes a[href='/changes/{voted.key}/']")
        page.wait_for_url(f"{live_server.url}/changes/{voted.key}/")
        assert errors == []
        context.close()


def _page(browser, locale: str, width: int):
    """``support.open_page`` at ``width`` pixels (it opens a laptop-sized window)."""
    context = browser.new_context(viewport={"width": width, "height": 900}, locale=locale)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return context, page, errors
