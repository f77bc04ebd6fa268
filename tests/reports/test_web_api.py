"""Improvement action pages and API: allowed, forbidden, outsider; filters; versions; query
counts pinned on the lists."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from changeflow.core.models import AuditEvent
from changeflow.reports import actions
from changeflow.reports.models import ImprovementAction
from tests.api.conftest import error_of, names
from tests.factories import make_cr

pytestmark = pytest.mark.django_db
URL = "/api/v1/projects/ACME/improvement-actions/"


def _create(p, *, owner=None, days=20, **kw) -> ImprovementAction:
    return actions.improvement_create(
        user=p.pm, project=p.project, title=kw.pop("title", "评审检查单 / Review checklist"),
        owner=(owner or p.developer).username,
        due_date=timezone.localdate() + dt.timedelta(days=days), **kw,
    )  # fmt: skip


# ------------------------------------------------------------------ pages


def test_list_page_filters_sorts_and_marks_overdue(client, personas):
    p = personas
    later = _create(p, title="Later", days=30)
    late = _create(p, title="Late one", owner=p.qa, days=-2)
    client.force_login(p.developer)
    page = client.get("/projects/ACME/improvements/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.index(late.key) < html.index(later.key)  # by due date
    assert 'class="overdue"' in html
    assert "New improvement action" not in html  # a developer does not create
    only = client.get("/projects/ACME/improvements/?overdue=1").content.decode()
    assert late.key in only and later.key not in only
    mine = client.get(f"/projects/ACME/improvements/?owner={p.qa.username}").content.decode()
    assert late.key in mine and later.key not in mine
    status = client.get("/projects/ACME/improvements/?status=done").content.decode()
    assert late.key not in status and "No improvement action matches" in status
    # The project navigation links to it.
    assert 'href="/projects/ACME/improvements/"' in html


def test_list_page_queries_do_not_grow(client, personas, django_assert_max_num_queries):
    p = personas
    for n in range(3):
        _create(p, title=f"A{n}")
    client.force_login(p.pm)
    client.get("/projects/ACME/improvements/")
    with django_assert_max_num_queries(12) as few:
        client.get("/projects/ACME/improvements/")
    for n in range(12):
        _create(p, title=f"B{n}", owner=p.qa if n % 2 else p.tech_lead)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get("/projects/ACME/improvements/").status_code == 200


@pytest.mark.parametrize("who", ["customer", "customer_rep", "outsider"])
def test_pages_are_404_for_customers_and_outsiders(client, personas, who):
    p = personas
    action = _create(p)
    client.force_login(getattr(p, who))
    for path in ("", "new/", f"{action.key}/", f"{action.key}/edit/"):
        assert client.get(f"/projects/ACME/improvements/{path}").status_code == 404, path
    answer = client.post(f"/projects/ACME/improvements/{action.key}/transition/",
                         {"action": "cancel"})  # fmt: skip
    assert answer.status_code == 404
    assert ImprovementAction.objects.get(pk=action.pk).status == "open"
    # Nor is it named on the change request page or in the navigation.
    if who != "outsider":
        cr = make_cr(p.project, by=p.pm)
        actions.improvement_update(user=p.pm, action=action, data={"change_requests": [cr.key]})
        html = client.get(f"/changes/{cr.key}/").content.decode()
        assert action.key not in html and "/improvements/" not in html


def test_create_edit_and_detail_pages(client, personas):
    p = personas
    cr = make_cr(p.project, by=p.pm)
    client.force_login(p.tech_lead)
    form = client.get(f"/projects/ACME/improvements/new/?cr={cr.key}")
    assert form.status_code == 200 and cr.key in form.content.decode()
    bad = client.post("/projects/ACME/improvements/new/", {"title": "x", "owner": p.qa.username,
                                                          "change_requests": "ACME-999",
                                                          "due_date": "2027-01-10"})  # fmt: skip
    assert bad.status_code == 400 and "ACME-999" in bad.content.decode()
    answer = client.post(
        "/projects/ACME/improvements/new/",
        {"title": "接口清单", "owner": p.qa.username, "due_date": "2027-01-10",
         "description": "**必须**列出 <script>alert(1)</script>", "change_requests": cr.key},
    )  # fmt: skip
    action = ImprovementAction.objects.get()
    assert answer.status_code == 302 and answer["Location"].endswith(f"/{action.key}/")
    html = client.get(answer["Location"]).content.decode()
    assert "<strong>必须</strong>" in html and "<script>alert" not in html  # safe markdown
    assert "created the improvement action" in html  # the history
    edit = client.post(
        f"/projects/ACME/improvements/{action.key}/edit/",
        {"title": "接口清单 v2", "owner": p.developer.username, "due_date": "2027-01-20",
         "change_requests": cr.key, "version": "1"},
    )  # fmt: skip
    assert edit.status_code == 302
    stale = client.post(
        f"/projects/ACME/improvements/{action.key}/edit/",
        {"title": "lost", "owner": p.developer.username, "due_date": "2027-01-20",
         "version": "1"},
    )  # fmt: skip
    assert stale.status_code == 409
    action.refresh_from_db()
    assert (action.title, action.owner, action.version) == ("接口清单 v2", p.developer, 2)
    detail = client.get(f"/projects/ACME/improvements/{action.key}/").content.decode()
    assert "接口清单 v2" in detail and "edited" in detail
    # The change request's page lists the action that names it.
    cr_page = client.get(f"/changes/{cr.key}/").content.decode()
    assert action.key in cr_page


def test_owner_moves_own_action_on_the_page(client, personas):
    p = personas
    action = _create(p)
    client.force_login(p.qa)  # not the owner: reads only
    page = client.get(f"/projects/ACME/improvements/{action.key}/").content.decode()
    assert "Mark done" not in page
    assert client.get(f"/projects/ACME/improvements/{action.key}/edit/").status_code == 403
    refused = client.post(f"/projects/ACME/improvements/{action.key}/progress/",
                          {"progress": "50"})  # fmt: skip
    assert refused.status_code == 403
    client.force_login(p.developer)
    page = client.get(f"/projects/ACME/improvements/{action.key}/").content.decode()
    assert "Mark done" in page and ">Cancel</button>" not in page
    url = f"/projects/ACME/improvements/{action.key}/"
    assert client.post(url + "progress/", {"progress": "150"}).status_code == 400
    assert client.post(url + "progress/", {"progress": "60"}).status_code == 302
    missing = client.post(url + "transition/", {"action": "complete"})
    assert missing.status_code == 422 and "This field is required." in missing.content.decode()
    done = client.post(url + "transition/", {"action": "complete", "resolution": "Done: see X"})
    assert done.status_code == 302
    action.refresh_from_db()
    assert action.status == "done" and action.resolution == "Done: see X"
    assert "Done: see X" in client.get(url).content.decode()


# ------------------------------------------------------------------ API


def test_api_list_filters_and_queries(api, personas, django_assert_max_num_queries):
    p = personas
    cr = make_cr(p.project, by=p.pm)
    late = _create(p, days=-1, change_requests=[cr.key])
    _create(p, owner=p.qa)
    client = api(p.viewer)  # a viewer reads
    body = client.get(URL).json()
    assert body["count"] == 2
    assert body["results"][0]["key"] == late.key and body["results"][0]["overdue"] is True
    assert body["results"][0]["change_requests"] == [cr.key]
    assert [r["key"] for r in client.get(URL + "?overdue=true").json()["results"]] == [late.key]
    owned = client.get(URL + f"?owner={p.qa.username}").json()["results"]
    assert [r["owner"] for r in owned] == [p.qa.username]
    bad = client.get(URL + "?status=closed")
    assert bad.status_code == 400 and names(error_of(bad), "status")
    typo = client.get(URL + "?overdue=ture")  # not read as "absent": the whole list
    assert typo.status_code == 400 and names(error_of(typo), "overdue")
    assert client.get(URL + "?overdue=FALSE").status_code == 200
    with django_assert_max_num_queries(8) as few:
        client.get(URL)
    for n in range(10):
        _create(p, title=f"more {n}", change_requests=[cr.key])
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(URL).json()["count"] == 12


def test_api_create_roles_and_bad_input(api, personas):
    p = personas
    body = {"title": "检查单", "owner": p.qa.username, "due_date": "2027-01-10"}
    for who in (p.qa, p.developer, p.viewer):
        answer = api(who).post(URL, body, format="json")
        assert answer.status_code == 403, who
    for who in (p.customer, p.customer_rep, p.outsider):
        assert api(who).post(URL, body, format="json").status_code == 404
        assert api(who).get(URL).status_code == 404
    assert api(None).get(URL).status_code == 401
    assert not ImprovementAction.objects.exists()
    bad = api(p.pm).post(URL, {**body, "due_date": "soon"}, format="json")
    assert bad.status_code == 400 and names(error_of(bad), "due_date")
    bad = api(p.pm).post(URL, {**body, "owner": p.customer.username}, format="json")
    assert bad.status_code == 400 and names(error_of(bad), "owner")
    bad = api(p.pm).post(URL, {**body, "colour": "red"}, format="json")
    assert bad.status_code == 400 and names(error_of(bad), "colour")
    made = api(p.tech_lead).post(URL, body, format="json")
    assert made.status_code == 201, made.json()
    data = made.json()
    assert data["key"] == "ACME-I1" and data["status"] == "open" and made["ETag"] == '"1"'
    assert data["available_actions"] == ["start", "complete", "cancel"]


def test_api_patch_versions_and_transitions(api, personas):
    p = personas
    action = _create(p)
    url = f"{URL}{action.key}/"
    owner = api(p.developer)
    got = owner.get(url)
    assert got.status_code == 200 and got["ETag"] == '"1"'
    assert got.json()["available_actions"] == ["start", "complete"]
    assert owner.patch(url, {"progress": 20}, format="json", HTTP_IF_MATCH='"1"').status_code == 200
    stale_header = owner.patch(url, {"progress": 30}, format="json", HTTP_IF_MATCH='"1"')
    assert stale_header.status_code == 412
    stale_body = owner.patch(url, {"progress": 30, "version": 1}, format="json")
    assert stale_body.status_code == 409
    refused = owner.patch(url, {"title": "mine now"}, format="json")
    assert refused.status_code == 403 and names(error_of(refused), "title")
    assert api(p.qa).patch(url, {"progress": 90}, format="json").status_code == 403
    bad = owner.patch(url, {"progress": 101}, format="json")
    assert bad.status_code == 400 and names(error_of(bad), "progress")
    action.refresh_from_db()
    assert (action.progress, action.title, action.version) == (20, action.title, 2)

    moves = f"{url}transitions/"
    assert owner.get(moves).json() == {"actions": ["start", "complete"]}
    need = owner.post(moves, {"action": "complete"}, format="json")
    assert need.status_code == 422 and names(error_of(need), "resolution")
    assert owner.post(moves, {"action": "cancel"}, format="json").status_code == 403
    unknown = owner.post(moves, {"action": "finish"}, format="json")
    assert unknown.status_code == 400 and names(error_of(unknown), "action")
    done = owner.post(moves, {"action": "complete", "resolution": "Checklist in use since W49."},
                      format="json")  # fmt: skip
    assert done.status_code == 200 and done.json()["status"] == "done"
    again = owner.post(moves, {"action": "complete", "resolution": "x"}, format="json")
    assert again.status_code == 409 and error_of(again)["code"] == "invalid_transition"
    assert owner.post(moves, {"action": "reopen"}, format="json").status_code == 403
    reopened = api(p.pm).post(moves, {"action": "reopen", "version": 3}, format="json")
    assert reopened.status_code == 200 and reopened.json()["status"] == "open"
    assert list(
        AuditEvent.objects.filter(object_key=action.key).values_list("action", flat=True)
    ) == ["improvement.created", "improvement.updated", "improvement.complete",
          "improvement.reopen"]  # fmt: skip


def test_api_wrong_project_and_customers_get_404(api, personas):
    p = personas
    action = _create(p)
    theirs = actions.improvement_create(
        user=p.outsider, project=p.other_project, title="x", owner=p.outsider.username,
        due_date="2027-01-01",
    )  # fmt: skip
    pm = api(p.pm)
    assert pm.get(f"{URL}{theirs.key}/").status_code == 404  # another project's key
    assert pm.get(f"/api/v1/projects/OTHER/improvement-actions/{theirs.key}/").status_code == 404
    assert pm.get(f"{URL}ACME-I99/").status_code == 404
    for who in (p.customer, p.customer_rep, p.outsider):
        client = api(who)
        assert client.get(f"{URL}{action.key}/").status_code == 404
        assert (
            client.patch(f"{URL}{action.key}/", {"progress": 1}, format="json").status_code == 404
        )
        answer = client.post(f"{URL}{action.key}/transitions/", {"action": "cancel"}, format="json")
        assert answer.status_code == 404
    action.refresh_from_db()
    assert (action.status, action.version) == ("open", 1)
