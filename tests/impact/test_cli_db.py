"""``changeflow estimate expert|analogy|similar`` against a database."""

import json

import pytest

from changeflow import cli
from tests.factories import advance, make_cr

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(english_terminal):
    """These tests read the CLI's English."""


def run(capsys, *args):
    code = cli.main(["estimate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_expert_estimate_and_close_from_the_cli(personas, capsys):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "assessing")
    code, out, err = run(capsys, "expert", cr.key, "--as", p.developer.username,
                         "--effort", "10,20,40")  # fmt: skip
    assert (code, err) == (0, "")
    assert json.loads(out)["rounds"][0]["estimates"][0]["effort"]["most_likely"] == 20
    code, out, err = run(capsys, "expert", cr.key, "--as", p.developer.username,
                         "--effort", "30,20,40")  # fmt: skip
    assert code == 1 and "most_likely" in err and len(err.strip().splitlines()) == 1
    code, out, err = run(capsys, "expert", cr.key, "--as", p.tech_lead.username, "--close-round")
    assert code == 0 and json.loads(out)["rounds"][0]["status"] == "agreed"
    code, _out, err = run(capsys, "expert", cr.key, "--as", p.developer.username,
                          "--effort", "1,2")  # fmt: skip
    assert code == 2


def test_analogy_with_no_history_and_similar(personas, capsys):
    p = personas
    cr = advance(
        make_cr(p.project, by=p.customer, title="登录页面需要支持短信验证码"), p, "assessing"
    )
    code, _out, err = run(capsys, "analogy", cr.key, "--as", p.pm.username)
    assert code == 1 and "history" in err.lower()
    code, out, err = run(capsys, "similar", "短信验证码登录", "--project", p.project.key,
                         "--as", p.customer.username)  # fmt: skip
    assert (code, err) == (0, "")
    assert json.loads(out)[0]["key"] == cr.key
    code, _out, err = run(capsys, "similar", "x", "--project", p.project.key,
                          "--as", p.outsider.username)  # fmt: skip
    assert code == 1
    code, _out, err = run(capsys, "analogy", cr.key, "--as", "nobody")
    assert code == 1 and "nobody" in err
