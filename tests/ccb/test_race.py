"""Simultaneous last votes under a configured board: the verdict is applied exactly once."""

from __future__ import annotations

import pytest

from changeflow.ccb import services as ccb
from changeflow.changes import services
from changeflow.core import audit
from changeflow.core.errors import InvalidTransition
from changeflow.core.models import AuditEvent
from tests.changes.test_race import run_together
from tests.factories import PASSWORD, advance, fresh, make_cr

pytestmark = pytest.mark.django_db(transaction=True)


def test_simultaneous_last_votes_under_a_weighted_veto_board(personas):
    p = personas
    members = [
        {"username": u.username, "role": r, "weight": w}
        for u, r, w in ((p.pm, "project_manager", 2), (p.tech_lead, "tech_lead", 1),
                        (p.qa, "qa", 1), (p.customer_rep, "customer_rep", 1),
                        (p.developer, "developer", 1))
    ]  # fmt: skip
    ccb.board_set(
        user=p.pm,
        project=p.project,
        data={"members": members, "rule": "weighted", "threshold": "0.5",
              "veto_roles": ["customer_rep"]},
    )  # fmt: skip
    cr = advance(make_cr(p.project, by=p.customer, type="feature", priority="P2"), p, "in_review")
    services.vote_cast(user=p.pm, cr=fresh(cr, p.pm), decision="approve", password=PASSWORD)
    last = [p.tech_lead, p.qa, p.customer_rep, p.developer]

    def work(i):
        user = last[i]
        return services.vote_cast(
            user=user, cr=fresh(cr, user), decision="approve", password=PASSWORD
        )

    results = run_together(len(last), work)
    ok = [r for r in results if not isinstance(r, BaseException)]
    errors = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(e, InvalidTransition) for e in errors), results
    assert [t.verdict for _v, t in ok if t.verdict] == ["approve"]
    assert fresh(cr, p.pm).state == "approved"
    assert AuditEvent.objects.filter(object_key=cr.key, action="cr.decided").count() == 1
    assert AuditEvent.objects.filter(object_key=cr.key, action="vote.cast").count() == len(ok) + 1
    assert audit.verify().ok
