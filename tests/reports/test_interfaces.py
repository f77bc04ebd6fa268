"""The metrics page and charts, the API, the CLI, and the project's change budget."""

from __future__ import annotations

import json
import re

import pytest

from changeflow.accounts.models import Project
from tests.api.conftest import error_of
from tests.cli.conftest import one_line

from .helpers import metrics_world

pytestmark = pytest.mark.django_db

MARCH = "from=2026-03-01&to=2026-04-01"
PAGE = "/projects/ACME/metrics/"
API = "/api/v1/projects/ACME/metrics/"


def page(client, user, path):
    client.force_login(user)
    return client.get(path)


# ---------------------------------------------------------------- the page and its charts


@pytest.mark.parametrize("who", ["pm", "tech_lead", "developer", "viewer", "admin"])
def test_the_page_shows_the_figures_to_the_team(client, personas, who):
    metrics_world(personas)
    r = page(client, getattr(personas, who), f"{PAGE}?{MARCH}")
    html = r.content.decode()
    assert r.status_code == 200
    assert 'data-testid="metrics-summary"' in html
    assert "Cost and schedule of approved change" in html and "100000.00" in html
    assert "Estimation accuracy" in html and "PRED(25)" in html
    assert "Volatility = " in html  # the definition is on the page
    assert f"chart.svg?kind=trend&amp;{MARCH.replace('&', '&amp;')}" in html
    assert 'aria-current="page">Metrics<' in html  # the project's tab


@pytest.mark.parametrize("who", ["customer", "customer_rep"])
def test_customers_see_the_process_not_the_cost(client, personas, who):
    metrics_world(personas)
    html = page(client, getattr(personas, who), f"{PAGE}?{MARCH}").content.decode()
    assert 'data-testid="metrics-summary"' in html and "SLA breaches" in html
    assert "Cost and schedule of approved change" not in html and "100000.00" not in html
    assert "Estimation accuracy" not in html


def test_the_page_defaults_to_the_last_three_months(client, personas):
    from changeflow.reports.metrics import default_period

    period = default_period()
    html = page(client, personas.pm, PAGE).content.decode()
    assert f'value="{period.start.isoformat()}"' in html
    assert f"from={period.start.isoformat()}&amp;to={period.end.isoformat()}" in html


def test_the_period_s_dates_are_iso_in_chinese_too(client, personas):
    # A date input only shows a YYYY-MM-DD value; zh-Hans formats dates as 2026/09/07, which the
    # browser showed as an empty field.
    from changeflow.reports.metrics import default_period

    period = default_period()
    client.force_login(personas.pm)
    html = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert f'value="{period.start.isoformat()}"' in html
    assert f'value="{period.end.isoformat()}"' in html


@pytest.mark.parametrize(
    "query,says",
    [
        ("from=2026-02-30&to=2026-04-01", "Enter a valid date."),
        ("from=2026-04-01&to=2026-03-01", "The end must be after the start."),
        ("from=2010-01-01&to=2026-03-01", "at most five years"),
    ],
)
def test_a_bad_period_is_400_with_the_form(client, personas, query, says):
    r = page(client, personas.pm, f"{PAGE}?{query}")
    assert r.status_code == 400 and says in r.content.decode()
    assert 'data-testid="metrics-summary"' not in r.content.decode()


def test_outsiders_get_404(client, personas):
    for path in (PAGE, f"{PAGE}chart.svg?kind=trend", f"{PAGE}?from=bad"):
        assert page(client, personas.outsider, path).status_code == 404, path
    client.logout()
    assert client.get(PAGE).status_code == 302


@pytest.mark.parametrize("kind", ["trend", "cycle"])
@pytest.mark.parametrize(
    "fmt,mime,magic", [("svg", "image/svg+xml", b"<svg"), ("png", "image/png", b"\x89PNG")]
)
def test_charts(client, personas, kind, fmt, mime, magic):
    metrics_world(personas)
    r = page(client, personas.customer, f"{PAGE}chart.{fmt}?kind={kind}&{MARCH}")
    assert r.status_code == 200 and r["Content-Type"] == mime
    assert magic in r.content[:400]


