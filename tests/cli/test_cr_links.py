"""``changeflow cr link KEY KIND OTHER [--note]`` / ``cr unlink KEY OTHER`` / ``cr links KEY``:
through ``changes.links`` (audited on the cli channel); mistakes are one line on stderr."""

import pytest

from changeflow.changes.models import ChangeRequestLink
from changeflow.core.models import AuditEvent
from tests.cli.conftest import one_line
from tests.factories import make_cr

pytestmark = pytest.mark.django_db


def test_link_list_unlink(run_cli, personas):
    p = personas
    a, b = (make_cr(p.project, by=p.customer, submit=True) for _ in range(2))
    code, out, err = run_cli("cr", "link", a.key, "depends_on", b.key.lower(), "--note", "API")
    assert (code, err) == (0, "") and out.strip() == f"{a.key} depends on {b.key}"
    events = AuditEvent.objects.filter(action="cr.linked").order_by("seq")
    assert [e.object_key for e in events] == [a.key, b.key]  # in both CRs' histories
    assert {(e.channel, e.actor) for e in events} == {("cli", p.pm.username)}
    code, out, err = run_cli("cr", "links", b.key)
    assert code == 0
    (line,) = out.strip().splitlines()
    assert line.split("\t")[1:4] == ["blocks", a.key, "submitted"] and line.endswith("(API)")
    code, out, err = run_cli("cr", "unlink", b.key, a.key)  # from either side
    assert (code, err) == (0, "") and "removed" in out
    assert not ChangeRequestLink.objects.exists()


def test_mistakes_are_one_line(run_cli, personas):
    p = personas
    a, b = (make_cr(p.project, by=p.customer, submit=True) for _ in range(2))
    for args, words in (
        (("cr", "link", a.key, "relates_to", a.key), "itself"),
        (("cr", "link", a.key, "relates_to", "ACME-999"), "No such change request"),
        (("cr", "link", "ACME-999", "relates_to", a.key), "unknown change request"),
        (("cr", "unlink", a.key, b.key), "has no link"),
        (("cr", "link", a.key, "relates_to", b.key, "--user", p.developer.username), "may not"),
    ):
        code, out, err = run_cli(*args)
        assert code == 1, (args, out, err)
        assert words in one_line(err), err
    code, out, err = run_cli("cr", "link", a.key, "blocks", b.key)
    assert code == 2 and "invalid choice" in err
    assert not ChangeRequestLink.objects.exists()
