"""Links between change requests (``changes.links``): each kind and how it reads from both
sides, self-links, one link per pair, one original per duplicate, depends_on cycles, who may
link, cross-project visibility, mark as duplicate end to end, the start-implementation hold,
the analogy history, concurrent writers."""

from __future__ import annotations

import pytest

from changeflow.accounts import services as accounts
from changeflow.changes import links, services
from changeflow.changes.models import ChangeRequest, ChangeRequestLink
from changeflow.changes.workflow import Action
from changeflow.core import audit
from changeflow.core.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    ValidationError,
)
from changeflow.core.models import AuditEvent
from changeflow.notifications.models import Notification
from changeflow.notifications.services import notify_event
from tests.concurrency import run_together
from tests.factories import advance, fresh, make_cr, make_user

pytestmark = pytest.mark.django_db


def _cr(p, **kw):
    return make_cr(p.project, by=kw.pop("by", p.customer), submit=kw.pop("submit", True), **kw)


def _labels(p, cr, user=None):
    return [(r.label, r.other_key) for r in links.link_list(user=user or p.pm, cr=cr)]


@pytest.mark.parametrize(
    ("kind", "out", "inverse"),
    [
        ("duplicates", "duplicates", "is duplicated by"),
        ("relates_to", "relates to", "relates to"),
        ("depends_on", "depends on", "blocks"),
        ("replaces", "replaces", "is replaced by"),
    ],
)
def test_each_kind_reads_from_both_sides(personas, kind, out, inverse):
    p = personas
    a, b = _cr(p), _cr(p)
    link = links.link_create(user=p.tech_lead, cr=a, kind=kind, target=b.key, note="why")
    assert (link.from_cr_id, link.to_cr_id, link.kind, link.note) == (a.pk, b.pk, kind, "why")
    assert link.created_by == p.tech_lead
    assert _labels(p, a) == [(out, b.key)]
    assert _labels(p, b) == [(inverse, a.key)]
    event = AuditEvent.objects.filter(action="cr.linked", object_key=a.key).get()
    assert event.after == {"link": link.pk, "kind": kind, "source": a.key, "target": b.key,
                           "note": "why"}  # fmt: skip
    assert event.actor == p.tech_lead.username
    groups = links.grouped(links.link_list(user=p.pm, cr=b))
    assert [g["label"] for g in groups] == [inverse]


def test_groups_in_a_fixed_order_relates_to_in_one_group(personas):
    p = personas
    a, b, c, d, e = (_cr(p) for _ in range(5))
    links.link_create(user=p.pm, cr=a, kind="relates_to", target=b.key)
    links.link_create(user=p.pm, cr=c, kind="relates_to", target=a.key)
    links.link_create(user=p.pm, cr=d, kind="depends_on", target=a.key)
    links.link_create(user=p.pm, cr=a, kind="duplicates", target=e.key)
    groups = links.grouped(links.link_list(user=p.pm, cr=a))
    assert [(g["label"], [r.other_key for r in g["links"]]) for g in groups] == [
        ("duplicates", [e.key]),
        ("blocks", [d.key]),
        ("relates to", [b.key, c.key]),
    ]


def test_self_link_unknown_kind_long_note_missing_target_are_400(personas):
    p = personas
    a, b = _cr(p), _cr(p)
    for kw, field in (
        ({"kind": "relates_to", "target": a.key}, "target"),
        ({"kind": "blocks", "target": b.key}, "kind"),
        ({"kind": "relates_to", "target": b.key, "note": "x" * 2001}, "note"),
        ({"kind": "relates_to", "target": "  "}, "target"),
    ):
        with pytest.raises(ValidationError) as err:
            links.link_create(user=p.pm, cr=a, **kw)
        assert field in err.value.fields
    assert not ChangeRequestLink.objects.exists()
    assert not AuditEvent.objects.filter(action="cr.linked").exists()


