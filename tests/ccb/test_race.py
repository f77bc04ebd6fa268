"""Simultaneous last votes under a configured board: the verdict is applied exactly once."""

from __future__ import annotations

import pytest

from changeflow.ccb import services as ccb
from changeflow.changes import services
from changeflow.core import audit
from changeflow.core.errors import InvalidTransition
from changeflow.core.models import AuditEvent
from tests.concurrency import run_together
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


def test_last_vote_racing_a_material_reset_is_consistent(personas):
    """A required member's last vote and a reset of the votes at the same moment: either the
    verdict was applied first (then nothing is reset: the CR left review) or the reset came
    first (then the vote is void or cast afresh after it); never a verdict on voided votes."""
    p = personas
    members = [{"username": u.username} for u in (p.pm, p.tech_lead, p.qa, p.customer_rep)]
    ccb.board_set(
        user=p.pm, project=p.project,
        data={"members": members, "required_roles": ["customer_rep"]},
    )  # fmt: skip
    cr = advance(make_cr(p.project, by=p.customer, type="feature", priority="P2"), p, "in_review")
    for user in (p.pm, p.tech_lead, p.qa):
        services.vote_cast(user=user, cr=fresh(cr, user), decision="approve", password=PASSWORD)

    def work(i):
        if i == 0:
            return services.vote_cast(
                user=p.customer_rep, cr=fresh(cr, p.customer_rep), decision="approve",
                password=PASSWORD,
            )  # fmt: skip
        return ccb.reset_votes(cr=fresh(cr, p.pm), reason="change set edited", by=p.pm)

    results = run_together(2, work)
    assert not any(isinstance(r, BaseException) for r in results), results
    state = fresh(cr, p.pm).state
    decided = AuditEvent.objects.filter(object_key=cr.key, action="cr.decided").count()
    resets = AuditEvent.objects.filter(object_key=cr.key, action="votes.reset").count()
    if state == "approved":
        assert decided == 1 and resets == 0 and results[1] == 0
    else:
        assert state == "in_review" and decided == 0 and resets == 1
    assert audit.verify().ok
