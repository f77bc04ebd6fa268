"""``changeflow estimate backtest``: JSON on stdout, one line on stderr and exit 1/2 on errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from changeflow import cli
from tests.cli.conftest import one_line

KEYS = {
    "file", "format", "method", "target", "excluded", "k", "aggregate", "n", "rows",
    "dropped_missing_target", "features", "missing_feature_values", "notes",
    "MMRE", "MdMRE", "PRED25", "MAR", "MAR_P0", "SA",
}  # fmt: skip


@pytest.fixture(autouse=True)
def _english(english_terminal):
    """These tests read the CLI's English."""


@pytest.fixture
def run(capsys):
    def run(*args: str):
        code = cli.main(["estimate", "backtest", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_backtest_desharnais_prints_the_metrics_as_json(run, effort_data):
    # Length (the actual schedule) is known only after the fact; Project is an id; -1 is
    # Desharnais's code for a missing value (PROVENANCE.md).
    code, out, err = run(
        str(effort_data / "dase_desharnais_1_1.arff"),
        "--target", "Effort", "--exclude", "Project,Length", "--missing=-1",
    )  # fmt: skip
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert set(report) == KEYS
    assert report["target"] == "Effort" and report["excluded"] == ["Project", "Length"]
    assert (report["n"], report["rows"], report["k"]) == (81, 81, 4)
    assert report["method"] == "analogy" and report["format"] == "arff"
    assert "Length" not in report["features"]["numeric"]
    assert report["features"]["nominal"] == ["Language"]
    assert report["missing_feature_values"] > 0  # projects 38, 44, 66 and 75
    assert 0 < report["MMRE"] < 1 and 0 <= report["PRED25"] <= 1
    assert report["SA"] == pytest.approx(1 - report["MAR"] / report["MAR_P0"], abs=1e-5)
    assert report["SA"] > 0


def test_backtest_csv_with_k(run, effort_data):
    code, out, _err = run(str(effort_data / "dase_kemerer.csv"), "--target", "effort", "--k", "1")
    assert code == 0
    report = json.loads(out)
    assert (report["n"], report["k"], report["format"]) == (15, 1, "csv")
    assert report["features"] == {"numeric": ["size"], "nominal": [], "logged": ["size"]}


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("{d}/nope.csv", "--target", "x"), 1, "no such file"),
        (("{d}/dase_kemerer.csv", "--target", "Effort"), 1, "no column 'Effort'"),
        (("{d}/dase_kemerer.csv", "--target", "effort", "--exclude", "id"), 1, "no column 'id'"),
        (("{d}/hemant0308_kemerer.csv", "--target", "x"), 1, "header row"),
        (("{d}/dase_kemerer.csv", "--target", "effort", "--k", "15"), 1, "only 14 other"),
        (("{d}/dase_kemerer.csv", "--target", "effort", "--k", "0"), 2, "--k"),
        (("{d}/dase_kemerer.csv", "--target", "effort", "--k", "x"), 2, "--k"),
        (("{d}/dase_kemerer.csv", "--target", "effort", "--method", "x"), 2, "--method"),
        (
            ("{d}/dase_kemerer.csv", "--target", "effort", "--method", "regression", "--k", "2"),
            2,
            "--k does not apply to --method regression",
        ),
        (
            (
                "{d}/dase_kemerer.csv",
                "--target",
                "effort",
                "--method",
                "angel",
                "--aggregate",
                "mean",
            ),
            2,
            "--aggregate does not apply to --method angel",
        ),
        (
            ("{d}/dase_kemerer.csv", "--target", "effort", "--method", "angel", "--k", "15"),
            1,
            "only 14 other",
        ),
        (("{d}/dase_kemerer.csv",), 2, "--target"),
        ((), 2, "FILE"),
    ],
)
def test_bad_input_is_one_line_on_stderr(run, effort_data, args, code, message):
    got, out, err = run(*(a.format(d=effort_data) for a in args))
    assert (got, out) == (code, "")
    line = one_line(err)
    assert line.startswith("changeflow: ") and message in line


