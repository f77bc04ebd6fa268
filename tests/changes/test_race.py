"""Concurrent writers on one CR: exactly one transition wins, a verdict is applied once
(threads and their database connections: ``tests.concurrency``)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from changeflow.changes import services
from changeflow.core import audit
from changeflow.core.errors import InvalidTransition
from changeflow.core.models import AuditEvent
from tests.concurrency import run_together
from tests.factories import PASSWORD, advance, fresh, make_cr

THREADS = 8

pytestmark = pytest.mark.django_db(transaction=True)


def test_settings_give_threads_a_shared_file_database():
    if connection.vendor == "sqlite":
        assert not connection.creation.is_in_memory_db(connection.settings_dict["NAME"])


def test_same_transition_from_many_threads_one_wins(personas):
    p = personas
    cr = make_cr(p.project, by=p.customer, submit=True, type="feature", priority="P2")
    before = AuditEvent.objects.filter(action="cr.triage", object_key=cr.key).count()

    def work(i):
        # each thread reads the CR itself, as a request would, then acts on it
        return services.change_request_transition(
            user=p.tech_lead if i % 2 else p.pm, cr=fresh(cr, p.pm), action="triage"
        )

    results = run_together(THREADS, work)
    errors = [r for r in results if isinstance(r, BaseException)]
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1, results
    assert len(errors) == THREADS - 1
    for exc in errors:
        assert isinstance(exc, InvalidTransition), repr(exc)
        assert exc.status == 409
    assert winners[0].state == "triaged"
    assert fresh(cr, p.pm).state == "triaged"
    assert fresh(cr, p.pm).version == cr.version + 1
    events = AuditEvent.objects.filter(action="cr.triage", object_key=cr.key).count()
    assert events - before == 1
    assert audit.verify().ok


def test_concurrent_different_transitions_stay_a_valid_sequence(personas):
    """withdraw (the requester), return and triage (staff) at once: a later one may still
    apply to the state an earlier one left, but the applied ones form one valid path and
    each has exactly one audit event."""
    p = personas
    cr = make_cr(p.project, by=p.customer, submit=True, type="feature", priority="P2")
    calls = [
        (p.customer, "withdraw", ""),
        (p.pm, "return", "need the SMS provider"),
        (p.tech_lead, "triage", ""),
        (p.tech_lead, "start_assessment", ""),
    ] * 2

    def work(i):
        user, action, comment = calls[i]
        return services.change_request_transition(
            user=user, cr=fresh(cr, user), action=action, comment=comment
        )

    results = run_together(len(calls), work)
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert winners, results
    assert all(isinstance(r, InvalidTransition) for r in losers), results
    events = list(
        AuditEvent.objects.filter(object_key=cr.key, action__startswith="cr.")
        .exclude(action="cr.created")
        .order_by("seq")
        .values_list("before", "after")
    )
    assert len(events) == len(winners)
    state = "submitted"
    for before, after in events:
        assert before["state"] == state
        state = after["state"]
    final = fresh(cr, p.pm)
    assert final.state == state
    assert final.version == cr.version + len(winners)
    # comments only for the "return"s that were applied
    returned = sum(1 for _b, a in events if a["state"] == "returned")
    assert final.comments.count() == returned
    assert audit.verify().ok


def test_concurrent_votes_apply_the_verdict_once(personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer, type="feature", priority="P2"), p, "in_review")
    voters = [p.pm, p.tech_lead, p.qa, p.customer_rep]  # all four eligible; 3 decide

    def work(i):
        user = voters[i]
        return services.vote_cast(
            user=user, cr=fresh(cr, user), decision="approve", password=PASSWORD
        )

    results = run_together(len(voters), work)
    ok = [r for r in results if not isinstance(r, BaseException)]
    errors = [r for r in results if isinstance(r, BaseException)]
    # The third vote decides; a vote arriving after the verdict finds nothing to vote on.
    assert all(isinstance(e, InvalidTransition) for e in errors), results
    assert len(ok) in (3, 4)
    verdicts = [tally.verdict for _vote, tally in ok if tally.verdict]
    assert verdicts == ["approve"] * len(verdicts) and len(verdicts) >= 1
    assert fresh(cr, p.pm).state == "approved"
    assert fresh(cr, p.pm).decision_mode == "board"
    assert AuditEvent.objects.filter(object_key=cr.key, action="cr.decided").count() == 1
    assert AuditEvent.objects.filter(object_key=cr.key, action="vote.cast").count() == len(ok)
    assert audit.verify().ok


def test_concurrent_creates_get_distinct_keys(personas):
    p = personas
    users = [p.pm, p.tech_lead, p.qa, p.developer, p.customer_rep, p.customer] + [p.pm] * 2

    def work(i):
        return make_cr(p.project, by=users[i], title=f"parallel {i}").key

    results = run_together(len(users), work)
    assert not [r for r in results if isinstance(r, BaseException)], results
    numbers = sorted(int(k.rsplit("-", 1)[1]) for k in results)
    assert numbers == list(range(numbers[0], numbers[0] + len(users)))
    assert audit.verify().ok


def test_concurrent_writers_keep_a_contiguous_chain_while_verify_runs(personas):
    """Writers append while readers verify: every verify sees an intact chain."""
    p = personas
    crs = [make_cr(p.project, by=p.pm) for _ in range(4)]
    stop = threading.Event()
    verify_results: list[audit.VerifyResult] = []

    def verifier() -> None:
        try:
            while not stop.is_set():
                verify_results.append(audit.verify())
        finally:
            connection.close()

    v = threading.Thread(target=verifier)
    v.start()
    try:

        def work(i):
            cr = crs[i % len(crs)]
            for n in range(5):
                services.comment_create(user=p.tech_lead, cr=cr, body=f"thread {i} note {n}")

        results = run_together(THREADS, work)
    finally:
        stop.set()
        v.join(timeout=60)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert verify_results, "the verifier never ran"
    broken = [r for r in verify_results if not r.ok]
    assert not broken, broken[0]
    result = audit.verify()
    assert result.ok
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert AuditEvent.objects.filter(action="comment.created").count() == THREADS * 5
