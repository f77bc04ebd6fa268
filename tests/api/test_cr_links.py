"""``/api/v1/change-requests/{key}/links/``, ``.../links/{id}/`` and ``.../mark-duplicate/``;
the CR detail's ``links``: allowed, forbidden, outsider; errors in the API's shape."""

from __future__ import annotations

import pytest

from changeflow.changes import links
from changeflow.changes.models import ChangeRequestLink
from changeflow.core.models import AuditEvent
from tests.api.conftest import error_of
from tests.factories import make_cr

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(personas):
    p = personas
    return make_cr(p.project, by=p.customer, submit=True), make_cr(
        p.project, by=p.customer, submit=True
    )


def url(cr, rest: str = "links/") -> str:
    return f"/api/v1/change-requests/{cr.key}/{rest}"


def test_create_list_and_delete(api, personas, pair):
    p = personas
    a, b = pair
    r = api(p.tech_lead).post(url(a), {"kind": "depends_on", "target": b.key, "note": "n"},
                              format="json")  # fmt: skip
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["kind"] == "depends_on" and body["direction"] == "out"
    assert body["label"] == "depends on" and body["source"] == a.key and body["target"] == b.key
    assert body["other"] == {"key": b.key, "title": b.title, "state": "submitted"}
    assert body["note"] == "n" and body["created_by"] == p.tech_lead.username
    listing = api(p.customer).get(url(b)).json()
    assert listing["count"] == 1
    (row,) = listing["results"]
    assert (row["direction"], row["label"], row["other"]["key"]) == ("in", "blocks", a.key)
    detail = api(p.customer).get(f"/api/v1/change-requests/{a.key}/").json()
    assert [(x["label"], x["other"]["key"]) for x in detail["links"]] == [("depends on", b.key)]
    # Only who may edit the source removes it; anyone else is refused, nothing removed.
    for user, code in ((p.developer, 403), (p.viewer, 403), (p.customer, 403)):
        assert api(user).delete(url(a, f"links/{body['id']}/")).status_code == code
    assert api(p.outsider).delete(url(a, f"links/{body['id']}/")).status_code == 404
    assert api(p.pm).delete(url(b, f"links/{body['id']}/")).status_code == 204  # either side
    assert not ChangeRequestLink.objects.exists()
    assert api(p.pm).delete(url(a, f"links/{body['id']}/")).status_code == 404
    assert AuditEvent.objects.filter(action="cr.unlinked", object_key=a.key).count() == 1


def test_refused_before_the_body_is_read(api, personas, pair):
    p = personas
    a, _b = pair
    for user in (p.viewer, p.developer, p.qa, p.customer_rep, p.customer):
        assert api(user).post(url(a), {}, format="json").status_code == 403
        assert api(user).post(url(a, "mark-duplicate/"), {}, format="json").status_code == 403
    assert api(p.outsider).post(url(a), {}, format="json").status_code == 404
    assert api(p.outsider).get(url(a)).status_code == 404
    assert api(None).get(url(a)).status_code == 401
    assert not ChangeRequestLink.objects.exists()


def test_bad_input(api, personas, pair):
    p = personas
    a, b = pair
    client = api(p.pm)
    for body, status, field in (
        ({"kind": "blocks", "target": b.key}, 400, "kind"),
        ({"kind": "relates_to"}, 400, "target"),
        ({"kind": "relates_to", "target": a.key}, 400, "target"),
        ({"kind": "relates_to", "target": b.key, "colour": "red"}, 400, "colour"),
        ({"kind": "relates_to", "target": "ACME-999"}, 404, None),
    ):
        r = client.post(url(a), body, format="json")
        assert r.status_code == status, (body, r.content)
        err = error_of(r)
        if field:
            assert field in err["fields"]
    r = client.post(url(a), {"kind": "relates_to", "target": b.key}, format="json")
    assert r.status_code == 201
    r = client.post(url(b), {"kind": "depends_on", "target": a.key}, format="json")
    assert r.status_code == 409 and error_of(r)["code"] == "already_linked"


def test_cycle_is_a_422_naming_it(api, personas, pair):
    p = personas
    a, b = pair
    links.link_create(user=p.pm, cr=a, kind="depends_on", target=b.key)
    c = make_cr(p.project, by=p.customer, submit=True)
    links.link_create(user=p.pm, cr=b, kind="depends_on", target=c.key)
    r = api(p.pm).post(url(c), {"kind": "depends_on", "target": a.key}, format="json")
    assert r.status_code == 422
    err = error_of(r)
    assert err["code"] == "dependency_cycle"
    assert f"{c.key} → {a.key} → {b.key} → {c.key}" in err["message"]


