"""Import/export of requirements: parsing, the all-or-nothing import, dry runs, bad input,
and round trips (CSV, XLSX, ReqIF — the sample files included)."""

from __future__ import annotations

import codecs
import io
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from changeflow.core.errors import PermissionDenied, PreconditionFailed, ValidationError
from changeflow.core.models import AuditEvent
from changeflow.requirements import io as req_io
from changeflow.requirements import services
from changeflow.requirements.models import Requirement, RequirementVersion, TraceLink
from tests.factories import advance, make_cr
from tests.requirements.helpers import make_baseline, make_req

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "samples" / "reqif"
SAMPLE_FILES = sorted(SAMPLES.glob("*.reqif"))


def imp(p, raw, name="r.csv", *, by=None, **kw):
    parsed = req_io.parse(raw, filename=name)
    return req_io.requirements_import(user=by or p.pm, project=p.project, parsed=parsed, **kw)


def csv_bytes(text: str, encoding="utf-8") -> bytes:
    return text.encode(encoding)


def xlsx_bytes(rows) -> bytes:
    book = Workbook()
    sheet = book.active
    for r in rows:
        sheet.append(r)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def rejected(fn, *args, **kw) -> list[str]:
    with pytest.raises(req_io.ImportRejected) as info:
        fn(*args, **kw)
    return info.value.problems


def snapshot(project):
    return list(
        Requirement.objects.filter(project=project)
        .order_by("number")
        .values_list("key", "title", "text", "kind", "priority", "status", "parent__key")
    )


# ---------------------------------------------------------------- importing


def test_csv_import_adds_with_hierarchy_and_links(personas):
    p = personas
    art = services.artifact_create(user=p.pm, project=p.project, kind="test", title="T1")
    raw = csv_bytes(
        "key,parent,title,kind,priority,status,links,text\n"
        "s1,,登录,user,must,draft,,登录页面需要支持短信验证码\n"
        f"s2,s1,短信验证码,functional,should,approved,derives:s1; verifies:{art.key},"
        '"Two\nlines"\n'
    )
    report = imp(p, raw, dry_run=True)
    assert (report["added"], report["modified"], report["unchanged"]) == (2, 0, 0)
    assert [i["key"] for i in report["items"]] == ["ACME-R-1", "ACME-R-2"]
    assert report["links_added"] == 2
    assert not Requirement.objects.exists()  # a dry run writes nothing

    report = imp(p, raw)
    assert report["added"] == 2 and not report["dry_run"]
    child = Requirement.objects.get(key="ACME-R-2")
    assert child.parent.key == "ACME-R-1" and child.text == "Two\nlines"
    assert child.status == "approved" and child.versions.count() == 1
    kinds = set(TraceLink.objects.values_list("kind", flat=True))
    assert kinds == {"derives", "verifies"}
    event = AuditEvent.objects.get(action="requirement.imported")
    assert event.after["added"] == 2 and event.object_key == "ACME"


def test_update_by_key_makes_versions_and_suspect_links(personas):
    p = personas
    a = make_req(p.project, by=p.pm, title="Old title")
    b = make_req(p.project, by=p.pm, title="Same")
    art = services.artifact_create(user=p.pm, project=p.project, kind="test", title="T")
    link = services.link_create(user=p.pm, project=p.project, source=art.key, target=a.key,
                                kind="verifies")  # fmt: skip
    raw = csv_bytes(f"key,title\n{a.key},New title\n{b.key},Same\n,Brand new\n")
    report = imp(p, raw, dry_run=True)
    by_key = {i["key"]: i for i in report["items"]}
    assert by_key[a.key]["action"] == "modified" and by_key[a.key]["fields"] == ["title"]
    assert by_key[b.key]["action"] == "unchanged"
    assert by_key["ACME-R-3"]["action"] == "added"
    imp(p, raw)
    a.refresh_from_db()
    assert (a.title, a.version) == ("New title", 2)
    assert a.text == "The user signs in with a password."  # absent column: kept
    assert RequirementVersion.objects.filter(requirement=a).count() == 2
    link.refresh_from_db()
    assert link.suspect


def test_reimporting_the_same_file_changes_nothing(personas):
    p = personas
    raw = csv_bytes("key,parent,title\nx,,Top\ny,x,Child\n")
    imp(p, raw)
    exported = req_io.write_csv(req_io.export_rows(p.project))
    report = imp(p, exported)
    assert (report["added"], report["modified"], report["unchanged"]) == (0, 0, 2)


