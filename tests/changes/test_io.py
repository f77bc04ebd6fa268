"""Import and export of change requests (``changes.io``): headers in English and Chinese,
every bad value named by row and column, all or nothing, re-import by source reference, Jira's
CSV and JSON and Bugzilla's CSV (the real samples, read in place), encodings, limits, who may,
and the export's round trip and query count."""

import codecs
import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from changeflow.accounts import services as accounts
from changeflow.changes import io as cr_io
from changeflow.changes.models import ChangeRequest
from changeflow.core.errors import NotFound, PermissionDenied, TooLarge
from changeflow.core.models import AuditEvent
from tests.factories import make_cr, make_project

SAMPLES = Path("/work/wt/shared/data/samples")
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason="the shared samples are absent")

pytestmark = pytest.mark.django_db


def table(rows: list[list[str]]) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8")


def run(p, raw: bytes, *, name="crs.csv", fmt=None, dry_run=False, user=None, project=None):
    parsed = cr_io.parse(raw, filename=name, fmt=fmt)
    return cr_io.change_requests_import(
        user=user or p.pm, project=project or p.project, parsed=parsed, dry_run=dry_run,
        filename=name,
    )  # fmt: skip


def problems(p, raw: bytes, **kw) -> list[str]:
    with pytest.raises(cr_io.ImportRejected) as caught:
        run(p, raw, **kw)
    return caught.value.problems


ENGLISH = [
    ["Ref", "Title", "Description", "Reason", "Expected benefit", "Type", "Priority", "Urgency",
     "Labels", "Requester", "Requested date", "Desired date"],
    ["X-1", "SMS login", "Log in with a code", "Customers ask", "Fewer calls", "New feature",
     "P2", "high", "login, sms", "customer_acme", "2026-11-02", "2027-01-31"],
    ["X-2", "Export to PDF", "", "", "", "documentation", "P4 — low", "", "", "Zhang San",
     "", ""],
]  # fmt: skip
CHINESE = [
    ["外部编号", "标题", "描述", "原因", "预期收益", "类型", "优先级", "紧急程度", "标签", "提出人",
     "提出日期", "期望日期"],
    ["Z-1", "报表导出", "导出月报", "客户要求", "节省时间", "新功能", "P1 — 紧急", "严重",
     "报表、导出", "developer_acme", "2026/11/3", "2027年2月1日"],
]  # fmt: skip


def test_english_headers_and_values(personas):
    p = personas
    report = run(p, table(ENGLISH))
    assert (report["created"], report["skipped"]) == (2, 0)
    first, second = (ChangeRequest.objects.get(project=p.project, source_ref=r) for r in
                     ("X-1", "X-2"))  # fmt: skip
    assert (first.title, first.type, first.priority, first.urgency) == (
        "SMS login", "feature", "P2", "high")  # fmt: skip
    assert first.labels == ["login", "sms"] and first.channel == "import"
    assert first.requested_by == p.customer and first.requester_contact == ""
    assert first.requested_at == dt.date(2026, 11, 2)
    assert first.desired_date == dt.date(2027, 1, 31)
    assert (first.reason, first.expected_benefit) == ("Customers ask", "Fewer calls")
    # Only the title is required; a requester who is no member is kept as the contact.
    assert second.description == "Export to PDF" and second.priority == "P4"
    assert second.requested_by == p.pm and second.requester_contact == "Zhang San"
    assert second.type == "documentation"
    # Each CR has its own audit event, and the import one more.
    assert AuditEvent.objects.filter(action="cr.created", object_key=first.key).exists()
    event = AuditEvent.objects.get(action="cr.imported")
    assert event.after["created"] == 2 and event.actor == p.pm.username


def test_chinese_headers_and_values(personas):
    p = personas
    run(p, table(CHINESE))
    cr = ChangeRequest.objects.get(project=p.project, source_ref="Z-1")
    assert (cr.type, cr.priority, cr.urgency) == ("feature", "P1", "critical")
    assert cr.labels == ["导出", "报表"] and cr.requested_by == p.developer
    assert cr.requested_at == dt.date(2026, 11, 3) and cr.desired_date == dt.date(2027, 2, 1)