def test_data_errors_on_made_up_files(run, tmp_path):
    text = tmp_path / "t.csv"
    text.write_text("size,lang\n1,a\n2,b\n")
    code, _out, err = run(str(text), "--target", "lang")
    assert code == 1 and "not numeric" in one_line(err)
    arff = tmp_path / "t.arff"
    arff.write_text("@relation x\n@attribute a numeric\n@data\n1,2\n")
    code, _out, err = run(str(arff), "--target", "a")
    assert code == 1 and "line 4" in one_line(err)
    empty = tmp_path / "e.csv"
    empty.write_text("")
    code, _out, err = run(str(empty), "--target", "a")
    assert code == 1 and "empty" in one_line(err)


def test_errors_speak_the_terminals_language(run, monkeypatch, tmp_path):
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    code, _out, err = run(str(tmp_path / "nope.csv"), "--target", "x")
    assert code == 1 and "文件不存在" in one_line(err)


def test_call_command_raises_command_errors_with_the_exit_code(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text("size,effort\n1,10\n2,20\n4,40\n")
    call_command("estimate", "backtest", str(path), target="effort", k=1)
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 3 and report["k"] == 1
    with pytest.raises(CommandError) as exc:
        call_command("estimate", "backtest", str(path), target="Effort")
    assert exc.value.returncode == 1
    with pytest.raises(CommandError) as exc:
        call_command("estimate", "backtest", str(path), target="effort", k=0)
    assert exc.value.returncode == 2


# Every public effort file, each with its target and the columns known only after the fact
# (durations, productivity ratios derived from effort) or that are ids — see PROVENANCE.md.
PUBLIC = [
    ("dase_desharnais_1_1.arff", "Effort", "Project,Length", "-1", 81),
    ("dase_chinaOriginal.arff", "Effort",
     "ID,Duration,N_effort,PDR_AFP,PDR_UFP,NPDR_AFP,NPDU_UFP", "", 499),
    ("dase_china.arff", "Effort", "Duration", "", 499),
    ("dase_coc81_1_1.arff", "actual", "project_id", "", 63),
    ("dase_nasa93.arff", "act_effort", "recordnumber", "", 93),
    ("dase_maxwell.arff", "effort_D", "duration_D", "", 63),
    ("baldeep_maxwell.arff", "Effort", "Duration,Time", "", 62),
    ("dase_MaxwellDataset_DataSetMaxwellDevelopment.csv", "effort", "id,duration,time,prod", "",
     63),
    ("dase_kitchenham.arff", "Actual.effort", "Actual.duration", "", 145),
    ("dase_kemerer.csv", "effort", "", "", 15),
    ("dase_albretch.arff", "size", "", "", 24),  # labels swapped: 'size' holds the effort
    ("mandriv_albrecht.arff", "Effort", "", "", 24),
]  # fmt: skip


@pytest.mark.parametrize(("name", "target", "exclude", "missing", "n"), PUBLIC)
def test_backtest_runs_on_every_public_dataset(run, effort_data, name, target, exclude, missing, n):
    code, out, err = run(
        str(effort_data / name), "--target", target, f"--exclude={exclude}", f"--missing={missing}"
    )
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert report["n"] == n
    assert report["SA"] > 0  # better than random guessing on every one


def test_the_installed_console_script(effort_data, tmp_path):
    """As a user runs it: a separate process, its own (empty) home, no database needed."""
    script = Path(sys.executable).with_name("changeflow")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "changeflow.cli"]
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(CHANGEFLOW_HOME=str(tmp_path), LANG="C.UTF-8")
    args = ["estimate", "backtest", str(effort_data / "dase_kemerer.csv"), "--target", "effort"]
    ok = subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["n"] == 15
    bad = subprocess.run(
        [*command, *args[:-1], "Effort"], env=env, capture_output=True, text=True, timeout=120
    )
    assert (bad.returncode, bad.stdout) == (1, "")
    assert "no column 'Effort'" in one_line(bad.stderr)


