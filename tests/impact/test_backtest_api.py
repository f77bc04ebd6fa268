"""``POST /api/v1/estimation/backtest/``: the CLI's backtest on an uploaded file."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.test import Client

from changeflow.impact import api as impact_api
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db

URL = "/api/v1/estimation/backtest/"


def upload(path_or_text, name: str | None = None) -> io.BytesIO:
    if isinstance(path_or_text, str):
        f = io.BytesIO(path_or_text.encode())
    else:
        f = io.BytesIO(path_or_text.read_bytes())
    f.name = name or path_or_text.name
    return f


def post(client, file, **fields):
    return client.post(URL, {"file": file, **fields}, format="multipart")


def test_the_report_equals_the_clis(personas, api, effort_data):
    path = effort_data / "dase_desharnais_1_1.arff"
    r = post(api(personas.pm), upload(path), target="Effort", exclude="Project, Length",
             missing="-1")  # fmt: skip
    assert r.status_code == 200, r.content
    body = r.json()
    out = io.StringIO()
    call_command("estimate", "backtest", str(path), target="Effort",
                 exclude=["Project", "Length"], missing=["-1"], stdout=out)  # fmt: skip
    assert body == json.loads(out.getvalue())
    assert (body["method"], body["k"], body["n"]) == ("analogy", 4, 81)


@pytest.mark.parametrize("who", ["pm", "customer", "viewer", "outsider", "admin"])
def test_any_signed_in_user_may_backtest_their_own_file(personas, api, effort_data, who):
    # It reads only the file it is sent, no project's data.
    r = post(api(getattr(personas, who)), upload(effort_data / "dase_kemerer.csv"),
             target="effort", method="regression")  # fmt: skip
    assert r.status_code == 200, r.content
    assert r.json()["method"] == "regression" and r.json()["k"] is None


def test_anonymous_gets_401(api, effort_data):
    r = post(api(None), upload(effort_data / "dase_kemerer.csv"), target="effort")
    assert r.status_code == 401


def test_angel_lists_its_choices(personas, api, effort_data):
    r = post(api(personas.developer), upload(effort_data / "mandriv_albrecht.arff"),
             target="Effort", method="angel", k=2)  # fmt: skip
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["k"] == 2 and {c["k"] for c in body["chosen"]} == {2}
    assert sum(c["folds"] for c in body["chosen"]) == 24


CSV = "size,team,effort\n10,a,100\n20,b,210\n15,a,160\n30,b,290\n25,a,260\n"


@pytest.mark.parametrize(
    ("fields", "status", "field", "words"),
    [
        ({"target": "Effort"}, 400, "target", "no column 'Effort'"),
        ({"target": "team"}, 400, "target", "not numeric"),
        ({"target": "effort", "exclude": "id"}, 400, "exclude", "no column 'id'"),
        ({"target": "effort", "exclude": "effort"}, 400, "target", "cannot also be excluded"),
        ({"target": "effort", "method": "cocomo"}, 400, "method", ""),
        ({"target": "effort", "method": "regression", "k": 2}, 400, "k", "does not apply"),
        (
            {"target": "effort", "method": "angel", "aggregate": "mean"},
            400,
            "aggregate",
            "does not apply",
        ),
        ({"target": "effort", "k": 0}, 400, "k", ""),
        ({"target": "effort", "k": 9}, 422, None, "only 4 other"),
        ({"target": "effort", "knn": 3}, 400, "knn", "Unknown field"),
        ({}, 400, "target", ""),
    ],
)
def test_bad_input_is_named(personas, api, fields, status, field, words):
    r = post(api(personas.pm), upload(CSV, "history.csv"), **fields)
    assert r.status_code == status, r.content
    err = error_of(r)
    if field:
        assert field in err["fields"], err
    assert words in err["message"] + str(err["fields"])


@pytest.mark.parametrize(
    ("content", "name", "words"),
    [
        ("", "e.csv", "empty"),
        ("@relation x\n@attribute a numeric\n@data\n1,2\n", "t.arff", "line 4"),
        ("a\x00b", "bin.csv", "not a text file"),
    ],
)
def test_a_file_that_cannot_be_read_is_named(personas, api, content, name, words):
    r = post(api(personas.pm), upload(content, name), target="a")
    assert r.status_code == 400, r.content
    err = error_of(r)
    assert "file" in err["fields"] and words in str(err["fields"]["file"])


def test_data_that_cannot_be_backtested_is_422(personas, api):
    same = "size,effort\n1,5\n2,5\n3,5\n"
    r = post(api(personas.pm), upload(same, "s.csv"), target="effort", k=1)
    assert r.status_code == 422 and "same target value" in error_of(r)["message"]
    r = post(api(personas.pm), upload("size,effort\n1,5\n2,0\n3,4\n", "z.csv"), target="effort",
             k=1)  # fmt: skip
    assert r.status_code == 422 and "zero or negative" in error_of(r)["message"]


def test_too_many_rows_or_bytes_is_413(personas, api, monkeypatch):
    monkeypatch.setattr(impact_api, "BACKTEST_MAX_ROWS", 4)
    r = post(api(personas.pm), upload(CSV, "h.csv"), target="effort")
    assert r.status_code == 413 and "5 rows" in error_of(r)["message"]
    monkeypatch.setattr(impact_api.BacktestView, "max_body_bytes", 100)
    r = post(api(personas.pm), upload(CSV * 5, "h.csv"), target="effort")
    assert r.status_code == 413


def test_errors_in_chinese(personas, api):
    client = api(personas.pm)
    r = client.post(URL, {"file": upload(CSV, "h.csv"), "target": "工时"}, format="multipart",
                    HTTP_ACCEPT_LANGUAGE="zh-hans")  # fmt: skip
    assert r.status_code == 400 and "工时" in error_of(r)["message"]
    assert "没有" in error_of(r)["message"] or "列" in error_of(r)["message"]


def test_in_the_openapi_schema():
    schema = Client().get("/api/v1/schema/?format=json").json()
    post = schema["paths"]["/api/v1/estimation/backtest/"]["post"]
    assert post["operationId"] == "estimation_backtest"
    assert {"200", "400", "401", "413", "422"} <= set(post["responses"])
    fields = schema["components"]["schemas"]["BacktestRequestRequest"]["properties"]
    assert {"file", "target", "exclude", "method", "k", "aggregate", "missing", "names"} == set(
        fields
    )