def test_every_bad_value_is_named_and_nothing_is_written(personas):
    p = personas
    rows = [
        ["title", "type", "priority", "urgency", "desired date", "labels", "ref"],
        ["Fine", "feature", "P2", "", "", "", "A"],
        ["", "bogus", "P9", "soon", "next week", ",".join(f"l{i}" for i in range(30)), "B"],
        ["x" * 201, "", "", "", "2027-02-30", "", "A"],
    ]
    found = problems(p, table(rows))
    assert "row 3, column title: the title is empty" in found
    assert any(x.startswith("row 3, column type: 'bogus' is not one of") for x in found)
    assert any(x.startswith("row 3, column priority: 'P9' is not one of") for x in found)
    assert any(x.startswith("row 3, column urgency: 'soon'") for x in found)
    assert "row 3, column desired date: 'next week' is not a date (YYYY-MM-DD)" in found
    assert any(x.startswith("row 3, column labels:") for x in found)
    assert "row 4, column title: longer than 200 characters" in found
    assert "row 4, column desired date: '2027-02-30' is not a date (YYYY-MM-DD)" in found
    assert "row 4, column ref: 'A' appears twice (also row 2)" in found
    assert not ChangeRequest.objects.filter(project=p.project).exists()
    assert not AuditEvent.objects.filter(action="cr.imported").exists()


def test_file_problems_are_named(personas):
    p = personas
    assert problems(p, b"") == ["The file is empty."]
    assert problems(p, b"   \n") == ["The file is empty."]
    found = problems(p, table([["description", "priority"], ["x", "P1"]]))
    assert found[0].startswith("row 1: the header has no title column")
    assert problems(p, table([["title"]])) == ["The file has a header but no change requests."]
    assert problems(p, b"PK\x03\x04junk")[0].startswith("This is a zip file")
    assert problems(p, b"PK\x03\x04junk", name="x.xlsx")[0].startswith("This is not a valid XLSX")
    assert problems(p, b"{", name="x.json")[0].startswith("This is not valid JSON")
    with pytest.raises(cr_io.ValidationError):
        cr_io.parse(b"title\nx\n", filename="crs.pdf")


def test_dry_run_writes_nothing_and_names_the_keys(personas):
    p = personas
    make_cr(p.project, by=p.pm)
    report = run(p, table(ENGLISH), dry_run=True)
    assert report["dry_run"] and report["created"] == 2
    assert [(i["key"], i["action"], i["where"]) for i in report["items"]] == [
        ("ACME-2", "created", "row 2"), ("ACME-3", "created", "row 3")]  # fmt: skip
    assert ChangeRequest.objects.filter(project=p.project).count() == 1


def test_reimport_by_source_ref_creates_nothing(personas):
    p = personas
    run(p, table(ENGLISH))
    again = run(p, table([*ENGLISH, ["X-3", "Third", "", "", "", "", "", "", "", "", "", ""]]))
    assert (again["created"], again["skipped"]) == (1, 2)
    skipped = [i for i in again["items"] if i["action"] == "skipped"]
    assert [i["ref"] for i in skipped] == ["X-1", "X-2"]
    assert ChangeRequest.objects.filter(project=p.project).count() == 3
    # The same reference in another project is another CR.
    run(p, table(ENGLISH[:2]), user=p.outsider, project=p.other_project)
    assert ChangeRequest.objects.filter(source_ref="X-1").count() == 2


def test_encodings_and_xlsx(personas):
    from openpyxl import Workbook

    p = personas
    text = "\n".join(",".join(r) for r in CHINESE) + "\n"
    assert run(p, text.encode("gb18030"))["created"] == 1
    text = text.replace("Z-1", "Z-2")
    assert run(p, codecs.BOM_UTF16_LE + text.encode("utf-16-le"))["created"] == 1
    book = Workbook()
    sheet = book.active
    for row in [["Title", "Priority", "Desired date", "Ref"], ["From Excel", "P3", None, 7]]:
        sheet.append(row)
    sheet.append(["Dated", "p1", dt.datetime(2027, 3, 4), 8])
    out = io.BytesIO()
    book.save(out)
    assert run(p, out.getvalue(), name="book.xlsx")["created"] == 2
    dated = ChangeRequest.objects.get(project=p.project, source_ref="8")
    assert dated.desired_date == dt.date(2027, 3, 4) and dated.priority == "P1"


def test_size_and_row_limits(personas, settings):
    p = personas
    settings.CHANGEFLOW_CR_IMPORT_MAX_ROWS = 3
    rows = [["title"], *[[f"t{i}"] for i in range(4)]]
    with pytest.raises(TooLarge) as caught:
        run(p, table(rows))
    assert caught.value.message == "The file has more than 3 change requests: import it in parts."
    assert run(p, table(rows[:4]))["created"] == 3
    settings.CHANGEFLOW_IMPORT_MAX_BYTES = 10
    with pytest.raises(TooLarge):
        run(p, table(rows[:2]))


