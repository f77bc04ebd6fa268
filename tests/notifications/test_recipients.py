"""Who is told what: requester, watchers, board, managers, mentions, notify lists; never the
actor; never a customer for an internal event; nobody who left the project."""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import transaction
from django.utils import translation

from changeflow.accounts import services as accounts
from changeflow.changes import services as cr_services
from changeflow.core import audit
from changeflow.notifications import services
from changeflow.notifications.models import EmailDelivery, Kind, Notification, Watch
from tests.factories import advance, complete_assessment, fresh, make_cr

pytestmark = pytest.mark.django_db


def told(kind=None):
    qs = Notification.objects.all()
    if kind:
        qs = qs.filter(kind=kind)
    return {(n.user.username, n.kind) for n in qs.select_related("user")}


def users(kind=None):
    return {u for u, _k in told(kind)}


def test_submitted_tells_managers_and_tech_leads_not_the_actor(p, live):

    with live():
        make_cr(p.project, by=p.customer, submit=True)
    assert told() == {(p.pm.username, Kind.CR_SUBMITTED), (p.tech_lead.username, Kind.CR_SUBMITTED)}


def test_review_asks_the_board_to_vote_and_tells_the_requester(p, live):

    cr = make_cr(p.project, by=p.customer)
    cr = advance(cr, p, "assessing")
    complete_assessment(cr, by=p.tech_lead)
    with live():
        cr_services.change_request_transition(
            user=p.tech_lead, cr=fresh(cr, p.tech_lead), action="request_review"
        )
    # The default board: PM, tech lead, QA, customer rep. The tech lead requested the review
    # but has not voted: asked like the others (the actor is left out of everything else).
    board = (p.pm, p.tech_lead, p.qa, p.customer_rep)
    assert users(Kind.VOTE_NEEDED) == {u.username for u in board}
    assert users(Kind.STATE_CHANGED) == {p.customer.username}
    # Vote-needed e-mails by default, state changes in the app only.
    assert sorted(m.to[0] for m in mail.outbox) == sorted(u.email for u in board)


def test_watchers_hear_of_state_changes(p, live):

    cr = make_cr(p.project, by=p.customer, submit=True, type="feature", priority="P2")
    services.watch_set(user=p.developer, cr=cr, watching=True)
    with live():
        cr_services.change_request_transition(
            user=p.tech_lead, cr=fresh(cr, p.tech_lead), action="triage"
        )
    assert told() == {(p.developer.username, Kind.STATE_CHANGED),
                      (p.customer.username, Kind.STATE_CHANGED)}  # fmt: skip


def test_internal_comment_never_reaches_customers_and_mentions_win(p, live):

    cr = make_cr(p.project, by=p.customer, submit=True)
    Watch.objects.create(user=p.customer_rep, change_request=cr)
    Watch.objects.create(user=p.qa, change_request=cr)
    with live():
        cr_services.comment_create(
            user=p.tech_lead, cr=fresh(cr, p.tech_lead), internal=True,
            body=f"cost note, ask @{p.customer.username} and @{p.developer.username}.",
        )  # fmt: skip
    assert told() == {(p.qa.username, Kind.COMMENTED), (p.developer.username, Kind.MENTIONED)}


def test_public_comment_tells_requester_and_mentioned(p, live):

    cr = make_cr(p.project, by=p.customer, submit=True)
    with live():
        cr_services.comment_create(user=p.pm, cr=fresh(cr, p.pm), body=f"@{p.qa.username} look")
    assert told() == {(p.customer.username, Kind.COMMENTED), (p.qa.username, Kind.MENTIONED)}


def test_notify_lists_and_lost_membership(p, live):

    accounts.membership_remove(user=p.pm, project=p.project, username=p.developer.username)
    with live(), transaction.atomic():
        audit.record(
            actor="system", action="sla.breached", object_type="project", object_key="ACME",
            project="ACME",
            after={"notify": [p.pm.username, p.developer.username, p.outsider.username],
                   "reason": "triage took 3 days", "title": "ACME-1 in triage"},
        )  # fmt: skip
    assert told() == {(p.pm.username, Kind.SLA_BREACHED)}
    assert EmailDelivery.objects.get().state == "sent"
    assert "triage took 3 days" in mail.outbox[0].body


def test_the_same_event_twice_tells_once(p, live):

    with live():
        make_cr(p.project, by=p.customer, submit=True)
    from changeflow.core.models import AuditEvent

    event = AuditEvent.objects.get(action="cr.created")
    assert services.notify_event(event) == []
    assert Notification.objects.count() == 2


def test_history_is_listed_read_with_no_email_or_webhook(p, live):
    from changeflow.notifications.models import HistoryMark

    with live():
        make_cr(p.project, by=p.customer, submit=True)
    Notification.objects.all().delete()
    services.history_mark(project=p.project)
    from changeflow.core.models import AuditEvent

    services.notify_event(AuditEvent.objects.get(action="cr.created"))
    assert HistoryMark.objects.exists()
    assert Notification.objects.count() == 2
    assert not Notification.objects.filter(read_at__isnull=True).exists()
    assert not EmailDelivery.objects.exists()


