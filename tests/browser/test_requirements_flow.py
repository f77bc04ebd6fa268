"""A real-browser walk through the requirements area: the project's Requirements tab, a new
requirement, an import (preview, then confirm), the matrix with a suspect link reviewed, and
the baseline diff — with no console error (the strict CSP blocks any inline script or style).
"""

import io

import pytest
from openpyxl import Workbook

from changeflow.requirements import services
from tests.browser.support import BROWSER_TEST, signed_in_page
from tests.factories import advance, make_cr

pytestmark = BROWSER_TEST


def _xlsx(tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["编号", "父需求", "标题", "类型", "优先级"])
    sheet.append(["n1", "", "订单导出", "functional", "must"])
    sheet.append(["n2", "n1", "导出为 Excel", "functional", "should"])
    path = tmp_path / "reqs.xlsx"
    buffer = io.BytesIO()
    book.save(buffer)
    path.write_bytes(buffer.getvalue())
    return path


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_requirements_area(live_server, personas, browser, tmp_path, locale):
    p = personas
    context, page, errors = signed_in_page(browser, live_server.url, p.pm, locale=locale)

    # The project's navigation leads to the requirements.
    page.goto(f"{live_server.url}/projects/ACME/")
    page.click("nav.tabs a[href='/projects/ACME/requirements/']")
    page.click("a[href='/projects/ACME/requirements/new/']")
    page.fill("input[name=title]", "用户登录")
    page.fill("textarea[name=text]", "支持**短信验证码**登录")
    page.click("form.form-wide button[type=submit]")
    page.wait_for_url(f"{live_server.url}/requirements/ACME-R-1/")
    assert page.locator(".prose strong").inner_text() == "短信验证码"

    # Import: preview first (nothing written), then confirm.
    page.goto(f"{live_server.url}/projects/ACME/requirements/import/")
    page.set_input_files("input[name=file]", str(_xlsx(tmp_path)))
    page.click("form.form-wide button[type=submit]")
    page.wait_for_selector(".import-preview")
    assert "ACME-R-3" in page.locator(".import-preview").inner_text()
    page.click("button[name=confirm]")
    page.wait_for_url(f"{live_server.url}/projects/ACME/requirements/")
    rows = page.locator("table.reqs tbody tr")
    assert rows.count() == 3
    assert "导出为 Excel" in rows.nth(2).inner_text()  # the child, under its parent

    # A test verifies the requirement; the requirement changes; the link is suspect.
    art = services.artifact_create(user=p.pm, project=p.project, kind="test", title="SMS test")
    services.link_create(user=p.pm, project=p.project, source=art.key, target="ACME-R-1",
                         kind="verifies")  # fmt: skip
    page.goto(f"{live_server.url}/requirements/ACME-R-1/edit/")
    page.fill("input[name=title]", "用户登录（短信）")
    page.click("form.form-wide button[type=submit]")
    page.wait_for_url(f"{live_server.url}/requirements/ACME-R-1/")
    page.goto(f"{live_server.url}/projects/ACME/matrix/?suspect=on")
    assert page.locator("table.matrix tbody tr").count() == 1
    assert page.locator(".cell-link.suspect").count() == 1
    page.click("table.matrix form button")
    page.wait_for_selector(".messages")
    assert page.locator(".cell-link.suspect").count() == 0

    # Two baselines and their diff.
    services.baseline_create(user=p.pm, project=p.project, name="B1")
    cr = advance(make_cr(p.project, by=p.customer), p, "implementing")
    services.requirement_update(
        user=p.pm, requirement=services.Requirement.objects.get(key="ACME-R-3"),
        data={"text": "导出为 Excel 和 CSV"}, change_request=cr.key,
    )  # fmt: skip
    services.baseline_create(user=p.pm, project=p.project, name="B2")
    page.goto(f"{live_server.url}/projects/ACME/baselines/")
    page.click("a[href*='baselines/diff/']")
    page.wait_for_selector(".diff-modified")
    assert page.locator(".redline ins").first.inner_text().strip() != ""
    assert not errors, errors
    context.close()
