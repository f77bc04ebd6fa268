"""``changeflow cr assign KEY USER`` / ``cr unassign KEY``: through the service, audited on
the cli channel; mistakes are one line on stderr and exit 1, nothing changed."""

import pytest

from changeflow.changes.models import ChangeRequest
from changeflow.core.models import AuditEvent
from tests.cli.conftest import one_line
from tests.factories import make_cr, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def cr(personas):
    return make_cr(personas.project, by=personas.customer, submit=True)


def assignee(cr):
    found = ChangeRequest.objects.select_related("assignee").get(pk=cr.pk).assignee
    return found.username if found else None


def test_assign_and_unassign(run_cli, personas, cr):
    p = personas
    code, out, err = run_cli("cr", "assign", cr.key, p.developer.username)
    assert (code, err) == (0, "")
    assert out.strip() == "%s assigned to %s" % (cr.key, p.developer.username)
    assert assignee(cr) == p.developer.username
    event = AuditEvent.objects.filter(action="cr.updated", object_key=cr.key).latest("seq")
    assert event.channel == "cli" and event.actor == p.pm.username  # the project's PM
    assert event.after["assignee"] == p.developer.username
    assert event.after["notify"] == [p.developer.username]
    # Lower-case key, and another actor named with --user.
    code, out, err = run_cli(
        "cr", "assign", cr.key.lower(), p.qa.username, "--user", p.tech_lead.username
    )
    assert (code, err) == (0, "") and assignee(cr) == p.qa.username
    code, out, err = run_cli("cr", "assign", cr.key, p.developer.username, "--as", p.pm.username)
    assert (code, err) == (0, "") and assignee(cr) == p.developer.username
    code, out, err = run_cli("cr", "unassign", cr.key)
    assert (code, err) == (0, "") and "no assignee" in out
    assert assignee(cr) is None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("cr", "assign", "ACME-999", "dev"), "unknown change request 'ACME-999'"),
        (("cr", "assign", "{key}", "nobody"), "unknown user 'nobody'"),
        (("cr", "assign", "{key}", " "), "unknown user ''"),
        (("cr", "assign", "{key}", "{stranger}"), "must be a member of the project's team"),
        (("cr", "assign", "{key}", "{customer}"), "must be a member of the project's team"),
        (("cr", "assign", "{key}", "{gone}"), "deactivated"),
        (("cr", "assign", "{key}", "{qa}", "--user", "{developer}"), "assign"),
        (("cr", "assign", "{key}", "{qa}", "--user", "ghost"), "unknown user 'ghost'"),
    ],
)
def test_mistakes_are_one_line_and_exit_1(run_cli, personas, cr, args, expected):
    p = personas
    gone = make_user("gone")
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    names = {
        "key": cr.key, "stranger": p.outsider.username, "customer": p.customer.username,
        "gone": gone.username, "qa": p.qa.username, "developer": p.developer.username,
    }  # fmt: skip
    before = AuditEvent.objects.count()
    code, out, err = run_cli(*(a.format(**names) for a in args))
    assert code == 1 and out == ""
    assert expected in one_line(err) and err.count("\n") == 1
    assert assignee(cr) is None and AuditEvent.objects.count() == before


def test_usage_errors_exit_2(run_cli, cr):
    code, _out, err = run_cli("cr", "assign", cr.key)
    assert code == 2 and err.count("\n") == 1
    code, _out, err = run_cli("cr", "frobnicate", cr.key)
    assert code == 2