def test_the_new_assignee_is_told_and_then_hears_of_the_cr(p, live):
    cr = make_cr(p.project, by=p.customer, submit=True, type="feature", priority="P2")
    with live():
        cr_services.change_request_update(
            user=p.pm, cr=fresh(cr, p.pm), data={"assignee": p.developer.username}
        )
    assert told() == {(p.developer.username, Kind.ASSIGNED)}
    note = Notification.objects.get()
    assert note.data["key"] == cr.key
    assert [m.to for m in mail.outbox] == [[p.developer.email]]  # assignments e-mail by default
    assert cr.key in mail.outbox[0].subject + mail.outbox[0].body
    Notification.objects.all().delete()
    with live():
        cr_services.change_request_transition(
            user=p.tech_lead, cr=fresh(cr, p.tech_lead), action="triage"
        )
        cr_services.comment_create(user=p.pm, cr=fresh(cr, p.pm), body="please look")
    assert told() == {
        (p.developer.username, Kind.STATE_CHANGED), (p.customer.username, Kind.STATE_CHANGED),
        (p.developer.username, Kind.COMMENTED), (p.customer.username, Kind.COMMENTED),
    }  # fmt: skip


def test_clearing_or_taking_the_cr_oneself_tells_nobody(p, live):
    cr = make_cr(p.project, by=p.customer, submit=True)
    with live():
        cr_services.change_request_update(
            user=p.tech_lead, cr=fresh(cr, p.tech_lead), data={"assignee": p.tech_lead.username}
        )
        cr_services.change_request_update(
            user=p.tech_lead, cr=fresh(cr, p.tech_lead), data={"assignee": None}
        )
    assert told() == set()
    assert mail.outbox == []


def test_an_sla_breach_reaches_the_assignee(p, live):
    import datetime as dt

    from changeflow.changes.models import ChangeRequest
    from changeflow.comms import sla

    cr = make_cr(p.project, by=p.customer, submit=True, type="feature", priority="P1")
    cr_services.change_request_update(
        user=p.pm, cr=fresh(cr, p.pm), data={"assignee": p.qa.username}
    )
    Notification.objects.all().delete()
    entered = ChangeRequest.objects.get(pk=cr.pk).state_changed_at
    with live():
        sla.sla_check(now=entered + dt.timedelta(hours=5))  # P1 submitted: 4 h
    assert told() == {(p.qa.username, Kind.SLA_BREACHED)}


def test_a_low_outcome_rating_tells_the_managers_and_the_assignee(p, live):
    """A customer unhappy with a delivered change (1 or 2 of 5) is news for the team at once:
    the project managers and tech leads and whoever implemented it, by e-mail too; a good
    rating tells nobody, and neither does the customer's own rating tell the customer."""
    from changeflow.cases import services as cases
    from changeflow.changes.models import ChangeRequest
    from changeflow.notifications import messages
    from tests.cases.helpers import closed_cr

    cr = closed_cr(p)
    # Who implemented it (a closed CR's assignee cannot be changed any more).
    ChangeRequest.objects.filter(pk=cr.pk).update(assignee=p.developer)
    cr = fresh(cr, p.pm)
    Notification.objects.all().delete()
    mail.outbox.clear()
    with live():
        cases.rating_set(user=p.customer, cr=cr, score=4, comment="挺好")
    assert told() == set()
    with live():
        cases.rating_set(user=p.customer, cr=cr, score=2, comment="上线晚了两周")
    team = {p.pm.username, p.tech_lead.username, p.developer.username}
    assert told() == {(name, Kind.RATED_LOW) for name in team}
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        u.email for u in (p.pm, p.tech_lead, p.developer)
    )
    note = Notification.objects.filter(user=p.pm).get()
    assert note.data["score"] == 2 and note.data["excerpt"] == "上线晚了两周"
    name = p.customer.display_name or p.customer.username
    assert messages.headline(note.kind, note.data) == (
        f"{name} rated the outcome of {cr.key} 2 of 5"
    )
    assert messages.path(note.data) == f"/changes/{cr.key}/"
    with translation.override("zh-hans"):
        assert messages.headline(note.kind, note.data) == (
            f"{name} 给 {cr.key} 的成果评分 2 分（满分 5 分）"
        )
    # The customer rep's rating of 1: told again, each once more.
    with live():
        cases.rating_set(user=p.customer_rep, cr=cr, score=1)
    assert Notification.objects.filter(kind=Kind.RATED_LOW).count() == 6


def test_which_ratings_are_low():
    from changeflow.notifications import events

    for score, kind in ((1, Kind.RATED_LOW), (2, Kind.RATED_LOW), (3, None), (5, None)):
        for action in ("rating.created", "rating.changed"):
            assert events.kind_of(action, {"score": score, "comment": ""}) == kind
    assert events.kind_of("rating.created", {"score": "1"}) is None  # the audit stores an int
    assert Kind.RATED_LOW in events.WEBHOOK_KINDS  # a CR's event, as any other