def test_unknown_target_is_404(personas):
    p = personas
    a = _cr(p)
    with pytest.raises(NotFound):
        links.link_create(user=p.pm, cr=a, kind="relates_to", target="ACME-999")


def test_one_link_per_pair_whichever_way_and_kind(personas):
    p = personas
    a, b = _cr(p), _cr(p)
    links.link_create(user=p.pm, cr=a, kind="relates_to", target=b.key.lower())  # any case
    for source, target, kind in ((a, b, "relates_to"), (b, a, "relates_to"), (a, b, "depends_on"),
                                 (b, a, "duplicates")):  # fmt: skip
        with pytest.raises(Conflict) as err:
            links.link_create(user=p.pm, cr=source, kind=kind, target=target.key)
        assert err.value.code == "already_linked"
        assert f"{a.key} already relates to {b.key}" in str(err.value.message)
    assert ChangeRequestLink.objects.count() == 1


def test_a_change_request_duplicates_one_other(personas):
    p = personas
    a, b, c = _cr(p), _cr(p), _cr(p)
    links.link_create(user=p.pm, cr=a, kind="duplicates", target=b.key)
    with pytest.raises(Conflict) as err:
        links.link_create(user=p.pm, cr=a, kind="duplicates", target=c.key)
    assert err.value.code == "already_duplicate" and b.key in str(err.value.message)
    # Others may duplicate the same original, and the duplicate may relate to others.
    links.link_create(user=p.pm, cr=c, kind="duplicates", target=b.key)
    links.link_create(user=p.pm, cr=a, kind="relates_to", target=c.key)


def test_depends_on_cycles_are_refused_naming_the_cycle(personas):
    p = personas
    a, b, c = _cr(p), _cr(p), _cr(p)
    links.link_create(user=p.pm, cr=a, kind="depends_on", target=b.key)
    links.link_create(user=p.pm, cr=b, kind="depends_on", target=c.key)
    with pytest.raises(PreconditionFailed) as err:
        links.link_create(user=p.pm, cr=c, kind="depends_on", target=a.key)
    assert err.value.status == 422 and err.value.code == "dependency_cycle"
    assert f"{c.key} → {a.key} → {b.key} → {c.key}" in str(err.value.message)
    # Other kinds close no dependency cycle.
    links.link_create(user=p.pm, cr=c, kind="relates_to", target=a.key)
    assert ChangeRequestLink.objects.count() == 3


def test_who_may_link_follows_who_may_edit(personas):
    p = personas
    submitted = _cr(p)
    draft = _cr(p, submit=False)  # the customer's own draft
    other = _cr(p)
    for user in (p.pm, p.tech_lead, p.admin):
        assert links.may_link(user, submitted)
    for user in (p.qa, p.developer, p.customer_rep, p.viewer, p.customer):
        assert not links.may_link(user, submitted)
        with pytest.raises(PermissionDenied):
            links.link_create(user=user, cr=submitted, kind="relates_to", target=other.key)
    # Its requester, a customer, while it is a draft: as they may edit it.
    links.link_create(user=p.customer, cr=draft, kind="relates_to", target=other.key)
    with pytest.raises(NotFound):
        links.link_create(user=p.outsider, cr=submitted, kind="relates_to", target=other.key)
    # A withdrawn CR is final: no new links, none removed.
    link = links.link_create(user=p.pm, cr=submitted, kind="relates_to", target=draft.key)
    services.change_request_transition(user=p.pm, cr=fresh(submitted, p.pm), action="withdraw")
    with pytest.raises(PermissionDenied):
        links.link_create(user=p.pm, cr=fresh(submitted, p.pm), kind="replaces", target=other.key)
    with pytest.raises(PermissionDenied):
        links.link_delete(user=p.pm, link=link)


