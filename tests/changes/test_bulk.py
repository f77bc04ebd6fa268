"""Bulk changes (``changes.bulk``): each operation through the single-edit services, all or
nothing, rights per role, the limit, and two bulk requests at once."""

from __future__ import annotations

import pytest

from changeflow.changes.bulk import BulkOperation, BulkRefused, change_request_bulk
from changeflow.changes.models import ChangeRequest, Comment
from changeflow.core import audit
from changeflow.core.errors import NotFound, PermissionDenied, TooLarge, ValidationError
from changeflow.core.models import AuditEvent
from changeflow.notifications.models import Notification
from tests.concurrency import run_together
from tests.factories import make_cr

pytestmark = pytest.mark.django_db


def op(**data) -> BulkOperation:
    return BulkOperation.parse(data)


def crs(p, n=3, **fields):
    fields.setdefault("submit", True)
    return [make_cr(p.project, by=p.customer, **fields) for _ in range(n)]


def keys(items):
    return [cr.key for cr in items]


def reread(items):
    return list(
        ChangeRequest.objects.select_related("assignee").filter(pk__in=[c.pk for c in items])
    )


def test_assign_and_unassign_each_through_the_update_service(
    personas, django_capture_on_commit_callbacks
):
    p = personas
    items = crs(p)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        done = change_request_bulk(
            user=p.tech_lead, keys=keys(items),
            operation=op(operation="assign", assignee="developer_acme"),
        )  # fmt: skip
    assert callbacks  # the notifications leave once the transaction commits
    assert [c.key for c in done] == keys(items)
    assert all(c.version == 2 for c in done)
    assert {c.assignee.username for c in reread(items)} == {p.developer.username}
    events = AuditEvent.objects.filter(action="cr.updated", object_key__in=keys(items))
    assert events.count() == 3
    assert all(e.actor == p.tech_lead.username for e in events)
    assert all(e.after["notify"] == [p.developer.username] for e in events)
    assert Notification.objects.filter(user=p.developer, event__action="cr.updated").count() == 3
    change_request_bulk(user=p.pm, keys=keys(items), operation=op(operation="unassign"))
    assert {c.assignee for c in reread(items)} == {None}


def test_priority_type_and_labels(personas):
    p = personas
    items = crs(p, labels=["web"])
    change_request_bulk(
        user=p.pm, keys=keys(items), operation=op(operation="priority", priority="P1")
    )
    change_request_bulk(user=p.pm, keys=keys(items), operation=op(operation="type", type="defect"))
    change_request_bulk(
        user=p.pm, keys=keys(items), operation=op(operation="add_label", label=" release-3 ")
    )
    got = reread(items)
    assert {(c.priority, c.type) for c in got} == {("P1", "defect")}
    assert all(c.labels == ["release-3", "web"] for c in got)
    change_request_bulk(
        user=p.pm, keys=keys(items), operation=op(operation="remove_label", label="web")
    )
    assert all(c.labels == ["release-3"] for c in reread(items))
    # Adding a label a CR has already changes nothing on it (no version, no event).
    before = AuditEvent.objects.count()
    done = change_request_bulk(
        user=p.pm, keys=keys(items), operation=op(operation="add_label", label="release-3")
    )
    assert AuditEvent.objects.count() == before and {c.version for c in done} == {5}


def test_workflow_actions_with_their_comment(personas):
    p = personas
    items = crs(p, type="feature", priority="P2")
    change_request_bulk(
        user=p.tech_lead, keys=keys(items), operation=op(operation="action", action="triage")
    )
    assert {c.state for c in reread(items)} == {"triaged"}
    change_request_bulk(
        user=p.pm, keys=keys(items),
        operation=op(operation="action", action="withdraw", comment="Duplicates of ACME-1"),
    )  # fmt: skip
    assert {c.state for c in reread(items)} == {"withdrawn"}
    assert (
        Comment.objects.filter(change_request__in=items, body="Duplicates of ACME-1").count() == 3
    )
    assert AuditEvent.objects.filter(action="cr.withdraw", object_key__in=keys(items)).count() == 3
    assert audit.verify().ok