def test_a_link_to_another_projects_cr_is_404_and_never_shown(api, personas, pair):
    p = personas
    a, _b = pair
    theirs = make_cr(p.other_project, by=p.outsider, submit=True)
    r = api(p.pm).post(url(a), {"kind": "relates_to", "target": theirs.key}, format="json")
    assert r.status_code == 404
    # Made by a site admin, who sees both: neither side's members see it.
    link = links.link_create(user=p.admin, cr=a, kind="relates_to", target=theirs.key)
    assert api(p.pm).get(url(a)).json()["count"] == 0
    assert api(p.pm).get(f"/api/v1/change-requests/{a.key}/").json()["links"] == []
    assert api(p.outsider).get(url(theirs)).json()["count"] == 0
    assert api(p.pm).delete(url(a, f"links/{link.pk}/")).status_code == 404
    assert api(p.admin).get(url(theirs)).json()["count"] == 1
    # Nor does the history name it to them (the audit event keeps it).
    history = api(p.pm).get(url(a, "history/")).content.decode()
    assert "cr.linked" in history and theirs.key not in history
    assert theirs.key in api(p.admin).get(url(a, "history/")).content.decode()


def test_another_projects_original_is_named_to_no_one_who_cannot_see_it(
    api, personas, pair, django_capture_on_commit_callbacks
):
    """A CR marked a duplicate of another project's CR: its comment and its requester's
    notification do not name the original, and neither side's audit trail names the other
    side's CR to its members (the stored events keep both; a site admin reads them whole)."""
    from changeflow.notifications.messages import headline
    from changeflow.notifications.models import Notification
    from changeflow.notifications.services import notify_event

    p = personas
    dup, _b = pair
    theirs = make_cr(p.other_project, by=p.outsider, submit=True, title="秘密项目的需求")
    with django_capture_on_commit_callbacks(execute=True):
        links.mark_duplicate(user=p.admin, cr=dup, original=theirs.key)
    event = AuditEvent.objects.get(action="cr.withdraw", object_key=dup.key)
    assert event.after["duplicate_of"] == theirs.key  # the record keeps the truth
    assert event.after["comment"] == "Duplicate of a change request of another project."
    notify_event(event)
    note = Notification.objects.get(user=p.customer, object_key=dup.key, kind="cr.duplicate")
    assert "duplicate_of" not in note.data
    assert headline(note.kind, note.data).endswith(
        f"closed {dup.key} as a duplicate of another project's request"
    )
    for reader, cr, other in ((p.customer, dup, theirs), (p.pm, dup, theirs),
                              (p.outsider, theirs, dup)):  # fmt: skip
        shown = api(reader).get(url(cr, "history/")).content.decode()
        assert "cr.linked" in shown, reader  # each side's history has the link ...
        assert other.key not in shown, reader  # ... and does not name the other side
    assert "秘密项目" not in api(p.customer).get(url(dup, "history/")).content.decode()
    page = api(p.pm).get("/api/v1/audit/", {"project": p.project.key}).json()
    assert theirs.key not in str(page["results"])
    redacted = {e["action"] for e in page["results"] if e["redacted"]}
    assert redacted == {"cr.linked", "cr.withdraw"}
    theirs_page = api(p.outsider).get("/api/v1/audit/", {"project": "OTHER"}).json()["results"]
    assert dup.key not in str(theirs_page) and any(e["redacted"] for e in theirs_page)
    full = api(p.admin).get("/api/v1/audit/", {"object": dup.key}).json()["results"]
    assert theirs.key in str(full) and not any(e["redacted"] for e in full)


def test_mark_duplicate(api, personas, pair):
    p = personas
    original, dup = pair
    r = api(p.pm).post(url(dup, "mark-duplicate/"), {"original": original.key}, format="json")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["state"] == "withdrawn"
    assert [(x["label"], x["other"]["key"]) for x in body["links"]] == [
        ("duplicates", original.key)
    ]
    r = api(p.pm).post(url(dup, "mark-duplicate/"), {"original": original.key}, format="json")
    assert r.status_code == 409  # withdrawn: final
    r = api(p.pm).post(url(original, "mark-duplicate/"), {"original": "ACME-999"}, format="json")
    assert r.status_code == 404


# The token with its user, the CR, the caller's role (may they remove a link), its links with
# the other CRs (one query: a list to page).
LIST_QUERIES = 4


def test_links_list_query_count(api, personas):
    """The same queries for a CR with one link as with eight."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    p = personas
    client = api(p.customer)
    counts = []
    for n in (1, 8):
        cr = make_cr(p.project, by=p.customer, submit=True)
        for _ in range(n):
            other = make_cr(p.project, by=p.customer, submit=True)
            links.link_create(user=p.pm, cr=cr, kind="relates_to", target=other.key)
        client.get(url(cr))
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url(cr)).json()["count"] == n
        counts.append(len(captured))
    assert counts == [LIST_QUERIES, LIST_QUERIES], [q["sql"] for q in captured.captured_queries]