def test_unlink_deletes_the_row_and_audits_what_it_was(personas):
    p = personas
    a, b = _cr(p), _cr(p)
    link = links.link_create(user=p.tech_lead, cr=a, kind="depends_on", target=b.key, note="n")
    with pytest.raises(PermissionDenied):
        links.link_delete(user=p.developer, link=link)
    links.link_delete(user=p.pm, link=link)
    assert not ChangeRequestLink.objects.exists()
    event = AuditEvent.objects.filter(action="cr.unlinked", object_key=a.key).get()
    assert event.actor == p.pm.username
    assert event.before["kind"] == "depends_on" and event.before["target"] == b.key
    assert event.before["created_by"] == p.tech_lead.username and event.before["note"] == "n"
    assert event.after == {"link": None}
    assert audit.verify().ok
    # The CR's history shows both.
    from changeflow.changes import selectors

    actions = [e.action for e in selectors.history(user=p.customer, cr=a)]
    assert actions.count("cr.linked") == 1 and actions.count("cr.unlinked") == 1
    # ... and so does the other CR's: the same events, naming the same source and target.
    theirs = [e for e in selectors.history(user=p.customer, cr=b) if e.action in links.LINK_EVENTS]
    assert [e.action for e in theirs] == ["cr.linked", "cr.unlinked"]
    assert theirs[0].after["source"] == a.key and theirs[0].after["target"] == b.key
    assert theirs[1].before["source"] == a.key and theirs[1].project == b.project.key


def test_cross_project_links_only_to_what_the_user_can_see(personas):
    p = personas
    a = _cr(p)
    theirs = make_cr(p.other_project, by=p.outsider, submit=True)
    # The ACME manager cannot see OTHER: a 404, as reading it would be.
    with pytest.raises(NotFound):
        links.link_create(user=p.pm, cr=a, kind="relates_to", target=theirs.key)
    # Someone who manages both links them; each side shows it only to who sees both.
    both = make_user("both")
    accounts.membership_set(user=p.pm, project=p.project, username="both", role="tech_lead")
    accounts.membership_set(
        user=p.outsider, project=p.other_project, username="both", role="tech_lead"
    )
    link = links.link_create(user=both, cr=a, kind="depends_on", target=theirs.key)
    assert _labels(p, a, both) == [("depends on", theirs.key)]
    assert _labels(p, theirs, both) == [("blocks", a.key)]
    assert _labels(p, a, p.pm) == []
    assert _labels(p, theirs, p.outsider) == []
    for user, cr in ((p.pm, a), (p.outsider, theirs)):
        with pytest.raises(NotFound):
            links.link_get(user=user, cr=cr, pk=link.pk)
    assert links.link_get(user=both, cr=theirs, pk=link.pk) == link


def _approved(p):
    cr = advance(_cr(p, by=p.customer, submit=False), p, "approved")
    assert cr.state == "approved"
    return cr


def test_start_implementation_waits_for_what_it_depends_on(personas):
    p = personas
    cr = _approved(p)
    first, second = _cr(p), _cr(p)
    links.link_create(user=p.pm, cr=cr, kind="depends_on", target=first.key)
    links.link_create(user=p.pm, cr=cr, kind="depends_on", target=second.key)
    links.link_create(user=p.pm, cr=cr, kind="relates_to", target=_cr(p).key)  # no hold
    actions = services.available_actions(cr=fresh(cr, p.tech_lead), user=p.tech_lead)
    assert Action.START_IMPLEMENTATION not in actions
    with pytest.raises(PreconditionFailed) as err:
        services.change_request_transition(
            user=p.tech_lead, cr=fresh(cr, p.tech_lead), action="start_implementation"
        )
    assert err.value.status == 422 and err.value.code == "dependencies_open"
    assert f"{first.key}, {second.key}" in str(err.value.message)
    # Implemented (verifying or closed) dependencies hold it no longer; a removed link neither.
    ChangeRequest.objects.filter(pk=first.pk).update(state="verifying")
    with pytest.raises(PreconditionFailed) as err:
        services.change_request_transition(
            user=p.tech_lead, cr=fresh(cr, p.tech_lead), action="start_implementation"
        )
    assert first.key not in str(err.value.message) and second.key in str(err.value.message)
    links.link_delete(user=p.pm, link=ChangeRequestLink.objects.get(to_cr=second))
    cr = services.change_request_transition(
        user=p.tech_lead, cr=fresh(cr, p.tech_lead), action="start_implementation"
    )
    assert cr.state == "implementing"


