"""``changeflow cr bulk KEY... --assign USER | ...``: through ``changes.bulk``, audited on the
cli channel; a refusal or a mistake is one line on stderr and exit 1, nothing changed."""

import pytest

from changeflow.changes.models import ChangeRequest
from changeflow.core.models import AuditEvent
from tests.cli.conftest import one_line
from tests.factories import make_cr

pytestmark = pytest.mark.django_db


@pytest.fixture
def crs(personas):
    return [make_cr(personas.project, by=personas.customer, submit=True) for _ in range(3)]


def test_each_operation(run_cli, personas, crs):
    p = personas
    keys = [c.key for c in crs]
    code, out, err = run_cli("cr", "bulk", *keys, "--assign", p.developer.username)
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "3 change requests updated"
    assert out.splitlines()[0] == f"{keys[0]}\tv2"
    assert ChangeRequest.objects.filter(assignee=p.developer).count() == 3
    event = AuditEvent.objects.filter(action="cr.updated", object_key=keys[0]).latest("seq")
    assert event.channel == "cli" and event.actor == p.pm.username  # the project's PM
    for args in (
        ("--priority", "P2"), ("--type", "feature"), ("--add-label", "release-3"),
        ("--remove-label", "release-3"), ("--unassign",), ("--action", "triage"),
        ("--action", "withdraw", "--comment", "duplicates"),
    ):  # fmt: skip
        code, out, err = run_cli("cr", "bulk", *(k.lower() for k in keys), *args,
                                 "--user", p.tech_lead.username if args[-1] == "triage"
                                 else p.pm.username)  # fmt: skip
        assert (code, err) == (0, ""), args
    got = ChangeRequest.objects.filter(pk__in=[c.pk for c in crs])
    assert {(c.priority, c.type, c.state, c.assignee_id) for c in got} == {
        ("P2", "feature", "withdrawn", None)
    }


def test_a_refusal_is_one_line_naming_each_cr_and_exit_1(run_cli, personas, crs):
    p = personas
    before = AuditEvent.objects.count()
    code, out, err = run_cli("cr", "bulk", crs[0].key, crs[1].key, "--action", "triage")
    assert code == 1 and out == ""
    line = one_line(err)
    assert "nothing was changed" in line
    assert f"{crs[0].key}: Set the type and the priority to triage." in line
    assert AuditEvent.objects.count() == before
    code, out, err = run_cli(
        "cr", "bulk", crs[0].key, "--priority", "P1", "--user", p.customer.username
    )
    assert code == 1 and "one by one" in one_line(err)


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (("cr", "bulk", "ACME-999", "--unassign"), 1, "unknown change request 'ACME-999'"),
        (("cr", "bulk", "{key}", "OTHER-1", "--unassign"), 1, "No such change request: OTHER-1"),
        (("cr", "bulk", "{key}", "--priority", "P9"), 1, "priority: One of: P1"),
        (("cr", "bulk", "{key}", "--action", "fly"), 1, "action: One of: submit"),
        (("cr", "bulk", "{key}", "--unassign", "--user", "ghost"), 1, "unknown user 'ghost'"),
        (("cr", "bulk", "{key}"), 2, "one of the arguments"),
        (("cr", "bulk", "{key}", "--unassign", "--priority", "P1"), 2, "not allowed with"),
    ],
)
def test_mistakes_are_one_line(run_cli, personas, crs, args, code, expected):
    before = AuditEvent.objects.count()
    got, out, err = run_cli(*(a.format(key=crs[0].key) for a in args))
    assert got == code and out == ""
    assert expected in err.strip().splitlines()[-1] and "Traceback" not in err
    if code == 1:
        one_line(err)
    assert AuditEvent.objects.count() == before