def test_baselined_requirement_needs_implementing_cr(personas):
    p = personas
    a = make_req(p.project, by=p.pm, title="Frozen")
    make_baseline(p.project, by=p.pm, name="R1")
    raw = csv_bytes(f"key,title\n{a.key},Changed\n")
    with pytest.raises(PreconditionFailed) as info:
        imp(p, raw)
    assert a.key in str(info.value.message)
    cr = make_cr(p.project, by=p.customer_rep)
    with pytest.raises(PreconditionFailed):
        imp(p, raw, change_request=cr.key)  # a draft CR is not being implemented
    cr = advance(make_cr(p.project, by=p.customer), p, "implementing")
    report = imp(p, raw, change_request=cr.key)
    assert report["modified"] == 1 and report["change_request"] == cr.key
    version = RequirementVersion.objects.get(requirement=a, version=2)
    assert version.change_request == cr
    # An unchanged baselined requirement needs no CR.
    assert imp(p, csv_bytes(f"key,title\n{a.key},Changed\n"))["unchanged"] == 1


def test_only_editors_import(personas):
    with pytest.raises(PermissionDenied):
        imp(personas, csv_bytes("title\nx\n"), by=personas.qa)


def test_stale_version_is_refused(personas):
    p = personas
    a = make_req(p.project, by=p.pm, title="One")
    services.requirement_update(user=p.pm, requirement=a, data={"title": "Two"})
    problems = rejected(imp, p, csv_bytes(f"key,version,title\n{a.key},1,Three\n"))
    assert "line 2" in problems[0] and "version 1" in problems[0]
    # The same stale version but no change: fine.
    assert imp(p, csv_bytes(f"key,version,title\n{a.key},1,Two\n"))["unchanged"] == 1


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("titel,text\nx,y\n", "unknown column 'titel'"),
        ("text\nonly text\n", "no 'title' column"),
        ("title,title\na,b\n", "appears twice"),
        ("title\n", "no requirements"),
        ("title,kind\nx,banana\n", "line 2: kind 'banana'"),
        ("title,version\nx,v2\n", "line 2: version"),
        ("title,links\nx,nonsense\n", "line 2: link 'nonsense'"),
        ('title\n"unterminated\n', "line"),
    ],
)
def test_malformed_tables(personas, content, expected):
    problems = rejected(imp, personas, csv_bytes(content))
    assert expected in " ".join(problems)
    assert not Requirement.objects.exists()


def test_links_to_artifacts_are_resolved_without_a_query_per_link(personas):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    p = personas
    arts = [
        services.artifact_create(user=p.pm, project=p.project, kind="test", title=f"T{i}")
        for i in range(6)
    ]

    def queries(n: int) -> int:
        raw = "key,title,links\n" + "".join(f",r{i},verifies:{arts[i].key}\n" for i in range(n))
        with CaptureQueriesContext(connection) as ctx:
            report = imp(p, csv_bytes(raw), dry_run=True)
        assert report["links_added"] == n
        return len(ctx.captured_queries)

    assert queries(6) == queries(2)


def test_unknown_references_and_cycles_import_nothing(personas):
    p = personas
    a = make_req(p.project, by=p.pm, title="A")
    b = make_req(p.project, by=p.pm, title="B", parent=a.key)
    cases = {
        "key,parent,title\n,nope,x\n": "parent 'nope'",
        "key,title\nACME-R-99,x\n": "no requirement ACME-R-99",
        "key,title,links\n,x,verifies:ACME-A-9\n": "link target 'ACME-A-9'",
        f"key,title,links\n{a.key},A,derives:{a.key}\n": "own source",
        f"key,parent,title\n{a.key},{b.key},A\n": "cycle",
        "key,parent,title\nn1,n2,x\nn2,n1,y\n": "cycle",
        "key,title\nn1,x\nn1,y\n": "names two rows",
        f"key,title\n{a.key},x\n{a.key},y\n": "appears twice",
        "key,title,text\n,ok,\n,,some text\n": "line 3: the title is empty",
    }
    for content, expected in cases.items():
        problems = rejected(imp, p, csv_bytes(content))
        assert expected in " ".join(problems), (content, problems)
    assert Requirement.objects.count() == 2
    assert not AuditEvent.objects.filter(action="requirement.imported").exists()