def test_who_may_import(personas):
    p = personas
    raw = table(ENGLISH)
    for user in (p.tech_lead, p.developer, p.customer, p.viewer, p.qa):
        with pytest.raises(PermissionDenied):
            run(p, raw, user=user)
    with pytest.raises(NotFound):
        run(p, raw, user=p.outsider)
    assert run(p, raw, user=p.admin, dry_run=True)["created"] == 2


JIRA_CSV = [
    ["Summary", "Issue key", "Issue id", "Issue Type", "Status", "Priority", "Assignee",
     "Reporter", "Created", "Updated", "Due date", "Labels", "Labels", "Description"],
    ["Single sign-on", "SHOP-12", "10012", "Story", "To Do", "Highest", "", "customer_acme",
     "03/Mar/16 1:40 PM", "04/Mar/16 9:00 AM", "01/Feb/27", "sso", "auth", "SAML *please*"],
    ["Wrong total", "SHOP-13", "10013", "Bug", "Done", "Minor", "", "Jane Roe",
     "05/Mar/16 10:00 AM", "", "", "", "", ""],
    ["Cleanup", "SHOP-14", "10014", "Epic-ish", "Done", "Weird", "", "", "", "", "", "", "", ""],
]  # fmt: skip


def test_jira_csv(personas):
    p = personas
    report = run(p, table(JIRA_CSV), name="Jira.csv")
    assert report["format"] == "jira-csv" and report["created"] == 3
    # Unknown issue types and priorities are left empty, with a warning each.
    assert "row 4, column Issue Type: 'Epic-ish' has no equivalent" in report["warnings"][1]
    assert any(w == "Columns not read: Issue id, Assignee, Updated" for w in report["warnings"])
    sso = ChangeRequest.objects.get(project=p.project, source_ref="SHOP-12")
    assert (sso.type, sso.priority, sso.labels) == ("feature", "P1", ["auth", "sso"])
    assert sso.requested_by == p.customer and sso.requested_at == dt.date(2016, 3, 3)
    assert sso.desired_date == dt.date(2027, 2, 1) and sso.description == "SAML *please*"
    bug = ChangeRequest.objects.get(project=p.project, source_ref="SHOP-13")
    assert (bug.type, bug.priority, bug.requester_contact) == ("defect", "P3", "Jane Roe")
    odd = ChangeRequest.objects.get(project=p.project, source_ref="SHOP-14")
    assert (odd.type, odd.priority) == ("", "")
    assert run(p, table(JIRA_CSV), fmt="jira-csv")["skipped"] == 3


@needs_samples
def test_jira_json_samples(personas):
    p = personas
    first = (SAMPLES / "jira" / "perceval_jira_issues_page_1.json").read_bytes()
    report = run(p, first, name="page1.json")
    assert report["format"] == "jira-json" and report["created"] == 2
    cr = ChangeRequest.objects.get(project=p.project, source_ref="HELP-6043")
    assert cr.title == "[Fiware-lab-help] FIWARE Lab Assistance"
    assert cr.priority == "P2"  # Major
    assert cr.requester_contact == "User2" and cr.requested_at == dt.date(2016, 3, 3)
    # An issue without a summary is titled by its key.
    assert ChangeRequest.objects.get(project=p.project, source_ref="HELP-6042").title == "HELP-6042"
    assert any("'extRequest' has no equivalent" in w for w in report["warnings"])
    second = (SAMPLES / "jira" / "perceval_jira_issues_page_2.json").read_bytes()
    assert run(p, second, fmt="jira-json")["created"] == 1
    assert run(p, first, fmt="jira-json")["skipped"] == 2


@needs_samples
def test_bugzilla_csv_sample(personas):
    p = personas
    report = run(p, (SAMPLES / "bugzilla" / "perceval_bugzilla_buglist.csv").read_bytes())
    assert report["created"] == 5
    cr = ChangeRequest.objects.get(project=p.project, source_ref="19")
    assert cr.title == "crash loading a git repository downloaded in localhost"