def test_a_refused_mix_writes_nothing_and_names_each_refused_cr(
    personas, django_capture_on_commit_callbacks
):
    p = personas
    ready = crs(p, 2, type="feature", priority="P2")
    unclassified = crs(p, 1)  # triage needs the type and the priority
    draft = make_cr(p.project, by=p.customer)  # a draft is not triaged
    everything = [*ready, *unclassified, draft]
    before = (AuditEvent.objects.count(), Comment.objects.count())
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(BulkRefused) as caught:
        change_request_bulk(
            user=p.pm, keys=keys(everything), operation=op(operation="action", action="triage")
        )
    assert callbacks == []  # nothing announced
    assert caught.value.status == 422
    assert set(caught.value.refusals) == {unclassified[0].key, draft.key}
    assert "type and the priority" in caught.value.refusals[unclassified[0].key]
    assert "current state" in caught.value.refusals[draft.key]
    assert (AuditEvent.objects.count(), Comment.objects.count()) == before
    assert {c.state for c in reread(ready)} == {"submitted"}
    # A return needs its comment: every CR is refused, nothing written.
    with pytest.raises(BulkRefused) as caught:
        change_request_bulk(
            user=p.pm, keys=keys(ready), operation=op(operation="action", action="return")
        )
    assert set(caught.value.refusals) == set(keys(ready))
    assert AuditEvent.objects.count() == before[0]


def test_assignee_must_be_a_team_member_of_the_project(personas):
    p = personas
    items = crs(p, 2)
    for name in (p.customer.username, p.outsider.username, "nobody"):
        with pytest.raises(BulkRefused) as caught:
            change_request_bulk(
                user=p.pm, keys=keys(items), operation=op(operation="assign", assignee=name)
            )
        assert set(caught.value.refusals) == set(keys(items))
        assert "not a member" in caught.value.refusals[items[0].key]
    assert {c.assignee for c in reread(items)} == {None}


def test_a_developer_is_refused_per_cr_what_the_single_edit_refuses(personas):
    p = personas
    items = crs(p, 2)
    before = AuditEvent.objects.count()
    with pytest.raises(BulkRefused) as caught:
        change_request_bulk(
            user=p.developer, keys=keys(items), operation=op(operation="priority", priority="P1")
        )
    assert set(caught.value.refusals) == set(keys(items))
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize("role", ["customer", "customer_rep", "viewer"])
def test_customers_and_viewers_are_forbidden(personas, role):
    p = personas
    items = crs(p, 2)
    with pytest.raises(PermissionDenied):
        change_request_bulk(
            user=p.by_role[role],
            keys=keys(items),
            operation=op(operation="action", action="withdraw"),
        )
    assert {c.state for c in reread(items)} == {"submitted"}


def test_an_outsider_and_unknown_keys_are_not_found_naming_only_what_was_sent(personas):
    p = personas
    items = crs(p, 2)
    with pytest.raises(NotFound) as caught:
        change_request_bulk(user=p.outsider, keys=keys(items), operation=op(operation="unassign"))
    assert caught.value.status == 404
    assert caught.value.fields == {"keys": keys(items)}
    theirs = make_cr(p.other_project, by=p.outsider)
    with pytest.raises(NotFound) as caught:
        change_request_bulk(
            user=p.pm,
            keys=[*keys(items), theirs.key, "ACME-999"],
            operation=op(operation="unassign"),
        )
    assert caught.value.fields == {"keys": [theirs.key, "ACME-999"]}
    # Another project's key, when the request is about one project, even for a site admin.
    with pytest.raises(NotFound):
        change_request_bulk(
            user=p.admin, keys=[items[0].key, theirs.key], operation=op(operation="unassign"),
            project=p.project,
        )  # fmt: skip


