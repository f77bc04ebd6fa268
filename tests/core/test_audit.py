"""The hash-chained audit log: verify() finds any change, deletion or forgery."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from changeflow.changes import services
from changeflow.core import audit
from changeflow.core.models import AuditEvent
from tests.factories import make_cr

TRIGGER = "core_auditevent_append_only"


def sql(statement: str, params=()) -> None:
    with connection.cursor() as cur:
        cur.execute(statement, params)


class TriggerOff:
    """What a DBA with table rights would do before editing the log by hand."""

    def __enter__(self):
        if connection.vendor == "postgresql":
            sql(f"ALTER TABLE core_auditevent DISABLE TRIGGER {TRIGGER}")

    def __exit__(self, *exc):
        if connection.vendor == "postgresql":
            sql(f"ALTER TABLE core_auditevent ENABLE TRIGGER {TRIGGER}")


def some_events(p, n=4):
    cr = make_cr(p.project, by=p.customer, title="登录页面需要支持短信验证码")
    for i in range(n):
        services.comment_create(user=p.pm, cr=cr, body=f"note {i}")
    return list(AuditEvent.objects.order_by("seq"))


@pytest.mark.django_db
def test_intact_chain_verifies_with_decimals_dates_and_chinese(personas):
    p = personas
    cr = make_cr(p.project, by=p.customer, title="验证码", desired_date=dt.date(2030, 1, 2))
    with transaction.atomic():
        audit.record(
            actor=p.pm, action="test.values", object_type="change_request", object_key=cr.key,
            after={"cost": Decimal("12000.00"), "p": Decimal("0.300"),
                   "at": dt.datetime.now(dt.UTC), "set": {"b", "a"},
                   "nested": {"中文": [1, None, True]}},
        )  # fmt: skip
    result = audit.verify()
    assert result.ok, result
    assert result.events == AuditEvent.objects.count()
    assert result.head == AuditEvent.objects.order_by("-seq").first().hash


@pytest.mark.django_db(transaction=True)
def test_record_outside_a_transaction_raises(personas):
    with pytest.raises(RuntimeError):
        audit.record(actor="x", action="test", object_type="t", object_key="k")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("column", "value"),
    [("after", '{"state": "closed"}'), ("actor", "mallory"), ("action", "cr.nothing")],
)
def test_changing_one_row_is_found_and_named(personas, column, value):
    events = some_events(personas)
    target = events[2]
    with TriggerOff():
        sql(f"UPDATE core_auditevent SET {column} = %s WHERE id = %s", [value, target.id])  # noqa: S608
    result = audit.verify()
    assert not result.ok
    assert (result.broken_id, result.broken_seq) == (target.id, target.seq)
    assert result.as_dict()["broken_id"] == target.id


@pytest.mark.django_db(transaction=True)
def test_deleting_a_row_breaks_the_chain(personas):
    events = some_events(personas)
    with TriggerOff():
        sql("DELETE FROM core_auditevent WHERE id = %s", [events[3].id])
    result = audit.verify()
    assert not result.ok and result.broken_seq == events[4].seq


@pytest.mark.django_db(transaction=True)
def test_deleting_the_last_rows_breaks_the_chain(personas):
    events = some_events(personas)
    with TriggerOff():
        sql("DELETE FROM core_auditevent WHERE seq >= %s", [events[-2].seq])
    result = audit.verify()
    assert not result.ok and result.broken_seq == events[-2].seq


@pytest.mark.django_db(transaction=True)
def test_a_forged_replacement_row_breaks_the_chain(personas):
    """Replace event k by a forgery that is chained correctly to k-1: event k+1 no longer fits."""
    events = some_events(personas)
    k = events[2]
    payload = audit._payload(
        seq=k.seq, at=k.at, actor="mallory", action=k.action, object_type=k.object_type,
        object_key=k.object_key, project=k.project, before=k.before, after={"body": "forged"},
        channel=k.channel, ip=k.ip, internal=k.internal,
    )  # fmt: skip
    forged_hash = audit.compute_hash(k.prev_hash, payload)
    with TriggerOff():
        sql("DELETE FROM core_auditevent WHERE id = %s", [k.id])
        with transaction.atomic():
            AuditEvent.objects.create(
                seq=k.seq, at=k.at, actor="mallory", action=k.action, object_type=k.object_type,
                object_key=k.object_key, project=k.project, before=k.before,
                after={"body": "forged"}, channel=k.channel, ip=k.ip, internal=k.internal,
                prev_hash=k.prev_hash, hash=forged_hash,
            )  # fmt: skip
    result = audit.verify()
    assert not result.ok
    assert result.broken_seq == events[3].seq


@pytest.mark.django_db(transaction=True)
def test_an_inserted_row_breaks_the_chain(personas):
    events = some_events(personas)
    last = events[-1]
    with transaction.atomic():
        AuditEvent.objects.create(
            seq=last.seq + 1, at=last.at, actor="mallory", action="cr.approve",
            object_type="change_request", object_key=last.object_key, project=last.project,
            prev_hash="f" * 64, hash="e" * 64,
        )  # fmt: skip
    result = audit.verify()
    assert not result.ok and result.broken_seq == last.seq + 1


@pytest.mark.django_db
def test_postgresql_trigger_refuses_update_and_delete(personas):
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger exists on PostgreSQL only")
    event = some_events(personas, n=1)[0]
    for statement in (
        "UPDATE core_auditevent SET actor = 'mallory' WHERE id = %s",
        "DELETE FROM core_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            sql(statement, [event.id])
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(actor="mallory")
    assert AuditEvent.objects.get(pk=event.pk).actor == event.actor
    assert audit.verify().ok


@pytest.mark.django_db
def test_origin_is_recorded(personas):
    p = personas
    with audit.origin("api", "10.0.0.7"):
        cr = make_cr(p.project, by=p.pm)
    event = AuditEvent.objects.get(object_key=cr.key, action="cr.created")
    assert (event.channel, event.ip) == ("api", "10.0.0.7")
    assert audit.verify().ok


def test_audit_recorded_is_sent_after_commit_and_never_for_a_rollback(transactional_db, caplog):
    from tests.factories import make_personas

    p = make_personas()
    from changeflow.core.signals import audit_recorded

    seen: list[tuple[str, bool]] = []

    def listener(sender, event, **kwargs):
        seen.append((event.action, connection.in_atomic_block))

    def broken(sender, event, **kwargs):
        raise RuntimeError("receiver bug")

    audit_recorded.connect(listener)
    audit_recorded.connect(broken)
    try:
        cr = make_cr(p.project, by=p.customer)
        assert seen == [("cr.created", False)]  # after the commit, outside the transaction
        seen.clear()
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            services.comment_create(user=p.pm, cr=cr, body="rolled back")
            1 / 0  # noqa: B018
        assert seen == []
        services.comment_create(user=p.pm, cr=cr, body="kept")
        assert seen == [("comment.created", False)]
        assert "receiver bug" in caplog.text or "failed on event" in caplog.text
    finally:
        audit_recorded.disconnect(listener)
        audit_recorded.disconnect(broken)
