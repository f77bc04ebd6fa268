"""The CR's assignee over the API: set, clear, refused values, who may set it, the list
filter (``?assignee=<username>`` and ``me``), the audit entry and flat query counts."""

import pytest

from changeflow.changes import services
from changeflow.changes.models import ChangeRequest
from changeflow.core.models import AuditEvent
from tests.api.conftest import error_of, names
from tests.factories import fresh, make_cr

pytestmark = pytest.mark.django_db
URL = "/api/v1/change-requests/"


def patch(client, cr, data):
    return client.patch(f"{URL}{cr.key}/", data, format="json")


@pytest.mark.parametrize("who", ["pm", "tech_lead"])
def test_manager_or_tech_lead_sets_and_clears_the_assignee(personas, api, who):
    p = personas
    cr = make_cr(p.project, by=p.customer, submit=True)
    client = api(getattr(p, who))
    assert client.get(f"{URL}{cr.key}/").json()["assignee"] is None
    r = patch(client, cr, {"assignee": p.developer.username})
    assert r.status_code == 200, r.content
    assert r.json()["assignee"] == p.developer.username
    assert ChangeRequest.objects.get(pk=cr.pk).assignee == p.developer
    event = AuditEvent.objects.filter(action="cr.updated", object_key=cr.key).latest("seq")
    assert event.before == {"assignee": None}
    assert event.after == {"assignee": p.developer.username, "notify": [p.developer.username]}
    # Cleared with null (and with ""): audited, and nobody to notify.
    r = patch(client, cr, {"assignee": None})
    assert r.status_code == 200, r.content
    assert r.json()["assignee"] is None
    event = AuditEvent.objects.filter(action="cr.updated", object_key=cr.key).latest("seq")
    assert (event.before, event.after) == ({"assignee": p.developer.username}, {"assignee": None})
    assert ChangeRequest.objects.get(pk=cr.pk).assignee is None
    assert patch(client, cr, {"assignee": ""}).status_code == 200


@pytest.mark.parametrize("target", ["outsider", "viewer", "customer", "customer_rep", "nobody"])
def test_assignee_outside_the_team_is_400_naming_it(personas, api, target):
    p = personas
    cr = make_cr(p.project, by=p.customer, submit=True)
    name = "ghost" if target == "nobody" else getattr(p, target).username
    r = patch(api(p.pm), cr, {"assignee": name, "title": "changed too"})
    assert r.status_code == 400, r.content
    err = error_of(r)
    assert names(err, "assignee") and name in err["fields"]["assignee"][0]
    fresh = ChangeRequest.objects.get(pk=cr.pk)
    assert fresh.assignee_id is None and fresh.title != "changed too"  # nothing half-written


def test_assignee_that_is_not_text_is_400(personas, api):
    cr = make_cr(personas.project, by=personas.customer, submit=True)
    r = patch(api(personas.pm), cr, {"assignee": ["x"]})
    assert r.status_code == 400
    assert names(error_of(r), "assignee")


@pytest.mark.parametrize("who", ["developer", "qa", "customer", "customer_rep", "viewer"])
def test_other_roles_may_not_assign(personas, api, who):
    p = personas
    cr = make_cr(p.project, by=p.customer, submit=True)
    r = patch(api(getattr(p, who)), cr, {"assignee": p.developer.username})
    assert r.status_code == 403, r.content
    assert ChangeRequest.objects.get(pk=cr.pk).assignee_id is None


def test_requester_editing_a_draft_may_not_assign(personas, api):
    p = personas
    cr = make_cr(p.project, by=p.customer)  # a draft its requester may still edit
    r = patch(api(p.customer), cr, {"title": "ok", "assignee": p.developer.username})
    assert r.status_code == 403
    assert names(error_of(r), "assignee")


def test_outsider_is_404(personas, api):
    p = personas
    cr = make_cr(p.project, by=p.customer, submit=True)
    r = patch(api(p.outsider), cr, {"assignee": p.outsider.username})
    assert r.status_code == 404
    assert ChangeRequest.objects.get(pk=cr.pk).assignee_id is None


def test_admin_who_is_no_member_may_assign(personas, api):
    p = personas
    cr = make_cr(p.project, by=p.customer, submit=True)
    r = patch(api(p.admin), cr, {"assignee": p.qa.username})
    assert r.status_code == 200 and r.json()["assignee"] == p.qa.username


def listed(client, query: str) -> list[str]:
    """The keys the CR list answers ``client`` with ``query``."""
    r = client.get(URL + query)
    assert r.status_code == 200, r.content
    return [row["key"] for row in r.json()["results"]]


