"""``changeflow process export|apply|list``: a round trip from one project to another, a
preset, a dry run, and bad input (one line on stderr, exit 1 or 2)."""

from __future__ import annotations

import json

import pytest

from changeflow import cli
from changeflow.ccb.models import Board
from changeflow.crtemplates import services as forms
from changeflow.processes import services
from changeflow.reports.reviews import schedule_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(english_terminal):
    """These tests read the CLI's English."""


def run(capsys, *args):
    code = cli.main(["process", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_export_then_apply_to_another_project(personas, capsys, tmp_path):
    p = personas
    services.process_apply(
        user=p.pm, project=p.project, source=services.source_of(user=p.pm, preset="fixed-price")
    )
    forms.template_create(user=p.pm, project=p.project, data={"name": "Data fix"})
    target = tmp_path / "acme.json"
    code, _out, err = run(capsys, "export", "--project", "ACME", "-o", str(target))
    assert code == 0 and "written to" in err
    document = json.loads(target.read_text())
    assert document["review_schedule"] == "weekly" and document["board"]["rule"] == "weighted"
    code, out, err = run(capsys, "apply", "--project", "OTHER", str(target), "--dry-run")
    assert code == 0 and "board: blocked" in out and "review_schedule: changes" in out
    assert schedule_of(p.other_project) == "off"
    code, out, err = run(capsys, "apply", "--project", "OTHER", str(target))
    assert code == 1 and len(err.strip().splitlines()) == 1 and "board" in err
    code, out, err = run(
        capsys, "apply", "--project", "OTHER", str(target),
        "--parts", "delegation,sla,review_schedule,cr_templates",
    )  # fmt: skip
    assert (code, err) == (0, "") and "applied:" in out
    assert schedule_of(p.other_project) == "weekly"
    code, out, _err = run(capsys, "export", "--project", "OTHER")
    assert json.loads(out)["cr_templates"][0]["name"] == "Data fix"


def test_a_preset_a_saved_template_and_the_list(personas, capsys):
    p = personas
    code, out, err = run(capsys, "apply", "--project", "ACME", "--preset", "regulated")
    assert (code, err) == (0, "") and Board.objects.get().rule == "unanimous"
    services.template_create(
        user=p.pm, name="Weekly", document={"version": 1, "review_schedule": "weekly"}
    )
    code, out, err = run(capsys, "apply", "--project", "ACME", "--template", "Weekly")
    assert code == 0 and schedule_of(p.project) == "weekly"
    code, out, err = run(capsys, "list")
    assert code == 0 and "preset\tregulated" in out and "template\tWeekly\treview_schedule" in out


def test_bad_input(personas, capsys, tmp_path):
    p = personas
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    for args, exit_code, words in (
        (("apply", "--project", "ACME", str(bad)), 1, "not JSON"),
        (("apply", "--project", "ACME", str(tmp_path / "none.json")), 1, "cannot read"),
        (("apply", "--project", "NOPE", "--preset", "regulated"), 1, "unknown project"),
        (("apply", "--project", "ACME", "--preset", "nope"), 2, "invalid choice"),
        (("apply", "--project", "ACME"), 2, "one of the arguments"),
        (("apply", "--project", "ACME", "--template", "Nope"), 1, "No such process template"),
        (("apply", "--project", "ACME", "--preset", "standard", "--parts", "colour"), 1,
         "colour"),
        (("apply", "--project", "ACME", "--preset", "standard", "--user", p.qa.username), 1,
         "managers"),
        (("export", "--project", "ACME", "--user", p.outsider.username), 1, "No such project"),
        (("frobnicate",), 2, "invalid choice"),
    ):  # fmt: skip
        code, _out, err = run(capsys, *args)
        assert code == exit_code, (args, err)
        assert len(err.strip().splitlines()) == 1 and words in err, (args, err)
    doc = tmp_path / "doc.json"
    doc.write_text(json.dumps({"version": 1, "board": {"voters": {"qa": 1}, "quorum": 0}}))
    code, _out, err = run(capsys, "apply", "--project", "ACME", str(doc))
    assert code == 1 and "board.quorum" in err