def test_error_names_every_bad_row(personas):
    problems = rejected(imp, personas, csv_bytes("title,kind\nx,bad\ny,good?\nz,user\n"))
    assert [p.split(":")[0] for p in problems] == ["line 2", "line 3"]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030", "gbk", "utf-16"])
def test_excel_encodings(personas, encoding):
    text = "标题,描述,优先级\n审批,审批流程需要两级,must\n登录,支持短信验证码,should\n"
    report = imp(personas, text.encode(encoding))
    assert report["added"] == 2
    assert snapshot(personas.project)[0][1:3] == ("审批", "审批流程需要两级")


def test_semicolon_csv_from_european_excel(personas):
    imp(personas, csv_bytes("title;text\nA;x, y\n"))
    assert snapshot(personas.project)[0][1:3] == ("A", "x, y")


def test_bad_encoding(personas):
    raw = "title\n登录页面需要支持短信验证码\n".encode() + b"\xff\xfe broken\n"
    problems = rejected(imp, personas, raw)
    assert "not valid UTF-8" in problems[0] and "line 3" in problems[0]
    assert "NUL" in rejected(imp, personas, b"title\n\x00\x01\x02")[0]
    assert "zip" in rejected(imp, personas, xlsx_bytes([["title"], ["x"]]), "r.csv")[0]


def test_xlsx_import_and_bad_workbook(personas):
    raw = xlsx_bytes([["key", "title", "priority", "text"], [None, "Sign in", "Must have", 42]])
    report = imp(personas, raw, "r.xlsx")
    assert report["added"] == 1
    req = Requirement.objects.get()
    assert (req.priority, req.text) == ("must", "42")
    problems = rejected(imp, personas, b"PK\x03\x04 not really a zip", "r.xlsx")
    assert "not a valid XLSX" in problems[0]
    problems = rejected(imp, personas, xlsx_bytes([["title", "kind"], ["x", "nope"]]), "r.xlsx")
    assert problems[0].startswith("row 2")


def test_unknown_extension(personas):
    with pytest.raises(ValidationError):
        req_io.parse(b"x", filename="r.doc")


# ---------------------------------------------------------------- ReqIF