def test_list_filter_by_assignee_and_me(personas, api):
    p = personas
    mine = make_cr(p.project, by=p.customer, submit=True)
    theirs = make_cr(p.project, by=p.customer, submit=True)
    make_cr(p.project, by=p.customer, submit=True)  # nobody's
    patch(api(p.pm), mine, {"assignee": p.developer.username})
    patch(api(p.pm), theirs, {"assignee": p.tech_lead.username})
    dev = api(p.developer)
    assert listed(dev, "?assignee=me") == [mine.key]
    assert listed(dev, f"?assignee={p.tech_lead.username}") == [theirs.key]
    assert listed(dev, "?assignee=ghost") == []
    nobodys = set(listed(dev, "?assignee=none"))
    assert mine.key not in nobodys and theirs.key not in nobodys and len(nobodys) == 1
    rows = dev.get(URL).json()["results"]
    assert {r["key"]: r["assignee"] for r in rows}[mine.key] == p.developer.username
    assert api(p.outsider).get(URL + f"?assignee={p.developer.username}").json()["count"] == 0
    r = dev.get(URL + "?assignee=" + "x" * 151)
    assert r.status_code == 400 and names(error_of(r), "assignee")


def test_list_and_detail_query_counts_stay_flat_with_assignees(
    personas, api, django_assert_max_num_queries
):
    p = personas
    client = api(p.pm)
    for _ in range(3):
        make_cr(p.project, by=p.customer)
    client.get(URL)
    with django_assert_max_num_queries(4) as few:
        assert len(client.get(URL).json()["results"]) == 3
    baseline = len(few.captured_queries)
    people = [p.developer, p.qa, p.tech_lead, p.pm]
    for i in range(20):
        cr = make_cr(p.project, by=p.customer, submit=True)
        patch(client, cr, {"assignee": people[i % 4].username})
    with django_assert_max_num_queries(baseline + 1):
        rows = client.get(URL + "?page_size=50").json()["results"]
    assert len(rows) == 23 and sum(r["assignee"] is not None for r in rows) == 20
    plain = make_cr(p.project, by=p.customer)
    with django_assert_max_num_queries(50) as unassigned:
        client.get(f"{URL}{plain.key}/")
    detail = len(unassigned.captured_queries)
    assert detail > 0
    with django_assert_max_num_queries(detail):
        assert client.get(f"{URL}{cr.key}/").json()["assignee"] == people[3].username


def test_list_filter_open_and_finished(personas, api):
    p = personas
    open_cr = make_cr(p.project, by=p.customer, submit=True)
    gone = make_cr(p.project, by=p.customer, submit=True)
    services.change_request_transition(
        user=p.customer, cr=fresh(gone, p.customer), action="withdraw", comment="not needed"
    )
    client = api(p.pm)
    assert listed(client, "?open=true") == [open_cr.key]
    assert listed(client, "?open=false") == [gone.key]
    assert set(listed(client, "")) == {open_cr.key, gone.key}
    r = client.get(URL + "?open=maybe")
    assert r.status_code == 400 and names(error_of(r), "open")


def test_the_list_page_filters_open_and_unassigned(client, personas):
    p = personas
    open_cr = make_cr(p.project, by=p.customer, submit=True)
    gone = make_cr(p.project, by=p.customer, submit=True)
    services.change_request_transition(
        user=p.customer, cr=fresh(gone, p.customer), action="withdraw", comment="not needed"
    )
    taken = make_cr(p.project, by=p.customer, submit=True)
    services.change_request_update(
        user=p.pm, cr=fresh(taken, p.pm), data={"assignee": p.developer.username}
    )
    client.force_login(p.developer)
    page = f"/projects/{p.project.key}/"

    def shown(query):
        html = client.get(page + query).content.decode()
        return {cr.key for cr in (open_cr, gone, taken) if f">{cr.key}<" in html}

    assert shown("") == {open_cr.key, gone.key, taken.key}
    assert shown("?state=open") == {open_cr.key, taken.key}
    assert shown("?assignee=none") == {open_cr.key, gone.key}
    assert shown("?assignee=me") == {taken.key}
    assert shown("?state=open&assignee=none") == {open_cr.key}
    # The export takes the same filters.
    client.force_login(p.pm)
    csv = client.get(f"/projects/{p.project.key}/changes/export/?state=open&format=csv")
    body = b"".join(csv.streaming_content) if csv.streaming else csv.content
    assert open_cr.title.encode() in body and gone.title.encode() not in body