def test_duplicated_keys_are_taken_once_and_any_case(personas):
    p = personas
    items = crs(p, 2)
    sent = [items[0].key, items[0].key.lower(), items[1].key, f" {items[1].key} "]
    done = change_request_bulk(
        user=p.pm, keys=sent, operation=op(operation="priority", priority="P3")
    )
    assert [c.key for c in done] == keys(items)
    assert AuditEvent.objects.filter(action="cr.updated", object_key__in=keys(items)).count() == 2


def test_the_limit(personas, settings):
    p = personas
    settings.CHANGEFLOW_BULK_MAX = 2
    items = crs(p, 3)
    with pytest.raises(TooLarge) as caught:
        change_request_bulk(user=p.pm, keys=keys(items), operation=op(operation="unassign"))
    assert caught.value.status == 413 and "CHANGEFLOW_BULK_MAX" in str(caught.value.message)
    change_request_bulk(user=p.pm, keys=keys(items[:2]) * 2, operation=op(operation="unassign"))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "operation"),
        ({"operation": "explode"}, "operation"),
        ({"operation": "assign"}, "assignee"),
        ({"operation": "assign", "assignee": "  "}, "assignee"),
        ({"operation": "priority", "priority": "P9"}, "priority"),
        ({"operation": "type", "type": "bug"}, "type"),
        ({"operation": "add_label", "label": "x" * 51}, "label"),
        ({"operation": "remove_label"}, "label"),
        ({"operation": "action", "action": "ratify"}, "action"),
        ({"operation": "action", "action": "fly"}, "action"),
        ({"operation": "action", "action": "withdraw", "comment": "x" * 100_001}, "comment"),
    ],
)
def test_bad_operations_name_their_field(data, field):
    with pytest.raises(ValidationError) as caught:
        BulkOperation.parse(data)
    assert list(caught.value.fields) == [field]


@pytest.mark.parametrize("sent", [[], ["  "], "ACME-1", None, [1, 2]])
def test_bad_keys(personas, sent):
    with pytest.raises(ValidationError) as caught:
        change_request_bulk(user=personas.pm, keys=sent, operation=op(operation="unassign"))
    assert list(caught.value.fields) == ["keys"]


@pytest.mark.django_db(transaction=True)
def test_two_bulk_requests_at_once_never_half_apply(personas):
    """Two bulk triages and a bulk withdraw of overlapping CRs, sent in different orders: each
    either applies to all its CRs or to none; every CR is triaged once at most."""
    p = personas
    items = crs(p, 6, type="feature", priority="P2")
    ks = keys(items)
    requests = [
        (p.tech_lead, list(reversed(ks)), op(operation="action", action="triage")),
        (p.pm, ks, op(operation="action", action="triage")),
        (p.pm, ks[::2], op(operation="action", action="withdraw", comment="duplicates")),
    ]

    def work(i):
        user, sent, operation = requests[i]
        return change_request_bulk(user=user, keys=sent, operation=operation)

    results = run_together(len(requests), work)
    done = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert done, results
    assert refused, results  # the two triages cover the same CRs: one at most applies
    assert all(isinstance(r, BulkRefused) for r in refused), results
    triages = AuditEvent.objects.filter(action="cr.triage", object_key__in=ks)
    withdrawals = AuditEvent.objects.filter(action="cr.withdraw", object_key__in=ks)
    assert triages.values("object_key").distinct().count() == triages.count()
    # All or nothing per request: a request's CRs all moved, or none of them did.
    assert triages.count() in (0, 6)
    assert withdrawals.count() in (0, 3)
    assert triages.count() == 6 or withdrawals.count() == 3
    states = {c.key: c.state for c in reread(items)}
    if triages.count() == 6 and withdrawals.count() == 3:  # the withdraw came after the triage
        assert sorted(states.values()) == ["triaged"] * 3 + ["withdrawn"] * 3
    assert audit.verify().ok
