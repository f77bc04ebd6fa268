"""Review report pages, API and CLI: allowed, forbidden (wrong role) and outsider (404);
downloads; the schedule; query counts of the lists pinned for two sizes; Chinese."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.utils import timezone

from changeflow.core.errors import Conflict
from changeflow.core.models import AuditEvent
from changeflow.reports import reviews
from changeflow.reports.metrics import Period
from changeflow.reports.models import ReviewReport
from tests.api.conftest import error_of, names
from tests.cli.conftest import one_line

pytestmark = pytest.mark.django_db
PAGE = "/projects/ACME/reports/"
API = "/api/v1/projects/ACME/review-reports/"
SCHEDULE_API = "/api/v1/projects/ACME/review-schedule/"
MARCH = Period(dt.date(2026, 3, 1), dt.date(2026, 4, 1))


def _make(p, n: int = 1, kind: str = "on_demand") -> list[ReviewReport]:
    """``n`` on-demand reports over consecutive weeks of 2026."""
    made = []
    for i in range(n):
        start = dt.date(2026, 1, 5) + dt.timedelta(days=7 * (i + len(made) + _count()))
        period = Period(start, start + dt.timedelta(days=7))
        made.append(
            reviews.review_report_generate(user=p.pm, project=p.project, kind=kind, period=period)
        )
    return made


def _count() -> int:
    return ReviewReport.objects.count()


# ------------------------------------------------------------------ pages


@pytest.mark.parametrize("who", ["pm", "tech_lead", "qa", "developer", "viewer", "admin"])
def test_the_team_reads_the_list_and_a_report(client, personas, who):
    p = personas
    first, second = _make(p, 2)
    client.force_login(getattr(p, who))
    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    assert html.index(second.key) < html.index(first.key)  # newest first
    assert "Scheduled review reports: Off." in html
    assert ("Generate now" in html) is (who in ("pm", "admin"))
    assert f'href="{PAGE}"' in html  # the reports nav links to it
    detail = client.get(f"{PAGE}{first.number}/")
    assert detail.status_code == 200
    body = detail.content.decode()
    assert "Summary" in body and "Process metrics" not in body[:200]
    # The charts are images: an SVG in the page itself would meet its Content Security Policy
    # (style-src 'self' refuses the SVG's style attributes: the charts were black boxes).
    assert "<svg" not in body and body.count('src="data:image/svg+xml;base64,') == 2
    assert f"{PAGE}{first.number}/download.pdf" in body


def test_downloads_have_their_type_and_name(client, personas):
    p = personas
    (report,) = _make(p)
    client.force_login(p.viewer)
    for fmt, mime, magic in (("html", "text/html; charset=utf-8", b"<!doctype html>"),
                             ("pdf", "application/pdf", b"%PDF")):  # fmt: skip
        answer = client.get(f"{PAGE}{report.number}/download.{fmt}")
        assert answer.status_code == 200 and answer["Content-Type"] == mime
        name = f"ACME-R1-on_demand-{report.period_start.isoformat()}.{fmt}"
        assert answer["Content-Disposition"] == f'attachment; filename="{name}"'
        content = b"".join(answer.streaming_content)
        assert content.startswith(magic)
        assert hashlib.sha256(content).hexdigest() == getattr(report, f"{fmt}_sha256")
    assert client.get(f"{PAGE}{report.number}/download.docx").status_code == 404
    assert client.get(f"{PAGE}99/").status_code == 404


def test_a_tampered_file_is_not_served(client, personas):
    p = personas
    (report,) = _make(p)
    path = default_storage.path(report.pdf_file.name)
    with open(path, "ab") as handle:
        handle.write(b"tampered")
    client.force_login(p.pm)
    answer = client.get(f"{PAGE}{report.number}/download.pdf")
    assert answer.status_code == 409 and b"does not match its SHA-256" in answer.content


@pytest.mark.parametrize("who", ["customer", "customer_rep", "outsider"])
def test_customers_and_outsiders_get_404(client, personas, api, who):
    p = personas
    (report,) = _make(p)
    user = getattr(p, who)
    client.force_login(user)
    for path in ("", f"{report.number}/", f"{report.number}/download.pdf",
                 f"{report.number}/download.html", "settings/"):  # fmt: skip
        assert client.get(PAGE + path).status_code == 404, path
    answer = client.post(PAGE + "generate/", {"kind": "monthly", "date": "2026-02-01"})
    assert answer.status_code == 404
    assert client.post(PAGE + "settings/", {"frequency": "weekly"}).status_code == 404
    c = api(user)
    for path in ("", f"{report.number}/", f"{report.number}/html", f"{report.number}/pdf"):
        assert c.get(API + path).status_code == 404, path
    assert c.post(API, {"kind": "monthly", "date": "2026-02-01"}, format="json").status_code == 404
    assert c.get(SCHEDULE_API).status_code == 404
    assert c.put(SCHEDULE_API, {"frequency": "weekly"}, format="json").status_code == 404
    assert _count() == 1 and reviews.schedule_of(p.project) == "off"
    # Nor does the navigation name it.
    if who != "outsider":
        assert f'href="{PAGE}"' not in client.get("/projects/ACME/").content.decode()


def test_project_managers_generate_from_the_page(client, personas):
    p = personas
    client.force_login(p.pm)
    answer = client.post(PAGE + "generate/", {"kind": "monthly", "date": "2026-03-15"})
    report = ReviewReport.objects.get()
    assert answer.status_code == 302 and answer["Location"] == f"{PAGE}{report.number}/"
    assert (report.kind, report.period_start, report.period_end) == (
        "monthly", MARCH.start, MARCH.end,
    )  # fmt: skip
    again = client.post(PAGE + "generate/", {"kind": "monthly", "date": "2026-03-02"})
    assert again.status_code == 409 and "exists already" in again.content.decode()
    bad = client.post(PAGE + "generate/", {"kind": "on_demand", "from": "2026-03-01"})
    assert bad.status_code == 400 and "This field is required." in bad.content.decode()
    future = client.post(PAGE + "generate/", {"kind": "weekly", "date": "2099-01-01"})
    assert future.status_code == 400 and "not over yet" in future.content.decode()
    assert _count() == 1


@pytest.mark.parametrize("who", ["tech_lead", "qa", "developer", "viewer"])
def test_other_roles_may_not_generate_or_schedule(client, personas, api, who):
    p = personas
    user = getattr(p, who)
    client.force_login(user)
    answer = client.post(PAGE + "generate/", {"kind": "monthly", "date": "2026-03-15"})
    assert answer.status_code == 403
    assert client.get(PAGE + "settings/").status_code == 403
    assert client.post(PAGE + "settings/", {"frequency": "weekly"}).status_code == 403
    c = api(user)
    answer = c.post(API, {"kind": "monthly", "date": "2026-03-15"}, format="json")
    assert answer.status_code == 403 and error_of(answer)["code"] == "forbidden"
    assert c.put(SCHEDULE_API, {"frequency": "weekly"}, format="json").status_code == 403
    assert c.get(SCHEDULE_API).json() == {"frequency": "off"}  # they may read it
    assert _count() == 0 and not AuditEvent.objects.filter(action__startswith="review_").exists()


def test_the_schedule_page(client, personas):
    p = personas
    client.force_login(p.pm)
    form = client.get(PAGE + "settings/")
    assert form.status_code == 200 and 'name="frequency"' in form.content.decode()
    answer = client.post(PAGE + "settings/", {"frequency": "monthly"})
    assert answer.status_code == 302 and reviews.schedule_of(p.project) == "monthly"
    assert "Scheduled review reports: Monthly." in client.get(PAGE).content.decode()
    assert client.post(PAGE + "settings/", {"frequency": "daily"}).status_code == 400
    assert AuditEvent.objects.filter(action="review_schedule.updated").count() == 1


def test_the_list_page_is_paged_and_its_queries_do_not_grow(
    client, personas, django_assert_max_num_queries
):
    p = personas
    _make(p, 2)
    client.force_login(p.pm)
    client.get(PAGE)
    with django_assert_max_num_queries(12) as few:
        assert client.get(PAGE).status_code == 200
    _make(p, 22)
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = client.get(PAGE).content.decode()
    assert "ACME-R24" in html and "ACME-R4<" not in html and "Page 1 of 2" in html
    assert "ACME-R4<" in client.get(PAGE + "?page=2").content.decode()


def test_the_pages_in_chinese(client, personas):
    p = personas
    client.force_login(p.pm)
    client.cookies["django_language"] = "zh-hans"
    answer = client.post(
        PAGE + "generate/", {"kind": "weekly", "date": "2026-03-04"}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert answer.status_code == 302
    report = ReviewReport.objects.get()
    assert report.language == "zh-hans"
    html = default_storage.open(report.html_file.name).read().decode()
    assert "每周" in html and "摘要" in html
    page = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "审查报告" in page and "立即生成" in page
    # A reader of the report's language sees its stored body; another reads its stored
    # figures in their own language.
    stored = client.get(f"{PAGE}1/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "摘要" in stored and "in your language" not in stored
    client.cookies["django_language"] = "en"
    english = client.get(f"{PAGE}1/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Summary" in english and "摘要" not in english and "in your language" in english
    # The standalone file's inline charts do not share ids.
    ids = re.findall(r' id="([^"]+)"', html)
    assert ids and len(ids) == len(set(ids))


# ------------------------------------------------------------------ API


def test_the_api_generates_lists_and_gives_a_report(personas, api):
    p = personas
    c = api(p.pm)
    answer = c.post(API, {"kind": "on_demand", "from": "2026-03-01", "to": "2026-04-01"},
                    format="json")  # fmt: skip
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["key"], body["kind"], body["from"], body["to"]) == (
        "ACME-R1", "on_demand", "2026-03-01", "2026-04-01",
    )  # fmt: skip
    assert body["generated_by"] == p.pm.username and body["figures"]["cost"] is not None
    assert set(body["figures"]["improvement_actions"]) == {"open_at_end", "done_in_period"}
    assert body["summary"]["submitted"] == 0
    assert body["pdf_url"] == f"{API}1/pdf"
    again = c.post(API, {"kind": "on_demand", "from": "2026-03-01", "to": "2026-04-01"},
                   format="json")  # fmt: skip
    assert again.status_code == 409 and error_of(again)["code"] == "duplicate_report"
    listed = api(p.viewer).get(API).json()
    assert listed["count"] == 1 and "figures" not in listed["results"][0]
    one = api(p.viewer).get(f"{API}1/")
    assert one.status_code == 200 and one.json()["figures"]["project"] == "ACME"
    for fmt, mime in (("html", "text/html; charset=utf-8"), ("pdf", "application/pdf")):
        file = api(p.qa).get(f"{API}1/{fmt}")
        assert file.status_code == 200 and file["Content-Type"] == mime
        assert file["Content-Disposition"].startswith('attachment; filename="ACME-R1-on_demand')
    assert api(p.qa).get(f"{API}2/").status_code == 404


@pytest.mark.parametrize(
    "body,field",
    [
        ({"kind": "yearly", "date": "2026-03-01"}, "kind"),
        ({"kind": "weekly", "date": "2026-02-30"}, "date"),
        ({"kind": "weekly"}, "date"),
        ({"kind": "monthly", "date": "2099-03-01"}, "date"),
        ({"kind": "weekly", "date": "9999-12-31"}, "date"),
        ({"kind": "on_demand", "from": "2026-03-01"}, "to"),
        ({"kind": "on_demand", "from": "2026-03-01", "to": "2026-02-01"}, "to"),
        ({"kind": "on_demand", "from": "2020-01-01", "to": "2026-02-01"}, "to"),
        ({"kind": "on_demand", "from": "2026-03-01", "to": "2026-04-01", "x": 1}, "x"),
    ],
)
def test_the_api_names_a_bad_field(personas, api, body, field):
    answer = api(personas.pm).post(API, body, format="json")
    assert answer.status_code == 400 and names(error_of(answer), field), answer.json()
    assert _count() == 0


def test_the_api_schedule(personas, api):
    p = personas
    c = api(p.pm)
    assert c.get(SCHEDULE_API).json() == {"frequency": "off"}
    answer = c.put(SCHEDULE_API, {"frequency": "weekly"}, format="json")
    assert answer.status_code == 200 and answer.json() == {"frequency": "weekly"}
    bad = c.put(SCHEDULE_API, {"frequency": "daily"}, format="json")
    assert bad.status_code == 400 and names(error_of(bad), "frequency")
    assert reviews.schedule_of(p.project) == "weekly"


def test_the_api_list_s_queries_do_not_grow(personas, api, django_assert_max_num_queries):
    p = personas
    _make(p, 2)
    c = api(p.developer)
    c.get(API)
    with django_assert_max_num_queries(10) as few:
        assert c.get(API).json()["count"] == 2
    _make(p, 20)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(c.get(API).json()["results"]) == 22


def test_the_schema_names_the_enums(personas, api):
    schema = api(personas.pm).get("/api/v1/schema/?format=json").json()
    components = schema["components"]["schemas"]
    assert components["ReviewFrequencyEnum"]["enum"] == ["off", "weekly", "monthly"]
    assert components["ReviewReportKindEnum"]["enum"] == ["weekly", "monthly", "on_demand"]
    paths = schema["paths"]
    assert "/api/v1/projects/{key}/review-reports/{number}/pdf" in paths
    assert "put" in paths["/api/v1/projects/{key}/review-schedule/"]


# ------------------------------------------------------------------ CLI


def test_cli_generates_and_lists(personas, run_cli, english_terminal):
    p = personas
    code, out, err = run_cli("report", "review", "--project", "ACME", "--period", "monthly",
                             "--date", "2026-03-10")  # fmt: skip
    assert (code, err) == (0, "")
    report = ReviewReport.objects.get()
    assert "ACME-R1: monthly review, 2026-03-01 to 2026-03-31 (number 1)" in out
    assert f"pdf: {default_storage.path(report.pdf_file.name)}" in out
    assert report.generated_by == p.pm  # the project's first project manager
    code, out, err = run_cli("report", "review", "--project", "ACME", "--from", "2026-03-01",
                             "--to", "2026-03-08", "--user", p.admin.username)  # fmt: skip
    assert code == 0 and "ACME-R2: on_demand review" in out
    code, out, _ = run_cli("report", "review", "--project", "acme", "--list")
    lines = out.strip().splitlines()
    assert code == 0 and [line.split("\t")[0] for line in lines] == ["ACME-R2", "ACME-R1"]
    # Without --date: the last complete period.
    code, out, _ = run_cli("report", "review", "--project", "ACME", "--period", "weekly")
    week = reviews.last_complete("weekly", timezone.localdate())
    assert code == 0 and f"weekly review, {week.start}" in out


@pytest.mark.parametrize(
    "args,code,says",
    [
        (["--project", "NOPE"], 1, "unknown project 'NOPE'"),
        (["--project", "ACME", "--from", "2026-03-01"], 1, "to:"),
        (["--project", "ACME", "--period", "weekly", "--date", "2026-02-30"], 1, "date:"),
        (["--project", "ACME", "--period", "monthly", "--date", "2099-01-01"], 1, "not over"),
        (["--project", "ACME", "--from", "2026-03-01", "--to", "2026-02-01"], 1, "to:"),
        (["--project", "ACME", "--period", "daily"], 2, "invalid choice"),
        (["--project", "ACME", "--list", "--date", "2026-03-01"], 1, "--list takes no period"),
        (["--project", "ACME", "--user", "ghost"], 1, "unknown user 'ghost'"),
        ([], 2, "--project"),
    ],
)
def test_cli_bad_input_is_one_line(personas, run_cli, english_terminal, args, code, says):
    got, out, err = run_cli("report", "review", *args)
    assert (got, out) == (code, "")
    assert says in one_line(err)
    assert _count() == 0


def test_cli_refuses_other_roles_outsiders_and_duplicates(personas, run_cli, english_terminal):
    p = personas
    got, _out, err = run_cli("report", "review", "--project", "ACME", "--from", "2026-03-01",
                             "--to", "2026-04-01", "--user", p.tech_lead.username)  # fmt: skip
    assert got == 1 and "Only project managers" in one_line(err)
    got, _out, err = run_cli("report", "review", "--project", "ACME", "--list",
                             "--user", p.customer.username)  # fmt: skip
    assert got == 1 and "No such project." in one_line(err)
    args = ("report", "review", "--project", "ACME", "--from", "2026-03-01", "--to", "2026-04-01")
    assert run_cli(*args)[0] == 0
    got, _out, err = run_cli(*args)
    assert got == 1 and "exists already" in one_line(err)
    assert _count() == 1


def test_cli_through_call_command(personas, capsys, english_terminal):
    call_command("report", "review", "--project", "ACME", "--period", "weekly",
                 "--date", "2026-03-04")  # fmt: skip
    assert "ACME-R1: weekly review, 2026-03-02 to 2026-03-08" in capsys.readouterr().out
    with pytest.raises(Conflict):
        call_command("report", "review", "--project", "ACME", "--period", "weekly",
                     "--date", "2026-03-08")  # fmt: skip
    with pytest.raises(CommandError, match="unknown project"):
        call_command("report", "review", "--project", "NOPE", "--list")
    call_command("report", "review", "--project", "ACME", "--list")
    assert capsys.readouterr().out.startswith("ACME-R1\tweekly\t2026-03-02\t2026-03-09\t")