@pytest.mark.parametrize(
    "query", ["kind=pie", "kind=trend&from=yesterday", "kind=trend&from=2026-03-01&to=2026-03-01"]
)
def test_bad_chart_requests_are_400(client, personas, query):
    assert page(client, personas.pm, f"{PAGE}chart.svg?{query}").status_code == 400
    assert page(client, personas.pm, f"{PAGE}chart.gif?kind=trend").status_code == 400


# ---------------------------------------------------------------- the API


def test_the_api_gives_the_figures(personas, api):
    metrics_world(personas)
    r = api(personas.tech_lead).get(f"{API}?{MARCH}")
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["from"], body["to"], body["project"]) == ("2026-03-01", "2026-04-01", "ACME")
    assert body["decisions"]["approved"] == 1
    assert body["cost"]["budget_used_share"] == 0.5
    assert body["volatility"]["volatility"] == 1.6667
    assert len(body["trend"]["points"]) == 6


def test_the_api_hides_internal_figures_from_customers(personas, api):
    metrics_world(personas)
    body = api(personas.customer).get(f"{API}?{MARCH}").json()
    assert (body["internal"], body["cost"], body["estimation"]) == (False, None, None)
    assert body["submitted"]["total"] == 3


def test_the_api_is_404_for_outsiders_and_401_anonymous(personas, api):
    assert api(personas.outsider).get(API).status_code == 404
    assert api(personas.outsider).get("/api/v1/projects/NOPE/metrics/").status_code == 404
    assert api(None).get(API).status_code == 401


@pytest.mark.parametrize(
    "query,field",
    [
        ("from=2026-3-1", "from"),
        ("from=2026-03-01&to=tomorrow", "to"),
        ("from=2026-03-01&to=2026-03-01", "to"),
        ("from=2026-03-02&to=2026-03-01", "to"),
        ("from=1999-01-01&to=2026-01-01", "to"),
        ("from=%00", "from"),
    ],
)
def test_the_api_names_a_bad_parameter(personas, api, query, field):
    r = api(personas.pm).get(f"{API}?{query}")
    assert r.status_code == 400
    assert list(error_of(r)["fields"]) == [field]


def test_the_metrics_are_in_the_schema(personas, api):
    schema = api(personas.pm).get("/api/v1/schema/?format=json").json()
    op = schema["paths"]["/api/v1/projects/{key}/metrics/"]["get"]
    assert {p["name"] for p in op["parameters"]} >= {"key", "from", "to"}
    ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    props = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]["properties"]
    assert {"from", "to", "submitted", "decisions", "cycle_time", "cost", "trend"} <= set(props)


# ---------------------------------------------------------------- the CLI


@pytest.fixture
def run_cli(capsysbinary, english_terminal):
    from changeflow import cli

    def run(*args: str):
        code = cli.main(list(args))
        captured = capsysbinary.readouterr()
        return code, captured.out, captured.err.decode()

    return run


def test_cli_json_to_stdout(personas, run_cli):
    metrics_world(personas)
    code, out, err = run_cli(
        "report", "metrics", "--project", "ACME", "--from", "2026-03-01", "--to", "2026-04-01"
    )
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["decisions"]["rejected"] == 1 and data["cost"]["budget"] == "100000.00"


def test_cli_as_a_customer_gets_no_cost(personas, run_cli):
    metrics_world(personas)
    code, out, _err = run_cli(
        "report",
        "metrics",
        "--project",
        "ACME",
        "--from",
        "2026-03-01",
        "--user",
        personas.customer.username,
    )
    assert code == 0 and json.loads(out)["cost"] is None