def test_the_hold_names_only_what_the_user_can_see(personas):
    p = personas
    cr = _approved(p)
    theirs = make_cr(p.other_project, by=p.outsider, submit=True)
    accounts.membership_set(user=p.outsider, project=p.other_project,
                            username=p.pm.username, role="viewer")  # fmt: skip
    links.link_create(user=p.pm, cr=cr, kind="depends_on", target=theirs.key)
    with pytest.raises(PreconditionFailed) as err:
        services.change_request_transition(
            user=p.tech_lead, cr=fresh(cr, p.tech_lead), action="start_implementation"
        )
    assert theirs.key not in str(err.value.message)
    assert "1 you cannot see" in str(err.value.message)


def test_emergency_changes_are_exempt(personas):
    p = personas
    cr = _approved(p)
    services.change_request_update(user=p.pm, cr=fresh(cr, p.pm), data={"emergency": True})
    links.link_create(user=p.pm, cr=cr, kind="depends_on", target=_cr(p).key)
    cr = services.change_request_transition(
        user=p.tech_lead, cr=fresh(cr, p.tech_lead), action="start_implementation"
    )
    assert cr.state == "implementing"


def test_mark_duplicate_end_to_end(personas, django_capture_on_commit_callbacks):
    p = personas
    original = _cr(p, title="登录页面需要支持短信验证码")
    dup = _cr(p, title="短信验证码登录")
    with django_capture_on_commit_callbacks(execute=True):
        cr = links.mark_duplicate(user=p.pm, cr=fresh(dup, p.pm), original=original.key,
                                  note="同一需求")  # fmt: skip
    assert cr.state == "withdrawn"
    link = ChangeRequestLink.objects.get()
    assert (link.from_cr_id, link.to_cr_id, link.kind) == (dup.pk, original.pk, "duplicates")
    assert _labels(p, original) == [("is duplicated by", dup.key)]
    event = AuditEvent.objects.filter(action="cr.withdraw", object_key=dup.key).get()
    assert event.after["duplicate_of"] == original.key
    assert event.after["comment"].startswith(f"Duplicate of {original.key}: ")
    assert "同一需求" in event.after["comment"]
    assert dup.comments.get().body == event.after["comment"]
    # The requester (the customer) is told, with its own kind, once.
    notify_event(event)
    note = Notification.objects.get(user=p.customer, object_key=dup.key, kind="cr.duplicate")
    assert note.data["duplicate_of"] == original.key
    from changeflow.notifications import messages

    assert messages.headline(note.kind, note.data).endswith(
        f"closed {dup.key} as a duplicate of {original.key}"
    )
    assert not Notification.objects.filter(user=p.customer, object_key=dup.key,
                                           kind="cr.state_changed").exists()  # fmt: skip
    assert audit.verify().ok


def test_mark_duplicate_respects_the_workflow(personas):
    p = personas
    original, dup = _cr(p), _cr(p)
    # A tech lead may link, but not withdraw: refused, nothing written.
    with pytest.raises(PermissionDenied):
        links.mark_duplicate(user=p.tech_lead, cr=dup, original=original.key)
    with pytest.raises(PermissionDenied):
        links.mark_duplicate(user=p.viewer, cr=dup, original=original.key)
    with pytest.raises(NotFound):
        links.mark_duplicate(user=p.outsider, cr=dup, original=original.key)
    with pytest.raises(ValidationError):
        links.mark_duplicate(user=p.pm, cr=dup, original=dup.key)
    # Approved: past the withdraw exit.
    approved = _approved(p)
    with pytest.raises(InvalidTransition):
        links.mark_duplicate(user=p.pm, cr=approved, original=original.key)
    assert not ChangeRequestLink.objects.exists()
    assert fresh(dup, p.pm).state == "submitted"
    # Already linked as a duplicate by hand: marking withdraws it, the link stays one.
    links.link_create(user=p.pm, cr=dup, kind="duplicates", target=original.key)
    assert links.mark_duplicate(user=p.pm, cr=dup, original=original.key).state == "withdrawn"
    assert ChangeRequestLink.objects.count() == 1


