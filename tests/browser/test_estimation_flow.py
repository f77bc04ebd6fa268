"""Real-browser walk of estimation: Delphi round, analogues with actuals, the assessment that
the board then sees, and the intake duplicate check as the title is typed."""

import os
from pathlib import Path

from changeflow.changes import services as change_services
from changeflow.impact import services
from tests.browser.support import BROWSER_TEST, open_page, sign_in, signed_in_page
from tests.factories import PASSWORD, advance, complete_assessment, fresh, make_cr

pytestmark = BROWSER_TEST

PAST = [
    ("库存同步改为增量同步", "仓储系统每小时全量推送库存，改为每 10 分钟增量同步。", "44"),
    ("Reserve stock when an order is paid", "Hold stock as soon as payment succeeds.", "52"),
    ("Warehouse API: batch stock queries", "Query stock for 100 SKUs per call.", "18"),
]


def close(p, title, text, effort):
    cr = advance(make_cr(p.project, by=p.customer, title=title, description=text), p, "assessing")
    complete_assessment(cr, by=p.tech_lead)
    cr = change_services.change_request_transition(
        user=p.tech_lead, cr=fresh(cr, p.tech_lead), action="request_review"
    )
    for voter in (p.pm, p.qa, p.customer_rep):
        change_services.vote_cast(user=voter, cr=fresh(cr, voter), decision="approve",
                                  password=PASSWORD)  # fmt: skip
    for action, actor in (
        ("start_implementation", p.tech_lead),
        ("submit_verification", p.developer),
    ):
        cr = change_services.change_request_transition(
            user=actor, cr=fresh(cr, actor), action=action
        )
    cr = change_services.change_request_update(
        user=p.developer, cr=fresh(cr, p.developer), data={"actual_effort_hours": effort}
    )
    change_services.change_request_transition(user=p.qa, cr=fresh(cr, p.qa), action="verify")


def test_delphi_analogues_assessment_and_the_board_sees_it(
    live_server, personas, browser, tmp_path
):
    p = personas
    shots = Path(os.environ.get("CHANGEFLOW_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    for past in PAST:
        close(p, *past)
    cr = make_cr(
        p.project, by=p.customer, title="Inventory sync with the warehouse every 5 minutes",
        description="Sync stock every 5 minutes and reserve stock when paid.",
    )  # fmt: skip
    cr = advance(cr, p, "assessing")
    for who, (o, m, pe) in ((p.developer, (16, 24, 40)), (p.qa, (40, 60, 100))):
        services.expert_estimate_submit(
            user=who, cr=fresh(cr, who),
            effort={"optimistic": o, "most_likely": m, "pessimistic": pe},
        )  # fmt: skip
    context, page, errors = open_page(browser)

    # The tech lead closes the round: they disagree, round 2 opens.
    sign_in(page, live_server.url, p.tech_lead)
    page.goto(f"{live_server.url}/changes/{cr.key}/")
    assert page.locator("#estimates .analogues tbody tr").count() == 3
    page.click("#estimates form.inline-form button")
    page.wait_for_selector(".messages .msg-warning")
    assert "第 2 轮" in page.locator(".messages").inner_text()
    # The tech lead gives their own estimate in round 2 from the page's form.
    page.fill("input[name=effort_optimistic]", "30")
    page.fill("input[name=effort_most_likely]", "42")
    page.fill("input[name=effort_pessimistic]", "64")
    page.click(".estimate-form button[type=submit]")
    page.wait_for_selector(".msg-success")
    page.screenshot(path=str(shots / "estimates-zh.png"), full_page=True)

    # The assessment form shows the methods side by side; record with the method used.
    page.goto(f"{live_server.url}/changes/{cr.key}/assessment/")
    assert page.locator("#methods-h").count() == 1
    assert page.locator(".analogues tbody tr").count() == 3
    assert "库存同步改为增量同步" in page.locator(".analogues").inner_text()
    page.fill("input[name=effort_hours]", "48")
    page.fill("input[name=schedule_days]", "6")
    page.fill("input[name=cost]", "14400")
    page.select_option("select[name=method]", "analogy")
    page.fill("textarea[name=risks-0-description]", "仓储接口限流 / warehouse API rate limit")
    page.fill("input[name=risks-0-probability]", "0.3")
    page.select_option("select[name=risks-0-impact]", "3")
    page.click("form.form-wide button[type=submit]")
    page.wait_for_url(f"{live_server.url}/changes/{cr.key}/")
    context.close()

    # The board (the PM) sees the assessment and the same panel, in English.
    context, page, _errors = signed_in_page(browser, live_server.url, p.pm, locale="en-US")
    page.goto(f"{live_server.url}/changes/{cr.key}/")
    impact = page.locator("section[aria-labelledby=impact-h]").inner_text()
    assert "48" in impact and "Historical analogy" in impact
    assert page.locator("#estimates .rounds").count() >= 1
    page.screenshot(path=str(shots / "estimates-en.png"), full_page=True)

    # Intake: typing a title shows the likely duplicate.
    page.goto(f"{live_server.url}/projects/{p.project.key}/changes/new/")
    page.fill("input[name=title]", "库存同步改为增量同步")
    page.wait_for_selector("#intake-similar-results .similar-dup")
    assert "库存同步改为增量同步" in page.locator("#intake-similar-results").inner_text()
    context.close()
    assert not errors, errors
