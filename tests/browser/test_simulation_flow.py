"""A real browser on the simulation panel: the tech lead opens a CR with implementation tasks,
runs the Monte Carlo simulation (swapped in by HTMX), sees P50/P80/P95 with the shift and both
charts, and records the result as the assessment. Chinese page, no CSP or script error."""

import os
from pathlib import Path

from changeflow.changes.models import ImpactAssessment
from changeflow.impact import plan_io, plans
from tests.browser.support import BROWSER_TEST, signed_in_page
from tests.factories import advance, complete_assessment, make_cr

pytestmark = BROWSER_TEST

CSV = (
    "id,name,optimistic,most_likely,pessimistic,depends_on,rate,milestone,target_date\n"
    "A,需求分析,2,3,5,,1000,,\n"
    "B,开发,5,8,14,A,2000,,\n"
    "C,测试,2,3,6,B,1000,上线,2027-01-22\n"
)


def test_simulate_on_the_cr_page_and_record_the_assessment(
    live_server,
    personas,
    browser,
    tmp_path,
):
    p = personas
    shots = Path(os.environ.get("CHANGEFLOW_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    cr = advance(make_cr(p.project, by=p.customer, title="会员积分可以抵扣运费"), p, "assessing")
    complete_assessment(cr, by=p.tech_lead)
    clean = plan_io.rows_to_plan(plan_io.read_rows("p.csv", CSV.encode()))
    plans.plan_replace(user=p.pm, project=p.project, clean=clean,
                       header={"start_date": "2027-01-04"})  # fmt: skip
    plans.change_plan_set(user=p.tech_lead, cr=cr, data={
        "tasks": [{"key": "X", "name": "积分抵扣", "optimistic": 2, "most_likely": 3,
                   "pessimistic": 6, "rate": 800}], "after": ["B"], "before": ["C"]})  # fmt: skip

    context, page, errors = signed_in_page(browser, live_server.url, p.tech_lead, timeout=20_000)

    page.goto(f"{live_server.url}/changes/{cr.key}/")
    panel = page.locator("#simulation")
    assert "进度与成本模拟" in panel.inner_text() and "尚未模拟" in panel.inner_text()
    url_before = page.url
    page.fill("#simulation input[name=iterations]", "5000")
    page.fill("#simulation input[name=seed]", "42")
    page.click("#simulation button[type=submit]")
    page.wait_for_selector("#simulation table.sim-table")
    assert page.url == url_before  # swapped in place by HTMX
    text = page.locator("#simulation").inner_text()
    assert "P50" in text and "P80" in text and "P95" in text and "上线" in text
    assert page.locator("#simulation .sim-shift").count() == 3
    # Both charts load (served by the permission-checked view) and are real images.
    page.wait_for_function(
        "() => [...document.querySelectorAll('#simulation .sim-charts img')]"
        ".every(i => i.complete && i.naturalWidth > 300)"
    )
    page.locator("#simulation").screenshot(path=str(shots / "cr-simulation-zh.png"))

    page.select_option("#id_sim_level", "P80")
    page.click(".sim-assess button[type=submit]")
    page.wait_for_selector(".msg-success")
    latest = ImpactAssessment.objects.filter(change_request=cr).order_by("-version").first()
    assert latest.method == "simulation" and latest.version == 2
    assert "模拟" in page.locator("#impact-h").locator("..").inner_text()
    assert not errors, errors
    context.close()