def test_a_failed_withdraw_leaves_no_link(personas, monkeypatch):
    p = personas
    original, dup = _cr(p), _cr(p)

    def refuse(**kw):
        raise InvalidTransition("moved first")

    monkeypatch.setattr(services, "change_request_transition", refuse)
    with pytest.raises(InvalidTransition):
        links.mark_duplicate(user=p.pm, cr=dup, original=original.key)
    assert not ChangeRequestLink.objects.exists()
    assert not AuditEvent.objects.filter(action="cr.linked").exists()


def test_a_duplicate_is_no_past_change_in_the_analogy_history(personas):
    """Only closed CRs with actuals are analogues: one withdrawn as a duplicate never is,
    however like the CR being estimated it reads."""
    from changeflow.impact import selectors as impact

    p = personas
    text = "订单报表支持按门店筛选导出，导出 Excel 文件"
    past = advance(_cr(p, by=p.customer, submit=False, title="订单报表按门店导出",
                       description=text), p, "verifying")  # fmt: skip
    services.change_request_update(user=p.pm, cr=fresh(past, p.pm),
                                   data={"actual_effort_hours": "30"})  # fmt: skip
    services.change_request_transition(user=p.qa, cr=fresh(past, p.qa), action="verify")
    dup = _cr(p, title="订单报表按门店导出", description=text)
    links.mark_duplicate(user=p.pm, cr=fresh(dup, p.pm), original=past.key)
    query = _cr(p, title="订单报表按门店导出", description=text)
    result = impact.analogy_for(user=p.pm, cr=fresh(query, p.pm), k=5)
    keys = [a["key"] for a in result["analogues"]]
    assert past.key in keys and dup.key not in keys
    assert result["history"] == 1  # the one closed CR with actuals


@pytest.mark.django_db(transaction=True)
def test_two_writers_linking_the_same_pair_one_wins(personas):
    p = personas
    a, b = _cr(p), _cr(p)

    def work(i):
        kind = ("relates_to", "depends_on", "duplicates", "replaces")[i % 4]
        source, target = (a, b) if i % 2 else (b, a)
        return links.link_create(user=p.pm, cr=fresh(source, p.pm), kind=kind, target=target.key)

    results = run_together(4, work)
    winners = [r for r in results if isinstance(r, ChangeRequestLink)]
    errors = [r for r in results if not isinstance(r, ChangeRequestLink)]
    assert len(winners) == 1, results
    assert all(isinstance(e, Conflict) and e.status == 409 for e in errors), errors
    assert ChangeRequestLink.objects.count() == 1
    assert AuditEvent.objects.filter(action="cr.linked").count() == 2  # one in each CR
    assert audit.verify().ok


@pytest.mark.django_db(transaction=True)
def test_concurrent_dependencies_close_no_cycle(personas):
    """A → B and C → D exist; B → C and D → A added at once would close A → B → C → D → A:
    one of them is refused."""
    p = personas
    a, b, c, d = (_cr(p) for _ in range(4))
    links.link_create(user=p.pm, cr=a, kind="depends_on", target=b.key)
    links.link_create(user=p.pm, cr=c, kind="depends_on", target=d.key)
    pairs = [(b, c), (d, a)]

    def work(i):
        source, target = pairs[i]
        return links.link_create(user=p.pm, cr=fresh(source, p.pm), kind="depends_on",
                                 target=target.key)  # fmt: skip

    results = run_together(2, work)
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1, results
    assert isinstance(refused[0], PreconditionFailed), repr(refused[0])
    assert ChangeRequestLink.objects.count() == 3
