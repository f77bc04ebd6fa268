"""The board's main flow in a real Chromium: members vote on the CR page with their password,
the customer representative (a required role) approves last and the CR is approved at that
moment; the pending-votes count follows; a material change of the assessment resets votes."""

from __future__ import annotations

import os
from pathlib import Path

from changeflow.ccb import services as ccb
from changeflow.changes import services
from tests.browser.support import BROWSER_TEST, signed_in_page
from tests.factories import PASSWORD, advance, complete_assessment, fresh, make_cr

pytestmark = BROWSER_TEST


def vote_in_page(page, url, key, decision, password=PASSWORD, comment=""):
    page.goto(f"{url}/changes/{key}/")
    page.check(f".vote-form input[name=decision][value={decision}]")
    if comment:
        page.fill(".vote-form textarea[name=comment]", comment)
    page.fill(".vote-form input[name=password]", password)
    page.click(".vote-form button[type=submit]")
    page.wait_for_load_state()


def test_board_votes_in_the_browser(live_server, personas, browser, tmp_path):
    p = personas
    shots = Path(os.environ.get("CHANGEFLOW_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    ccb.board_set(
        user=p.pm, project=p.project,
        data={"members": [{"username": u.username} for u in
                          (p.pm, p.tech_lead, p.qa, p.customer_rep)],
              "required_roles": ["customer_rep"], "chair": p.pm.username},
    )  # fmt: skip
    cr = advance(make_cr(p.project, by=p.customer, title="购物车保留 30 天"), p, "in_review")
    url = live_server.url

    # The QA's nav shows one pending vote; a wrong password signs nothing.
    context, page, errors = signed_in_page(browser, url, p.qa, locale="en-US", console=False)
    page.goto(f"{url}/votes/pending/")
    assert page.locator("[data-testid=pending-votes-count]").inner_text() == "1"
    assert cr.key in page.locator("main").inner_text()
    vote_in_page(page, url, cr.key, "approve", password="wrong")
    assert "password is wrong" in page.locator("main").inner_text()
    vote_in_page(page, url, cr.key, "approve", comment="regression plan ok")
    assert "Your vote was signed and recorded" in page.locator("main").inner_text()
    assert page.locator("[data-testid=pending-votes-count]").count() == 0
    context.close()

    for user in (p.pm, p.tech_lead):
        context, page, errors = signed_in_page(browser, url, user, locale="en-US", console=False)
        vote_in_page(page, url, cr.key, "approve")
        context.close()
    assert fresh(cr, p.pm).state == "in_review"  # the required customer rep has not approved

    # The customer representative, in Chinese, sees what is still needed and approves last.
    context, page, errors = signed_in_page(
        browser, url, p.customer_rep, locale="zh-CN", console=False
    )
    page.goto(f"{url}/changes/{cr.key}/")
    needed = page.locator("[data-testid=still-needed]").inner_text()
    assert "客户代表的批准（必需）" in needed, needed
    assert "以客户代表身份批准变更请求" in page.locator(".signature-meanings").inner_text()
    page.screenshot(path=str(shots / "ccb-before-last-vote.png"), full_page=True)
    vote_in_page(page, url, cr.key, "approve")
    assert fresh(cr, p.pm).state == "approved"
    body = page.locator("main").inner_text()
    assert "委员会投票" in body and "以客户代表身份" in body
    page.screenshot(path=str(shots / "ccb-approved.png"), full_page=True)
    assert not errors
    context.close()

    # A material change of the assessment during another review resets its votes.
    cr2 = advance(make_cr(p.project, by=p.customer), p, "in_review")
    services.vote_cast(user=p.qa, cr=fresh(cr2, p.qa), decision="approve", password=PASSWORD)
    complete_assessment(cr2, by=p.tech_lead, cost="99000")
    context, page, errors = signed_in_page(browser, url, p.qa, locale="en-US", console=False)
    page.goto(f"{url}/changes/{cr2.key}/")
    assert "1 earlier vote was reset" in page.locator("main").inner_text()
    assert page.locator("[data-testid=pending-votes-count]").inner_text() == "1"
    context.close()