BROKEN = b"""<?xml version="1.0"?>
<REQ-IF xmlns="http://www.omg.org/spec/ReqIF/20110401/reqif.xsd"><CORE-CONTENT>
</REQ-IF>"""
BOMB = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><REQ-IF>&a;</REQ-IF>"""
DANGLING = b"""<?xml version="1.0"?>
<REQ-IF xmlns="http://www.omg.org/spec/ReqIF/20110401/reqif.xsd"><CORE-CONTENT><REQ-IF-CONTENT>
<SPEC-OBJECTS><SPEC-OBJECT IDENTIFIER="o1"><VALUES/></SPEC-OBJECT></SPEC-OBJECTS>
<SPECIFICATIONS><SPECIFICATION IDENTIFIER="s"><CHILDREN>
<SPEC-HIERARCHY IDENTIFIER="h1"><OBJECT><SPEC-OBJECT-REF>missing</SPEC-OBJECT-REF></OBJECT>
</SPEC-HIERARCHY></CHILDREN></SPECIFICATION></SPECIFICATIONS>
</REQ-IF-CONTENT></CORE-CONTENT></REQ-IF>"""


def test_bad_reqif(personas):
    assert "line 3" in rejected(imp, personas, BROKEN, "x.reqif")[0]
    assert "DTD" in rejected(imp, personas, BOMB, "x.reqif")[0]
    assert "<html>" in rejected(imp, personas, b"<html/>", "x.reqif")[0]
    problems = rejected(imp, personas, DANGLING, "x.reqif")
    assert "SPEC-HIERARCHY h1" in problems[0] and "missing" in problems[0]
    assert not Requirement.objects.exists()


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=lambda f: f.name)
def test_reqif_sample_round_trip(personas, sample):
    """Import a real tool's file, export it as ReqIF, re-import: the same requirements."""
    p = personas
    report = imp(p, sample.read_bytes(), sample.name)
    assert report["added"] >= 1
    first = snapshot(p.project)
    exported = req_io.write_reqif(p.project, req_io.export_rows(p.project))
    again = imp(p, exported, "again.reqif")
    assert (again["added"], again["modified"]) == (0, 0)
    assert again["unchanged"] == len(first)
    assert snapshot(p.project) == first
    # And into an empty project: the same content, hierarchy included.
    other = req_io.requirements_import(
        user=p.outsider, project=p.other_project, parsed=req_io.parse(exported, filename="x.reqif")
    )
    assert other["added"] == len(first)
    rows = snapshot(p.other_project)
    assert [r[1:6] for r in rows] == [r[1:6] for r in first]
    assert [bool(r[6]) for r in rows] == [bool(r[6]) for r in first]


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=lambda f: f.name)
def test_foreign_reqif_imported_twice_adds_nothing_the_second_time(personas, sample):
    """Another tool's file names its objects by SPEC-OBJECT IDENTIFIER, not by our keys: the
    identifier is kept per requirement and the next import of that file matches on it."""
    p = personas
    first = imp(p, sample.read_bytes(), sample.name)
    assert first["added"] >= 1
    before = snapshot(p.project)
    kept = set(Requirement.objects.filter(project=p.project).values_list("external_id", flat=True))
    assert "" not in kept and len(kept) == first["added"]
    dry = imp(p, sample.read_bytes(), sample.name, dry_run=True)
    assert (dry["added"], dry["modified"], dry["unchanged"]) == (0, 0, first["added"])
    assert {i["action"] for i in dry["items"]} == {"unchanged"}
    assert sorted(i["key"] for i in dry["items"]) == sorted(r[0] for r in before)
    again = imp(p, sample.read_bytes(), sample.name)
    assert (again["added"], again["modified"], again["links_added"]) == (0, 0, 0)
    assert snapshot(p.project) == before
    assert RequirementVersion.objects.filter(requirement__project=p.project).count() == len(before)
    # Another project keeps its own copy: the identifier is unique per project only.
    other = req_io.requirements_import(
        user=p.outsider, project=p.other_project,
        parsed=req_io.parse(sample.read_bytes(), filename=sample.name),
    )  # fmt: skip
    assert other["added"] == first["added"]


POLARION = SAMPLES / "strictdoc_sample1_polarion.reqif"
LOREM = b"The Lorem Ipsum shall do something."


def test_foreign_reqif_changed_makes_one_new_version(personas):
    p = personas
    imp(p, POLARION.read_bytes(), POLARION.name)
    req = Requirement.objects.get(project=p.project, title="SW: Lorem Ipsum")
    changed = POLARION.read_bytes().replace(LOREM, b"The Lorem Ipsum shall do more.")
    dry = imp(p, changed, POLARION.name, dry_run=True)
    assert (dry["added"], dry["modified"], dry["unchanged"]) == (0, 1, 1)
    assert [i for i in dry["items"] if i["action"] == "modified"] == [
        {"where": f"SPEC-OBJECT {req.external_id}", "key": req.key, "action": "modified",
         "fields": ["text"]}
    ]  # fmt: skip
    report = imp(p, changed, POLARION.name)
    assert (report["added"], report["modified"]) == (0, 1)
    req.refresh_from_db()
    assert req.version == 2 and req.text == "The Lorem Ipsum shall do more."
    assert list(req.versions.order_by("version").values_list("version", flat=True)) == [1, 2]
    assert Requirement.objects.filter(project=p.project).count() == 2


def test_foreign_reqif_change_to_a_baselined_requirement_needs_an_implementing_cr(personas):
    p = personas
    imp(p, POLARION.read_bytes(), POLARION.name)
    make_baseline(p.project, by=p.pm, name="R1")
    changed = POLARION.read_bytes().replace(LOREM, b"Changed after the baseline.")
    with pytest.raises(PreconditionFailed) as info:
        imp(p, changed, POLARION.name)
    assert info.value.code == "change_request_required"
    assert RequirementVersion.objects.filter(requirement__project=p.project).count() == 2
    cr = advance(make_cr(p.project, by=p.customer), p, "implementing")
    report = imp(p, changed, POLARION.name, change_request=cr.key)
    assert (report["added"], report["modified"], report["change_request"]) == (0, 1, cr.key)
    version = RequirementVersion.objects.get(requirement__title="SW: Lorem Ipsum", version=2)
    assert version.change_request == cr
    # Unchanged once more: no CR needed, nothing written.
    assert imp(p, changed, POLARION.name)["unchanged"] == 2