def test_backtest_all_prints_every_public_dataset(run, effort_data):
    from changeflow.impact.effort_datasets import SPECS

    code, out, err = run("--all", str(effort_data))
    assert (code, err) == (0, "")
    reports = [json.loads(line) for line in out.strip().splitlines()]
    assert [r["dataset"] for r in reports] == [s.label for s in SPECS]
    by = {r["dataset"]: r for r in reports}
    for name in ("Desharnais", "Albrecht", "Kemerer", "Maxwell", "China"):
        assert by[name]["SA"] > 0.4  # well above random guessing
    assert by["Desharnais"]["missing_feature_values"] > 0  # -1 read as missing
    assert by["Kemerer (7 columns)"]["n"] == 15  # headerless file read with --names


def test_backtest_all_and_file_usage_errors(run, effort_data, tmp_path):
    code, _out, err = run("--all", str(effort_data), "--target", "Effort")
    assert code == 2 and "--all" in one_line(err)
    code, _out, err = run()
    assert code == 2 and "FILE" in one_line(err)
    code, _out, err = run("--all", str(tmp_path))
    assert code == 1 and "no known effort dataset" in one_line(err)


def test_headerless_csv_with_names_and_the_aggregate(run, effort_data):
    code, out, err = run(
        str(effort_data / "hemant0308_kemerer.csv"), "--target", "EffortMM",
        "--names", "Language,Hardware,Duration,KSLOC,AdjFP,RAWFP,EffortMM",
        "--exclude", "Duration", "--aggregate", "median",
    )  # fmt: skip
    assert (code, err) == (0, ""), err
    assert json.loads(out)["aggregate"] == "median" and json.loads(out)["n"] == 15


def test_non_numeric_target_exits_1_naming_it(run, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("size,effort\n1,a\n2,b\n", encoding="utf-8")
    code, _out, err = run(str(path), "--target", "effort")
    assert code == 1 and "'effort' is not numeric" in one_line(err)


def test_backtest_the_classic_methods_beside_the_default(run, effort_data):
    albrecht = str(effort_data / "mandriv_albrecht.arff")
    reports = {}
    for method in ("analogy", "angel", "regression"):
        code, out, err = run(albrecht, "--target", "Effort", "--method", method)
        assert (code, err) == (0, ""), err
        reports[method] = json.loads(out)
        assert reports[method]["method"] == method and reports[method]["n"] == 24
    angel, regression = reports["angel"], reports["regression"]
    assert set(angel) == KEYS | {"chosen"} and set(regression) == KEYS
    assert (angel["k"], angel["aggregate"], regression["k"], regression["aggregate"]) == (
        None, None, None, None,
    )  # fmt: skip
    assert sum(c["folds"] for c in angel["chosen"]) == 24  # one choice per fold
    assert all(c["k"] in (1, 2, 3) and c["features"] for c in angel["chosen"])
    assert angel["features"]["logged"] == [] and regression["features"]["logged"]
    # Honest, nested ANGEL does far worse here than the 62 % it published in-sample.
    assert angel["MMRE"] > reports["analogy"]["MMRE"] + 0.2
    code, out, _err = run(albrecht, "--target", "Effort", "--method", "angel", "--k", "2")
    assert code == 0 and {c["k"] for c in json.loads(out)["chosen"]} == {2}


def test_backtest_all_with_another_method(run, effort_data):
    from changeflow.impact.effort_datasets import SPECS

    code, out, err = run("--all", str(effort_data), "--method", "regression")
    assert (code, err) == (0, "")
    reports = [json.loads(line) for line in out.strip().splitlines()]
    assert [(r["dataset"], r["method"]) for r in reports] == [
        (s.label, "regression") for s in SPECS
    ]
    assert all(r["SA"] > 0.3 for r in reports)
