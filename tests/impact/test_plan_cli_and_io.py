"""``changeflow simulate`` (JSON on stdout; one stderr line and exit 1 on bad input), the plan
file reader and the day/date arithmetic of the calendars."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from changeflow import cli
from changeflow.impact import plan_io, plans
from tests.cli.conftest import one_line

CSV = (
    "id,name,optimistic,most_likely,pessimistic,depends_on,rate,milestone,target_date\n"
    "A,需求分析,2,3,5,,1000,,\n"
    "B,开发,5,8,14,A,2000,,\n"
    "C,测试,2,3,6,B,1000,上线,2027-01-25\n"
)


@pytest.fixture(autouse=True)
def _english(english_terminal):
    """These tests read the CLI's English."""


@pytest.fixture
def run(capsys):
    def run(*args: str):
        code = cli.main(["simulate", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.mark.django_db(transaction=True)
def test_simulate_prints_json_for_the_stored_plan_and_a_change(personas, run):
    p = personas
    from tests.factories import make_cr

    clean = plan_io.rows_to_plan(plan_io.read_rows("p.csv", CSV.encode()))
    plans.plan_replace(user=p.pm, project=p.project, clean=clean,
                       header={"start_date": "2027-01-04"})  # fmt: skip
    cr = make_cr(p.project, by=p.customer_rep, submit=True)
    plans.change_plan_set(user=p.pm, cr=cr, data={
        "tasks": [{"key": "X", "optimistic": 3, "most_likely": 3, "pessimistic": 3}],
        "after": ["B"], "before": ["C"]})  # fmt: skip
    code, out, err = run("--project", "ACME", "--iterations", "500", "--seed", "4")
    assert code == 0, err
    data = json.loads(out)
    assert data["project"] == "ACME" and data["with_change"] is None
    assert data["milestones"][0]["name"] == "上线"
    code, out, err = run("--project", "ACME", "--change-request", cr.key, "--iterations", "500")
    assert code == 0, err
    data = json.loads(out)
    assert data["finish_shift_days"] == pytest.approx({"P50": 3, "P80": 3, "P95": 3})
    # Reproducible by seed.
    assert json.loads(run("--project", "ACME", "--change-request", cr.key, "--iterations",
                          "500")[1]) == data  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_simulate_reads_a_plan_file(personas, run, tmp_path):
    path = tmp_path / "plan.csv"
    path.write_text(CSV, encoding="utf-8")
    code, out, err = run("--project", "ACME", "--plan", str(path), "--start-date", "2027-01-04",
                         "--iterations", "300")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["start_date"] == "2027-01-04"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("content", "args", "words"),
    [
        ("id,optimistic,most_likely,pessimistic,depends_on\nA,1,2,3,B\nB,1,2,3,A\n", [],
         "dependency cycle: A → B → A"),
        ("id,optimistic,most_likely,pessimistic\nA,5,2,3\n", [],
         "optimistic 5.00 is greater than most likely 2.00"),
        ("id,optimistic,most_likely,pessimistic\nA,-1,2,3\n", [], "negative"),
        (CSV, ["--iterations", "100001"], "100001 iterations is over the maximum of 100000"),
    ],
)  # fmt: skip
def test_simulate_bad_input_is_one_line_and_exit_1(personas, run, tmp_path, content, args, words):
    path = tmp_path / "plan.csv"
    path.write_text(content, encoding="utf-8")
    code, out, err = run("--project", "ACME", "--plan", str(path), *args)
    assert code == 1 and out == ""
    assert words in one_line(err)


@pytest.mark.django_db(transaction=True)
def test_simulate_unknown_project_or_cr_or_missing_plan(personas, run):
    code, _out, err = run("--project", "NOPE")
    assert code == 1 and "No project NOPE" in one_line(err)
    code, _out, err = run("--project", "ACME", "--change-request", "ACME-99")
    assert code == 1 and "ACME-99" in one_line(err)
    code, _out, err = run("--project", "ACME")
    assert code == 1 and "no plan" in one_line(err)
    code, _out, err = run("--iterations", "x")
    assert code == 2


# ---------------------------------------------------------------- days and dates


def test_working_days_skip_weekends():
    monday = dt.date(2027, 1, 4)
    assert plans.date_of(monday, "working", 0) == monday
    assert plans.date_of(monday, "working", 0.3) == monday
    assert plans.date_of(monday, "working", 5) == dt.date(2027, 1, 8)  # Friday
    assert plans.date_of(monday, "working", 5.01) == dt.date(2027, 1, 11)  # next Monday
    assert plans.day_of(monday, "working", dt.date(2027, 1, 8)) == 5
    assert plans.day_of(monday, "working", dt.date(2027, 1, 10)) == 5  # Sunday
    assert plans.day_of(monday, "working", dt.date(2027, 1, 11)) == 6
    assert plans.day_of(monday, "working", dt.date(2026, 12, 1)) == 0
    for day in range(1, 40):
        assert plans.day_of(monday, "working", plans.date_of(monday, "working", day)) == day


def test_calendar_days_count_every_day():
    start = dt.date(2027, 1, 4)
    assert plans.date_of(start, "calendar", 7) == dt.date(2027, 1, 10)
    assert plans.day_of(start, "calendar", dt.date(2027, 1, 10)) == 7


def test_find_cycle_names_the_tasks_in_order():
    graph = [("A", ["C"]), ("B", ["A"]), ("C", ["B"]), ("D", [])]
    assert plan_io.find_cycle(graph) == ["A", "B", "C"]
    assert plan_io.find_cycle([("A", []), ("B", ["A"])]) is None


def test_gb18030_csv_and_semicolon_separated_files_are_read():
    text = "id;name;optimistic;most_likely;pessimistic\nA;需求;1;2;3\n"
    rows = plan_io.read_rows("p.csv", text.encode("gb18030"))
    assert rows[0]["name"] == "需求"
    plan = plan_io.rows_to_plan(rows)
    assert plan.tasks[0].most_likely == 2


def test_every_problem_of_a_file_is_listed_at_once():
    rows = plan_io.read_rows("p.csv", (
        b"id,optimistic,most_likely,pessimistic,depends_on,milestone,target_date\n"
        b"A,1,2,3,,M,not-a-date\nA,1,2,3,\nB c,1,2,3,\n,1,2,3,\n"))  # fmt: skip
    with pytest.raises(plan_io.PlanProblems) as exc:
        plan_io.rows_to_plan(rows)
    problems = exc.value.problems
    assert any("row 3 (A): the id 'A' is used twice" in s for s in problems)
    assert any("row 4 (B c): the id 'B c' may not contain" in s for s in problems)
    assert any("row 5: the id is missing" in s for s in problems)
    assert any("not a date" in s for s in problems)