def test_export_round_trip(personas):
    p = personas
    run(p, table(ENGLISH + CHINESE[1:]))
    make_cr(p.project, by=p.customer, title="=cmd|' /C calc'!A0", priority="P3",
            labels=["x"], desired_date=dt.date(2027, 5, 1))  # fmt: skip
    other = make_project("BETA", manager=p.pm)
    for user in (p.customer, p.developer):
        accounts.membership_set(user=p.pm, project=other, username=user.username, role="developer")
    for fmt in ("csv", "xlsx"):
        content, ctype, name = cr_io.change_requests_export(user=p.pm, project=p.project, fmt=fmt)
        assert name.startswith("ACME-change-requests-") and name.endswith(fmt)
        if fmt == "csv":
            assert content.startswith(codecs.BOM_UTF8)
            assert b"'=cmd" in content  # a formula is defused
        report = run(p, content, name=name, project=other)
        if fmt == "csv":
            assert report["created"] == 4
        else:
            assert (report["created"], report["skipped"]) == (0, 4)  # imported already
    fields = ("title", "description", "reason", "expected_benefit", "type", "priority",
              "urgency", "labels", "requested_by_id", "requester_contact", "requested_at",
              "desired_date")  # fmt: skip
    theirs = list(ChangeRequest.objects.filter(project=other).order_by("number").values(*fields))
    ours = list(ChangeRequest.objects.filter(project=p.project).order_by("number").values(*fields))
    assert theirs == ours
    refs = set(ChangeRequest.objects.filter(project=other).values_list("source_ref", flat=True))
    assert refs == {"X-1", "X-2", "Z-1", "ACME-4"}  # the key when there was no ref
    # Its own export imported into the project again adds nothing.
    content, _t, _n = cr_io.change_requests_export(user=p.pm, project=p.project, fmt="csv")
    assert run(p, content)["created"] == 0


def test_export_filters_and_visibility(personas):
    p = personas
    make_cr(p.project, by=p.pm, title="Mine", priority="P1")
    make_cr(p.project, by=p.pm, title="Other", priority="P3")
    content, _t, _n = cr_io.change_requests_export(
        user=p.pm, project=p.project, fmt="csv", filters={"priority": ["P1"]}
    )
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0] == list(cr_io.COLUMNS) and [r[2] for r in rows[1:]] == ["Mine"]
    # A customer sees what the list shows them (drafts of others are not theirs to see).
    content, _t, _n = cr_io.change_requests_export(user=p.customer, project=p.project, fmt="csv")
    from changeflow.changes import selectors

    seen = selectors.change_request_list(user=p.customer, filters={"project": "ACME"}).count()
    assert len(list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))) == seen + 1
    with pytest.raises(cr_io.ValidationError):
        cr_io.change_requests_export(user=p.pm, project=p.project, fmt="reqif")


def test_export_query_count_does_not_grow(personas):
    p = personas
    make_cr(p.project, by=p.pm)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            cr_io.change_requests_export(user=p.customer_rep, project=p.project, fmt="xlsx")
        return len(ctx.captured_queries)

    one = count()
    for _ in range(5):
        make_cr(p.project, by=p.pm, labels=["a"])
    assert count() == one


def test_submit_makes_submitted_crs_and_notifies(personas):
    from changeflow.notifications.events import kind_of

    p = personas
    run(p, table(ENGLISH[:2]))
    assert ChangeRequest.objects.get(source_ref="X-1").state == "draft"
    rows = [["title", "ref"], ["Submitted one", "S-1"]]
    parsed = cr_io.parse(table(rows), filename="s.csv")
    cr_io.change_requests_import(user=p.pm, project=p.project, parsed=parsed, submit=True)
    cr = ChangeRequest.objects.get(source_ref="S-1")
    assert cr.state == "submitted"
    assert AuditEvent.objects.get(action="cr.imported", after__submitted=True)
    created = AuditEvent.objects.get(action="cr.created", object_key=cr.key)
    assert kind_of(created.action, created.after) == "cr.submitted"  # the team is notified


def test_jira_json_v3_document_description(personas):
    """Jira's REST v3 writes descriptions as documents (ADF): their text is imported."""
    import json

    issue = {
        "key": "NEW-1",
        "fields": {
            "summary": "Dark mode",
            "issuetype": {"name": "New Feature"},
            "priority": {"name": "High"},
            "labels": ["ui"],
            "description": {"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "Users ask"},
                                                  {"type": "hardBreak"},
                                                  {"type": "text", "text": "for it."}]},
                {"type": "bulletList", "content": [{"type": "listItem", "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": "at night"}]}]}]},
            ]},
            "created": "2026-10-01T09:00:00.000+0800",
            "duedate": "2027-01-15",
        },
    }  # fmt: skip
    run(personas, json.dumps({"issues": [issue]}).encode(), name="v3.json")
    cr = ChangeRequest.objects.get(source_ref="NEW-1")
    assert cr.description == "Users ask\nfor it.\nat night"
    assert (cr.type, cr.priority, cr.labels) == ("feature", "P2", ["ui"])
    assert cr.desired_date == dt.date(2027, 1, 15)