def test_own_reqif_export_reimported_into_another_project_matches_there(personas):
    """A file we exported names its objects by our key (ReqIF.ForeignID) and by a
    ``cf-<key>`` IDENTIFIER: in its own project the key matches, in another project (where
    the key is foreign) the identifier kept from the first import does."""
    p = personas
    top = make_req(p.project, by=p.pm, title="Top")
    make_req(p.project, by=p.pm, title="Child", parent=top.key)
    exported = req_io.write_reqif(p.project, req_io.export_rows(p.project))

    def into_other():
        return req_io.requirements_import(
            user=p.outsider, project=p.other_project,
            parsed=req_io.parse(exported, filename="x.reqif"),
        )  # fmt: skip

    assert into_other()["added"] == 2
    assert set(
        Requirement.objects.filter(project=p.other_project).values_list("external_id", flat=True)
    ) == {f"cf-{top.key}", f"cf-{p.project.key}-R-2"}
    assert (into_other()["added"], into_other()["modified"]) == (0, 0)
    assert Requirement.objects.filter(project=p.other_project).count() == 2
    # In its own project the key matches; the requirements made here keep no external id.
    assert imp(p, exported, "x.reqif")["unchanged"] == 2
    assert set(
        Requirement.objects.filter(project=p.project).values_list("external_id", flat=True)
    ) == {""}


def test_polarion_sample_content(personas):
    sample = SAMPLES / "strictdoc_sample1_polarion.reqif"
    report = imp(personas, sample.read_bytes(), sample.name)
    assert report["added"] == 2
    section, req = snapshot(personas.project)
    assert section[1] == "Section 1" and section[6] is None
    assert req[1] == "SW: Lorem Ipsum" and req[2] == "The Lorem Ipsum shall do something."
    assert req[5] == "draft" and req[6] == section[0]  # nested in the hierarchy


def test_minimal_sample_tolerates_dangling_references(personas):
    sample = SAMPLES / "strictdoc_reqif_implementation_guide_02-minimal.reqif"
    report = imp(personas, sample.read_bytes(), sample.name, dry_run=True)
    assert report["added"] == 1
    assert any("undefined attribute (TYPE)" in w for w in report["warnings"])


def test_round_trip_every_format(personas):
    p = personas
    top = make_req(p.project, by=p.pm, title='=HYPERLINK("x")', text="a\r\nb", kind="user")
    child = make_req(p.project, by=p.pm, title="登录", text="- 支持短信\n- 邮件", parent=top.key,
                     priority="must", status="approved")  # fmt: skip
    art = services.artifact_create(user=p.pm, project=p.project, kind="test", title="T")
    services.link_create(user=p.pm, project=p.project, source=child.key, target=top.key,
                         kind="refines")  # fmt: skip
    services.link_create(user=p.pm, project=p.project, source=child.key, target=art.key,
                         kind="depends_on")  # fmt: skip
    before = snapshot(p.project)
    for fmt in req_io.FORMATS:
        content, _type, name = req_io.requirements_export(user=p.viewer, project=p.project,
                                                          fmt=fmt)  # fmt: skip
        report = imp(p, content, name)
        assert (report["added"], report["modified"], report["links_added"]) == (0, 0, 0), fmt
        assert snapshot(p.project) == before
    # The formula stays text in the workbook.
    content, *_ = req_io.requirements_export(user=p.viewer, project=p.project, fmt="xlsx")
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet["C2"].data_type == "s"
    csv_text = req_io.requirements_export(user=p.viewer, project=p.project, fmt="csv")[0]
    assert csv_text.startswith(codecs.BOM_UTF8) and b"'=HYPERLINK" in csv_text


def test_large_import_is_bulk(personas, django_assert_max_num_queries):
    rows = "".join(f"n{i},{'n' + str(i - 1) if i % 10 != 1 else ''},Requirement {i}\n"
                   for i in range(1, 1001))  # fmt: skip
    raw = csv_bytes("key,parent,title\n" + rows)
    with django_assert_max_num_queries(40):
        report = imp(personas, raw)
    assert report["added"] == 1000
    assert Requirement.objects.filter(parent__isnull=False).count() == 900