def test_cli_html_and_pdf(personas, run_cli, tmp_path):
    metrics_world(personas)
    target = tmp_path / "m.pdf"
    code, out, err = run_cli(
        "report",
        "metrics",
        "--project",
        "ACME",
        "--from",
        "2026-03-01",
        "--to",
        "2026-04-01",
        "--format",
        "pdf",
        "--output",
        str(target),
    )
    assert code == 0 and out == b"" and str(target) in err
    assert target.read_bytes().startswith(b"%PDF")
    code, out, err = run_cli("report", "metrics", "--project", "ACME", "--format", "html")
    html = out.decode()
    assert code == 0 and html.startswith("<!doctype html>")
    assert "<svg" in html and "Process metrics of ACME" in html and "<img" not in html
    ids = re.findall(r' id="([^"]+)"', html)  # two inline charts, each with ids of its own
    assert ids and len(ids) == len(set(ids))
    code, out, _ = run_cli("report", "metrics", "--project", "ACME", "--format", "pdf")
    assert code == 0 and out.startswith(b"%PDF")  # binary-safe on stdout


@pytest.mark.parametrize(
    "args,code,says",
    [
        (["--project", "NOPE"], 1, "unknown project 'NOPE'"),
        (["--project", "ACME", "--from", "2026-02-30"], 1, "from:"),
        (["--project", "ACME", "--from", "2026-03-01", "--to", "2026-02-01"], 1, "to:"),
        (["--project", "ACME", "--user", "ghost"], 1, "unknown user 'ghost'"),
        (["--project", "ACME", "--format", "doc"], 2, "invalid choice"),
        ([], 2, "--project"),
    ],
)
def test_cli_errors_are_one_line(personas, run_cli, args, code, says):
    got, out, err = run_cli("report", "metrics", *args)
    assert (got, out) == (code, b"")
    assert says in one_line(err)


def test_cli_refuses_a_user_who_may_not_see_the_project(personas, run_cli):
    got, _out, err = run_cli(
        "report", "metrics", "--project", "ACME", "--user", personas.outsider.username
    )
    assert got == 1 and "No such project." in one_line(err)


def test_cli_cannot_write_the_output(personas, run_cli, tmp_path):
    got, _out, err = run_cli(
        "report",
        "metrics",
        "--project",
        "ACME",
        "--output",
        str(tmp_path / "no" / "such" / "dir.json"),
    )
    assert got == 1 and "cannot write" in one_line(err)


# ---------------------------------------------------------------- the change budget


def test_managers_set_the_budget_on_the_settings_page(client, personas):
    client.force_login(personas.pm)
    form = client.get("/projects/ACME/settings/").content.decode()
    assert 'name="change_budget"' in form and 'name="schedule_contingency_days"' in form
    data = {
        "name": "ACME",
        "description": "",
        "customer": "ACME Corp",
        "currency": "CNY",
        "change_budget": "250000",
        "schedule_contingency_days": "30",
    }
    assert client.post("/projects/ACME/settings/", data).status_code == 302
    project = Project.objects.get(key="ACME")
    assert (str(project.change_budget), str(project.schedule_contingency_days)) == (
        "250000.00",
        "30.00",
    )
    assert (
        client.post("/projects/ACME/settings/", {**data, "change_budget": "-5"}).status_code == 400
    )
    client.force_login(personas.tech_lead)
    assert client.post("/projects/ACME/settings/", data).status_code == 403


def test_managers_set_the_budget_through_the_api(personas, api):
    from changeflow.core.models import AuditEvent

    url = "/api/v1/projects/ACME/"
    r = api(personas.pm).patch(
        url, {"change_budget": "120000.50", "schedule_contingency_days": "12"}, format="json"
    )
    assert r.status_code == 200, r.content
    assert (r.json()["change_budget"], r.json()["schedule_contingency_days"]) == (
        "120000.50",
        "12.00",
    )
    event = AuditEvent.objects.filter(action="project.updated").last()
    assert event.after["change_budget"] == "120000.50"
    assert api(personas.pm).patch(url, {"change_budget": "x"}, format="json").status_code == 400
    assert api(personas.qa).patch(url, {"change_budget": "1"}, format="json").status_code == 403
    assert (
        api(personas.outsider).patch(url, {"change_budget": "1"}, format="json").status_code == 404
    )
    r = api(personas.pm).patch(url, {"change_budget": None}, format="json")
    assert r.status_code == 200 and r.json()["change_budget"] is None
