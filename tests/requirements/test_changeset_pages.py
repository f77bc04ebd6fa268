"""The CR page's change-set panel and the change-set pages: allowed, forbidden, outsider."""

from __future__ import annotations

import pytest
from django.test import Client

from changeflow.requirements import changesets
from changeflow.requirements.models import ChangeSetEdit
from tests.factories import PASSWORD, advance, fresh, make_cr
from tests.requirements.helpers import make_req

READERS = ["pm", "tech_lead", "qa", "developer", "customer_rep", "customer", "viewer", "admin"]
NON_DRAFTERS = ["qa", "developer", "customer_rep", "customer", "viewer"]


def client_for(user) -> Client:
    c = Client()
    assert c.login(username=user.username, password=PASSWORD)
    return c


@pytest.fixture
def world(personas):
    p = personas
    r1 = make_req(p.project, by=p.pm, title="Export", text="Export the report as CSV")
    cr = advance(make_cr(p.project, by=p.customer, affected_requirements=[r1.key]), p, "assessing")
    fields = {"text": "Export the report as XLSX"}
    edit = changesets.edit_create(
        user=p.tech_lead, cr=fresh(cr, p.tech_lead), op="modify", requirement=r1.key, fields=fields
    )
    return p, r1, cr, edit


@pytest.mark.parametrize("who", READERS)
def test_cr_page_shows_the_redline_and_impact(world, who):
    p, r1, cr, _edit = world
    page = client_for(getattr(p, who)).get(f"/changes/{cr.key}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="change-set"' in html and "<del>CSV</del>" in html and "<ins>XLSX</ins>" in html
    assert 'id="impact"' in html and r1.key in html
    assert ("cs-modify-req" in html) == (who in ("pm", "tech_lead", "admin"))


def _change_set_requests(cr, r1, edit):
    """(method, url, data) of every change-set page and action of ``cr``."""
    return [
        ("get", f"/changes/{cr.key}/change-set/new/?op=add", None),
        ("post", f"/changes/{cr.key}/change-set/new/?op=add", {"title": "x"}),
        ("get", f"/changes/{cr.key}/change-set/{edit.pk}/", None),
        ("post", f"/changes/{cr.key}/change-set/{edit.pk}/delete/", {}),
        ("post", f"/changes/{cr.key}/change-set/remove/", {"requirement": r1.key}),
        ("get", f"/changes/{cr.key}/change-set/{edit.pk}/rebase/", None),
        ("post", f"/changes/{cr.key}/change-set/apply/", {}),
    ]


def test_outsider_gets_404_on_every_page(world):
    p, r1, cr, edit = world
    c = client_for(p.outsider)
    for method, url, data in _change_set_requests(cr, r1, edit):
        assert getattr(c, method)(url, data).status_code == 404, url
    assert ChangeSetEdit.objects.count() == 1


@pytest.mark.parametrize("who", NON_DRAFTERS)
def test_non_drafters_are_forbidden(world, who):
    p, r1, cr, edit = world
    c = client_for(getattr(p, who))
    for method, url, data in _change_set_requests(cr, r1, edit):
        assert getattr(c, method)(url, data).status_code == 403, url
    assert ChangeSetEdit.objects.count() == 1


def test_drafter_adds_changes_retires_and_takes_out(world):
    p, r1, cr, edit = world
    c = client_for(p.tech_lead)
    r2 = make_req(p.project, by=p.pm, title="Import")
    form = {"title": "登录", "text": "支持短信验证码", "kind": "user", "priority": "must",
            "status": "draft", "parent": ""}  # fmt: skip
    r = c.post(f"/changes/{cr.key}/change-set/new/?op=add", form)
    assert r.status_code == 302
    r = c.post(f"/changes/{cr.key}/change-set/remove/", {"requirement": r2.key})
    assert r.status_code == 302
    page = c.get(f"/changes/{cr.key}/change-set/new/?op=modify&requirement={r2.key}")
    assert page.status_code == 200 and "Import" in page.content.decode()
    assert set(ChangeSetEdit.objects.values_list("op", flat=True)) == {"add", "modify", "remove"}
    same = {**form, "title": "Export", "text": "", "kind": "functional", "priority": "should"}
    r = c.post(f"/changes/{cr.key}/change-set/{edit.pk}/", same)
    assert r.status_code == 302 and ChangeSetEdit.objects.get(pk=edit.pk).proposed == {"text": ""}
    r = c.post(f"/changes/{cr.key}/change-set/{edit.pk}/delete/")
    assert r.status_code == 302 and not ChangeSetEdit.objects.filter(pk=edit.pk).exists()
    bad = c.post(f"/changes/{cr.key}/change-set/new/?op=add", {**form, "title": ""})
    assert bad.status_code == 400


def test_edit_form_text_is_stored_with_lf_line_ends(world):
    """Browsers send a textarea's line breaks as CRLF; a proposed text is kept with LF, as the
    requirement forms keep it, so that the redline and the applied version compare lines."""
    p, r1, cr, edit = world
    c = client_for(p.tech_lead)
    form = {
        "title": "Export", "text": "Export the report as CSV\r\nand as XLSX\r",
        "kind": r1.kind, "priority": r1.priority, "status": r1.status, "parent": "",
    }  # fmt: skip
    r = c.post(f"/changes/{cr.key}/change-set/{edit.pk}/", form)
    assert r.status_code == 302
    assert ChangeSetEdit.objects.get(pk=edit.pk).proposed == {
        "text": "Export the report as CSV\nand as XLSX\n"
    }
    r = c.post(f"/changes/{cr.key}/change-set/new/?op=add", {**form, "title": "Import"})
    assert r.status_code == 302
    added = ChangeSetEdit.objects.get(change_request=cr, op="add")
    assert added.proposed["text"] == "Export the report as CSV\nand as XLSX\n"


def test_the_history_names_proposed_values_by_their_labels_in_the_readers_language(world):
    """A change-set edit's proposed values showed their keys and codes ("text: ...",
    "kind: functional") on the Chinese page too."""
    from django.utils import translation

    from changeflow.requirements.models import Kind, Requirement

    p, _r1, cr, _edit = world
    changesets.edit_create(user=p.tech_lead, cr=fresh(cr, p.tech_lead), op="add",
                           fields={"title": "Audit log", "kind": "non_functional"})  # fmt: skip
    html = (
        client_for(p.pm)
        .get(f"/changes/{cr.key}/", headers={"Accept-Language": "zh-hans"})
        .content.decode()
    )
    with translation.override("zh-hans"):
        text = str(Requirement._meta.get_field("text").verbose_name)
        kind = str(Requirement._meta.get_field("kind").verbose_name)
        non_functional = str(Kind.NON_FUNCTIONAL.label)
    assert f"{text}: Export the report as XLSX" in html
    assert f"{kind}: {non_functional}" in html
    assert "text: Export" not in html and "non_functional" not in html
