"""Form templates and custom fields in the import and export of change requests: a
``template`` column (the template's name in the project) and a ``field:<key>`` column per
custom field, written by the export when a CR has them and read by the import, checked as
``change_request_create`` checks them, every problem named by row and column."""

import csv
import io

import pytest
from openpyxl import load_workbook

from changeflow.changes import io as cr_io
from changeflow.changes.models import ChangeRequest
from changeflow.crtemplates import demo as template_demo
from tests.factories import make_cr

pytestmark = pytest.mark.django_db

FEATURE, REGULATORY, UI = template_demo.FEATURE, template_demo.REGULATORY, template_demo.UI_TWEAK


@pytest.fixture
def forms(personas):
    """The demo's three templates in ACME, and the same names in OTHER (the outsider manages
    it): made apart, so each project's templates are its own."""
    p = personas
    acme = template_demo.load_demo(p.project, {"wang.lei": p.pm})
    other = template_demo.load_demo(p.other_project, {"wang.lei": p.outsider})
    return acme, other


def table(rows: list[list[str]]) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def rows_of(raw: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def run(user, project, raw: bytes, name="crs.csv", dry_run=False):
    parsed = cr_io.parse(raw, filename=name)
    return cr_io.change_requests_import(
        user=user, project=project, parsed=parsed, dry_run=dry_run, filename=name
    )


def problems(user, project, raw: bytes) -> list[str]:
    with pytest.raises(cr_io.ImportRejected) as caught:
        run(user, project, raw)
    assert not ChangeRequest.objects.filter(project=project).exists()
    return caught.value.problems


def _demo_crs(p, acme):
    make_cr(p.project, by=p.pm, title="Plain, no form")
    make_cr(p.project, by=p.pm, title="积分兑换", template=acme[FEATURE].pk,
            fields={"module": "会员 / Members", "users_affected": "1200.5",
                    "workaround": "人工兑换\n每周一次"})  # fmt: skip
    make_cr(p.project, by=p.pm, title="发票新规", template=acme[REGULATORY].pk,
            fields={"regulation": "增值税发票管理办法 第12条", "effective_date": "2027-03-01",
                    "authority": "国家税务总局 / State Taxation Administration",
                    "personal_data": True})  # fmt: skip
    make_cr(
        p.project,
        by=p.pm,
        title="按钮颜色",
        template=acme[UI].pk,
        fields={"page": "/checkout", "screenshot": False},
    )


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_then_import_into_another_project_keeps_templates_and_fields(personas, forms, fmt):
    p = personas
    acme, other = forms
    _demo_crs(p, acme)
    content, _type, name = cr_io.change_requests_export(user=p.pm, project=p.project, fmt=fmt)
    if fmt == "csv":
        header = rows_of(content)[0]
    else:
        header = [c.value for c in next(load_workbook(io.BytesIO(content)).active.iter_rows())]
    assert header[: len(cr_io.COLUMNS)] == list(cr_io.COLUMNS)
    assert header[len(cr_io.COLUMNS) :] == [
        "template", "field:module", "field:users_affected", "field:workaround",
        "field:regulation", "field:authority", "field:effective_date", "field:personal_data",
        "field:page", "field:screenshot",
    ]  # fmt: skip
    report = run(p.outsider, p.other_project, content, name=name)
    assert report["created"] == 4
    made = {cr.title: cr for cr in ChangeRequest.objects.filter(project=p.other_project)}
    source = {cr.title: cr for cr in ChangeRequest.objects.filter(project=p.project)}
    for title, cr in made.items():
        original = source[title]
        assert (cr.template.name if cr.template else None) == (
            original.template.name if original.template else None
        )
        if cr.template:
            assert cr.template.project_id == p.other_project.pk  # OTHER's own template
        assert cr.field_values == original.field_values, title
        assert cr.field_definitions == original.field_definitions
        assert (cr.type, cr.priority, cr.labels) == (original.type, original.priority,
                                                     original.labels)  # fmt: skip
    assert made["发票新规"].field_values["personal_data"] is True
    assert made["按钮颜色"].field_values["screenshot"] is False
    # The file again into OTHER: every row is a CR there already.
    assert run(p.outsider, p.other_project, content, name=name)["skipped"] == 4


def test_an_export_without_forms_has_no_template_columns(personas, forms):
    p = personas
    make_cr(p.project, by=p.pm, title="Plain")
    content, _type, _name = cr_io.change_requests_export(user=p.pm, project=p.project, fmt="csv")
    assert rows_of(content)[0] == list(cr_io.COLUMNS)


def test_fields_by_label_and_in_chinese_headers(personas, forms):
    p = personas
    raw = table([
        ["标题", "模板", "字段:业务模块 / Module", "field:users_affected",
         "field:Current workaround"],
        ["按标签", FEATURE.lower(), "支付 / Payments", " 30 ", "人工"],
    ])  # fmt: skip
    # "Current workaround" is no key and no whole label (the label is bilingual): a problem
    # (an empty cell of it would not be: an export's rows leave other forms' fields empty).
    assert problems(p.pm, p.project, raw) == [
        f"row 2, column field:Current workaround: the template {FEATURE} has no field "
        "Current workaround"
    ]
    raw = table([
        ["标题", "模板", "字段:业务模块 / Module", "field:users_affected"],
        ["按标签", FEATURE.lower(), "支付 / Payments", " 30 "],
    ])  # fmt: skip
    assert run(p.pm, p.project, raw)["created"] == 1
    cr = ChangeRequest.objects.get()
    assert cr.field_values == {"module": "支付 / Payments", "users_affected": "30"}
    assert cr.template.name == FEATURE and cr.type == "feature"  # the template's default type


def test_every_bad_template_or_field_value_is_named_by_row_and_column(personas, forms):
    p = personas
    raw = table([
        ["title", "template", "field:module", "field:users_affected", "field:regulation",
         "field:effective_date", "field:authority", "field:personal_data", "field:page"],
        ["unknown form", "No such form", "", "", "", "", "", "", ""],
        ["field of no form", "", "订单 / Orders", "", "", "", "", "", ""],
        ["bad number", FEATURE, "订单 / Orders", "many", "", "", "", "", ""],
        ["bad choice, required missing", FEATURE, "Shop", "", "", "", "", "", ""],
        ["not this form's field", FEATURE, "订单 / Orders", "", "", "", "", "", "/home"],
        ["bad date and yes/no", REGULATORY, "", "", "第1条", "next spring",
         "其他 / Other", "maybe", ""],
        ["required missing", REGULATORY, "", "", "", "2027-01-01", "其他 / Other", "否", ""],
        ["fine", REGULATORY, "", "", "第1条", "2027年1月1日", "其他 / Other", "是", ""],
    ])  # fmt: skip
    found = problems(p.pm, p.project, raw)
    assert found == [
        "row 2, column template: 'No such form' is no active form template of this project",
        "row 3, column field:module: a custom field needs the row's template (column template)",
        "row 4, column field:users_affected: 每周受影响用户数 / Users affected per week: A number "
        "is required.",
        "row 5, column field:module: 业务模块 / Module: Not one of the choices: 订单 / Orders, "
        "支付 / Payments, 会员 / Members, 物流 / Logistics, 报表 / Reports, 其他 / Other",
        f"row 6, column field:page: the template {FEATURE} has no field page",
        "row 7, column field:effective_date: 生效日期 / Takes effect on: A date is required "
        "(YYYY-MM-DD).",
        "row 7, column field:personal_data: 涉及个人信息？/ Personal data involved?: Yes or no "
        "(true or false) is required.",
        "row 8, column field:regulation: 法规名称及条款 / Regulation and article is required.",
    ]


def test_an_archived_template_is_a_row_problem(personas, forms):
    p = personas
    acme, _other = forms
    type(acme[UI]).objects.filter(pk=acme[UI].pk).update(archived=True)
    raw = table([["title", "template", "field:page"], ["x", UI, "/home"]])
    assert problems(p.pm, p.project, raw) == [
        f"row 2, column template: '{UI}' is no active form template of this project"
    ]


def test_the_dry_run_checks_the_fields_too(personas, forms):
    p = personas
    raw = table([["title", "template", "field:page", "field:screenshot"], ["x", UI, "/home", "y"]])
    report = run(p.pm, p.project, raw, dry_run=True)
    assert report["created"] == 1 and not ChangeRequest.objects.exists()
    run(p.pm, p.project, raw)
    assert ChangeRequest.objects.get().field_values == {"page": "/home", "screenshot": True}


def test_a_field_given_twice_by_key_and_by_label_is_a_problem(personas, forms):
    p = personas
    raw = table([["title", "template", "field:page", "field:页面 / Page"], ["x", UI, "/a", "/b"]])
    assert problems(p.pm, p.project, raw) == [
        "row 2, column field:页面 / Page: the field page is given twice (also column field:page)"
    ]
