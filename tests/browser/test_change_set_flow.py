"""A real-browser walk of a change set: the tech lead drafts an edit on the CR page, a reviewer
sees the redline, the implementer applies it after approval, closing makes the next baseline
whose diff is exactly the change, and the link downstream is suspect."""

from changeflow.changes import services as cs
from changeflow.requirements import services
from changeflow.requirements.models import Baseline, TraceLink
from tests.browser.support import BROWSER_TEST, signed_in_page
from tests.factories import PASSWORD, advance, complete_assessment, fresh, make_cr
from tests.requirements.helpers import make_baseline, make_req

pytestmark = BROWSER_TEST


def test_draft_review_apply_close_baseline(live_server, personas, browser):
    p = personas
    r1 = make_req(p.project, by=p.pm, title="积分抵扣", text="100 积分抵扣 1 元。")
    test = services.artifact_create(user=p.pm, project=p.project, kind="test", title="积分测试")
    services.link_create(user=p.pm, project=p.project, source=test.key, target=r1.key,
                         kind="verifies")  # fmt: skip
    make_baseline(p.project, by=p.pm, name="V1")
    cr = advance(make_cr(p.project, by=p.customer, affected_requirements=[r1.key]), p, "assessing")

    # The tech lead drafts a modification on the CR page.
    context, page, errors = signed_in_page(browser, live_server.url, p.tech_lead, console=False)
    page.goto(f"{live_server.url}/changes/{cr.key}/")
    page.select_option("#cs-modify-req", r1.key)
    page.click("form.cs-inline-form button[type=submit] >> nth=0")
    page.fill("textarea[name=text]", "100 积分抵扣 1 元，运费也可以抵扣。")
    page.click("form.form-wide button[type=submit]")
    page.wait_for_selector("#change-set .edit")
    assert "运费也可以抵扣" in page.locator("#change-set ins").first.inner_text()
    context.close()
    assert not errors, errors

    # Review and approval (the board votes), then implementation.
    complete_assessment(cr, by=p.tech_lead)
    cr = cs.change_request_transition(user=p.tech_lead, cr=fresh(cr, p.tech_lead),
                                      action="request_review")  # fmt: skip
    # A reviewer (QA) sees the redline.
    context, page, errors = signed_in_page(browser, live_server.url, p.qa, console=False)
    page.goto(f"{live_server.url}/changes/{cr.key}/")
    assert page.locator("#change-set ins").count() >= 1
    context.close()
    for voter in (p.pm, p.qa, p.customer_rep):
        cs.vote_cast(user=voter, cr=fresh(cr, voter), decision="approve", password=PASSWORD)
    cs.change_request_transition(user=p.tech_lead, cr=fresh(cr, p.tech_lead),
                                 action="start_implementation")  # fmt: skip

    # The implementer applies the change set from the CR page.
    context, page, errors = signed_in_page(browser, live_server.url, p.tech_lead, console=False)
    page.goto(f"{live_server.url}/changes/{cr.key}/")
    page.click(".apply-form button[type=submit]")
    page.wait_for_selector("#change-set .msg-success")
    context.close()
    r1.refresh_from_db()
    assert r1.version == 2 and "运费" in r1.text
    assert TraceLink.objects.get().suspect

    # Closing makes the next baseline; its diff against V1 is exactly the change.
    cr = cs.change_request_transition(user=p.developer, cr=fresh(cr, p.developer),
                                      action="submit_verification")  # fmt: skip
    cs.change_request_update(user=p.developer, cr=cr, data={"actual_effort_hours": "8"})
    cs.change_request_transition(user=p.qa, cr=fresh(cr, p.qa), action="verify")
    new = Baseline.objects.exclude(name="V1").get()
    diff = services.baseline_diff(baseline=new, against=Baseline.objects.get(name="V1"))
    assert [(m["key"], m["fields"]) for m in diff["modified"]] == [(r1.key, ["text"])]
    assert not diff["added"] and not diff["removed"]
