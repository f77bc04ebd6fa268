"""Change sets: drafting, redlines, apply (atomic, once), stale edits and rebase, the baseline
made on close, impact snapshots and conflicts — through the services and the API."""

from __future__ import annotations

import re

import pytest

from changeflow.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from changeflow.core.models import AuditEvent
from changeflow.requirements import changesets, cr_selectors, services
from changeflow.requirements.models import (
    Baseline,
    ChangeSetEdit,
    ImpactSnapshot,
    Requirement,
    RequirementVersion,
    TraceLink,
)
from tests.api.conftest import error_of
from tests.factories import PASSWORD, advance, complete_assessment, fresh, make_cr
from tests.requirements.helpers import make_baseline, make_req

READERS = ["pm", "tech_lead", "qa", "developer", "customer_rep", "customer", "viewer", "admin"]
DRAFTERS = ["pm", "tech_lead", "admin"]
NON_DRAFTERS = ["qa", "developer", "customer_rep", "customer", "viewer"]


@pytest.fixture
def world(personas):
    """Two baselined requirements (R2 under R1), a test verifying R1, and a CR in assessing
    that declares R1."""
    p = personas
    r1 = make_req(p.project, by=p.pm, title="登录", text="登录页面需要支持短信验证码")
    r2 = make_req(
        p.project, by=p.pm, title="Export", text="Export the report as CSV", parent=r1.key
    )
    test = services.artifact_create(user=p.pm, project=p.project, kind="test", title="登录测试")
    link = services.link_create(user=p.pm, project=p.project, source=test.key, target=r1.key,
                                kind="verifies")  # fmt: skip
    make_baseline(p.project, by=p.pm, name="R1")
    cr = make_cr(p.project, by=p.customer, affected_requirements=[r1.key])
    cr = advance(cr, p, "assessing")
    return p, r1, r2, test, link, cr


def draft(p, cr, **kw):
    return changesets.edit_create(user=p.tech_lead, cr=fresh(cr, p.tech_lead), **kw)


def implementing(p, cr):
    """Take ``cr`` on to implementing: from draft along the main path, or from assessing."""
    from changeflow.changes import services as cs

    cr = fresh(cr, p.pm)
    if cr.state == "draft":
        return advance(cr, p, "implementing")
    if cr.state == "assessing":
        complete_assessment(cr, by=p.tech_lead)
        cr = cs.change_request_transition(user=p.tech_lead, cr=fresh(cr, p.tech_lead),
                                          action="request_review")  # fmt: skip
    for voter in (p.pm, p.qa, p.customer_rep):
        cs.vote_cast(user=voter, cr=fresh(cr, voter), decision="approve", password=PASSWORD)
    return cs.change_request_transition(user=p.tech_lead, cr=fresh(cr, p.tech_lead),
                                        action="start_implementation")  # fmt: skip


def close(p, cr):
    from changeflow.changes import services as cs

    cr = cs.change_request_transition(user=p.developer, cr=fresh(cr, p.developer),
                                      action="submit_verification")  # fmt: skip
    cs.change_request_update(user=p.developer, cr=cr, data={"actual_effort_hours": "38"})
    return cs.change_request_transition(user=p.qa, cr=fresh(cr, p.qa), action="verify")


# ---------------------------------------------------------------- drafting and redline


def test_draft_modify_shows_field_by_field_redline(world):
    p, r1, r2, *_rest, cr = world
    fields = {"text": "登录页面需要支持邮箱验证码", "priority": "must", "title": "登录"}
    draft(p, cr, op="modify", requirement=r1.key, fields=fields)
    draft(p, cr, op="modify", requirement=r2.key, fields={"text": "Export the report as XLSX"})
    got = cr_selectors.change_set_get(user=p.customer, cr=cr)
    e1, e2 = got["edits"]
    assert [c["field"] for c in e1["changes"]] == ["text", "priority"]  # title unchanged: dropped
    text = e1["changes"][0]["diff"]
    assert {"op": "delete", "text": "短信"} in text and {"op": "insert", "text": "邮箱"} in text
    words = e2["changes"][0]["diff"]
    assert {"op": "delete", "text": "CSV"} in words and {"op": "insert", "text": "XLSX"} in words
    assert e1["base_version"] == 1 and not e1["stale"]


def test_add_and_remove_edits(world):
    p, r1, r2, *_rest, cr = world
    add = draft(p, cr, op="add", fields={"title": "二次验证", "parent": r1.key})
    assert add.proposed["kind"] == "functional" and add.proposed["parent"] == r1.key
    rm = draft(p, cr, op="remove", requirement=r2.key)
    assert rm.proposed == {"status": "retired"}
    # The parent of an added requirement and the removed one are touched by the change set.
    assert cr_selectors.impact_get(user=p.pm, cr=cr)["change_set"] == [r1.key, r2.key]


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"op": "modify", "requirement": "ACME-R-99", "fields": {"title": "x"}}, "requirement"),
        ({"op": "modify", "requirement": "ACME-R-1", "fields": {"title": "登录"}}, "fields"),
        ({"op": "modify", "requirement": "ACME-R-1", "fields": {"version": 3}}, "version"),
        ({"op": "modify", "requirement": "ACME-R-1", "fields": {"kind": "nope"}}, "kind"),
        ({"op": "modify", "requirement": "ACME-R-1", "fields": {"parent": "ACME-R-2"}}, "parent"),
        ({"op": "add", "fields": {"text": "no title"}}, "title"),
        ({"op": "add", "requirement": "ACME-R-1", "fields": {"title": "x"}}, "requirement"),
        ({"op": "remove", "requirement": "ACME-R-1", "fields": {"title": "x"}}, "fields"),
        ({"op": "rename", "requirement": "ACME-R-1"}, "op"),
    ],
)
def test_bad_edits_are_refused_naming_the_field(world, kw, field):
    p, *_rest, cr = world
    with pytest.raises(ValidationError) as exc:
        draft(p, cr, **kw)
    assert field in exc.value.fields
    assert not ChangeSetEdit.objects.exists()


def test_one_edit_per_requirement(world):
    p, r1, *_rest, cr = world
    draft(p, cr, op="modify", requirement=r1.key, fields={"title": "A"})
    with pytest.raises(ValidationError):
        draft(p, cr, op="remove", requirement=r1.key)


@pytest.mark.parametrize("who", NON_DRAFTERS)
def test_only_assessors_draft(world, who):
    p, r1, *_rest, cr = world
    user = getattr(p, who)
    with pytest.raises(PermissionDenied):
        changesets.edit_create(user=user, cr=cr, op="remove", requirement=r1.key)


@pytest.mark.parametrize("who", NON_DRAFTERS)
def test_the_role_is_checked_before_what_is_asked(world, who):
    """require_drafter (and require_rebaser), which the API views call before reading the
    body, come first in the services too: a bad op or resolution is still a refusal."""
    p, r1, *_rest, cr = world
    edit = draft(p, cr, op="modify", requirement=r1.key, fields={"title": "A"})
    user = getattr(p, who)
    for check in (changesets.require_drafter, changesets.require_rebaser):
        with pytest.raises(PermissionDenied) as refused:
            check(user, cr)
        assert refused.value.message == (
            "Only project managers and tech leads draft and apply a change set."
        )
    with pytest.raises(PermissionDenied):
        changesets.edit_create(user=user, cr=cr, op="rename")
    with pytest.raises(PermissionDenied):
        changesets.edit_rebase(user=user, cr=cr, edit_id=edit.pk, resolutions="mine")


def test_a_change_set_is_drafted_while_assessed_and_rebased_until_implemented(world):
    p, r1, *_rest, cr = world
    for user in (p.pm, p.tech_lead, p.admin):
        changesets.require_drafter(user, cr)
        changesets.require_rebaser(user, cr)
    with pytest.raises(NotFound):
        changesets.require_drafter(p.outsider, cr)
    cr = implementing(p, cr)
    changesets.require_rebaser(p.tech_lead, cr)
    with pytest.raises(Conflict):
        changesets.require_drafter(p.tech_lead, cr)
    cr = close(p, cr)
    with pytest.raises(Conflict):
        changesets.require_rebaser(p.tech_lead, cr)


def test_outsider_gets_404_and_drafting_only_while_assessed(world):
    p, r1, *_rest, cr = world
    with pytest.raises(NotFound):
        changesets.edit_create(user=p.outsider, cr=cr, op="remove", requirement=r1.key)
    cr = implementing(p, cr)
    with pytest.raises(Conflict):
        draft(p, cr, op="remove", requirement=r1.key)


# ---------------------------------------------------------------- apply, close, baseline


def test_the_whole_walk_apply_close_baseline_diff_suspect(world):
    p, r1, r2, test, link, cr = world
    draft(p, cr, op="modify", requirement=r1.key, fields={"text": "登录页面需要支持邮箱验证码"})
    draft(p, cr, op="add", fields={"title": "Audit log", "parent": r1.key})
    draft(p, cr, op="remove", requirement=r2.key)
    cr = implementing(p, cr)
    result = changesets.change_set_apply(user=p.tech_lead, cr=cr)
    assert result["applied"] and result["versions"] == {r1.key: 2, "ACME-R-3": 1, r2.key: 2}
    r1.refresh_from_db()
    assert r1.text == "登录页面需要支持邮箱验证码"
    v2 = RequirementVersion.objects.get(requirement=r1, version=2)
    assert v2.change_request_id == cr.pk
    added = Requirement.objects.get(key="ACME-R-3")
    assert added.parent_id == r1.pk and added.versions.get().change_request_id == cr.pk
    assert Requirement.objects.get(pk=r2.pk).status == "retired"
    assert TraceLink.objects.get(pk=link.pk).suspect  # downstream of the changed R1
    # Twice: nothing more.
    count = RequirementVersion.objects.count()
    again = changesets.change_set_apply(user=p.pm, cr=fresh(cr, p.pm))
    assert again["applied"] is False and RequirementVersion.objects.count() == count
    # Close: the next baseline appears, and its diff against R1 is exactly the change.
    cr = close(p, cr)
    baseline = Baseline.objects.exclude(name="R1").get()
    assert baseline.name.startswith(f"{cr.key} ")
    diff = services.baseline_diff(baseline=baseline, against=Baseline.objects.get(name="R1"))
    assert [a["key"] for a in diff["added"]] == ["ACME-R-3"]
    assert diff["removed"] == []
    assert {m["key"]: m["fields"] for m in diff["modified"]} == {
        r1.key: ["text"],
        r2.key: ["status"],
    }
    assert cr_selectors.change_set_get(user=p.viewer, cr=cr)["applied"]["baseline"] == (
        baseline.name
    )
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"change_set.applied", "change_set.edit_added", "baseline.created"} <= actions


def test_apply_only_when_implementing_and_not_empty(world):
    p, r1, *_rest, cr = world
    with pytest.raises(Conflict):
        changesets.change_set_apply(user=p.pm, cr=cr)
    cr = implementing(p, cr)
    from changeflow.core.errors import PreconditionFailed

    with pytest.raises(PreconditionFailed):
        changesets.change_set_apply(user=p.pm, cr=cr)


def test_stale_edit_refuses_the_whole_apply_until_rebased(world):
    p, r1, r2, *_rest, cr = world
    draft(p, cr, op="modify", requirement=r1.key, fields={"title": "短信登录", "priority": "must"})
    draft(p, cr, op="modify", requirement=r2.key, fields={"text": "Export as XLSX"})
    cr = implementing(p, cr)
    # Another implementing CR changes R1 meanwhile (title and text).
    other = implementing(p, make_cr(p.project, by=p.customer, title="Other"))
    services.requirement_update(user=p.pm, requirement=r1, change_request=other.key,
                                data={"title": "验证码登录", "text": "新的文本"})  # fmt: skip
    with pytest.raises(Conflict) as exc:
        changesets.change_set_apply(user=p.pm, cr=fresh(cr, p.pm))
    assert exc.value.code == "change_set_stale" and r1.key in str(exc.value.message)
    assert Requirement.objects.get(pk=r2.pk).version == 1  # all or nothing
    edit = ChangeSetEdit.objects.get(requirement=r1)
    view = changesets.three_way(edit)
    assert view["conflicts"] == ["title"]
    merged = {r["field"]: r["merged"] for r in view["fields"]}
    assert merged["text"] == "新的文本" and merged["priority"] == "must"
    # Unresolved: refused, naming the field.
    with pytest.raises(Conflict) as exc:
        changesets.edit_rebase(user=p.pm, cr=fresh(cr, p.pm), edit_id=edit.pk)
    assert exc.value.code == "rebase_conflict" and "title" in exc.value.fields
    rebased = changesets.edit_rebase(user=p.pm, cr=fresh(cr, p.pm), edit_id=edit.pk,
                                     resolutions={"title": "mine"})  # fmt: skip
    assert rebased.base_version == 2 and rebased.proposed == {
        "title": "短信登录",
        "priority": "must",
    }
    changesets.change_set_apply(user=p.pm, cr=fresh(cr, p.pm))
    r1.refresh_from_db()
    assert (r1.title, r1.text, r1.priority, r1.version) == ("短信登录", "新的文本", "must", 3)


def test_rebase_taking_theirs_everywhere_drops_the_edit(world):
    p, r1, *_rest, cr = world
    draft(p, cr, op="modify", requirement=r1.key, fields={"title": "短信登录"})
    cr = implementing(p, cr)
    other = implementing(p, make_cr(p.project, by=p.customer, title="Other"))
    services.requirement_update(user=p.pm, requirement=r1, change_request=other.key,
                                data={"title": "验证码登录"})  # fmt: skip
    edit = ChangeSetEdit.objects.get()
    assert changesets.edit_rebase(user=p.pm, cr=fresh(cr, p.pm), edit_id=edit.pk,
                                  resolutions={"title": "theirs"}) is None  # fmt: skip
    assert not ChangeSetEdit.objects.exists()


def test_change_in_review_is_material_and_audited(world):
    p, r1, *_rest, cr = world
    complete_assessment(cr, by=p.tech_lead)
    from changeflow.changes import services as cs

    cr = cs.change_request_transition(user=p.tech_lead, cr=fresh(cr, p.tech_lead),
                                      action="request_review")  # fmt: skip
    from changeflow.changes.models import Vote
    from tests.factories import PASSWORD

    cs.vote_cast(user=p.qa, cr=fresh(cr, p.qa), decision="approve", password=PASSWORD)
    draft(p, cr, op="modify", requirement=r1.key, fields={"title": "短信登录"})
    event = AuditEvent.objects.filter(action="change_set.edit_added").latest("id")
    assert event.after["material"] is True and event.after["votes_reset"] == 1
    # the vote is kept, void, and the members are told why
    assert Vote.objects.get(change_request=cr).voided_at is not None
    reset = AuditEvent.objects.get(action="votes.reset", object_key=cr.key)
    assert p.qa.username in reset.after["notify"]


# ---------------------------------------------------------------- impact snapshot, conflicts


def test_assessment_saves_the_impact_and_the_page_shows_when_it_differs(world):
    p, r1, r2, test, _link, cr = world
    a = complete_assessment(cr, by=p.tech_lead)
    snap = ImpactSnapshot.objects.get(assessment=a)
    assert {i["key"] for i in snap.data["items"]} == {r1.key, r2.key, test.key}
    live = cr_selectors.impact_get(user=p.qa, cr=cr)
    assert live["snapshot"]["assessment"] == a.version and not live["snapshot"]["differs"]
    r3 = make_req(p.project, by=p.pm, title="New child", parent=r2.key)
    live = cr_selectors.impact_get(user=p.qa, cr=cr)
    assert live["snapshot"]["differs"] and r3.key in {i["key"] for i in live["items"]}


def test_ancestors_are_in_the_impact_with_their_path(world):
    p, r1, r2, *_rest, cr = world
    other = make_cr(p.project, by=p.pm, affected_requirements=[r2.key])
    got = cr_selectors.impact_get(user=p.pm, cr=other)
    by_key = {i["key"]: i for i in got["items"]}
    assert by_key[r1.key]["relation"] == "ancestor" and by_key[r1.key]["path"] == [r2.key, r1.key]


def test_overlapping_open_crs_are_flagged_on_both(world):
    p, r1, r2, *_rest, cr = world
    other = advance(make_cr(p.project, by=p.customer, title="Other"), p, "assessing")
    draft(p, other, op="modify", requirement=r1.key, fields={"title": "x"})
    unrelated = make_cr(p.project, by=p.pm, affected_requirements=[r2.key])
    mine = cr_selectors.conflicts_of(user=p.qa, cr=cr)
    assert [(c["key"], c["requirements"]) for c in mine] == [(other.key, [r1.key])]
    assert [c["key"] for c in cr_selectors.conflicts_of(user=p.qa, cr=other)] == [cr.key]
    assert cr_selectors.conflicts_of(user=p.qa, cr=unrelated) == []
    # A closed or withdrawn CR is not open any more.
    from changeflow.changes import services as cs

    cs.change_request_transition(user=p.pm, cr=fresh(other, p.pm), action="withdraw")
    assert cr_selectors.conflicts_of(user=p.qa, cr=cr) == []


# ---------------------------------------------------------------- API


def cs_url(cr, tail=""):
    return f"/api/v1/change-requests/{cr.key}/change-set/{tail}"


@pytest.mark.parametrize("who", READERS)
def test_api_reads_allowed(world, api, who):
    p, r1, *_rest, cr = world
    edit = draft(p, cr, op="modify", requirement=r1.key, fields={"title": "短信登录"})
    client = api(getattr(p, who))
    for url in (cs_url(cr), cs_url(cr, f"{edit.pk}/"), cs_url(cr, f"{edit.pk}/rebase/"),
                f"/api/v1/change-requests/{cr.key}/conflicts/",
                f"/api/v1/change-requests/{cr.key}/impact/"):  # fmt: skip
        r = client.get(url)
        assert r.status_code == 200, (url, r.content)
    body = client.get(cs_url(cr)).json()
    assert body["edits"][0]["changes"][0]["diff"] == [
        {"op": "insert", "text": "短信"},
        {"op": "equal", "text": "登录"},
    ]


def test_api_outsider_gets_404_everywhere(world, api):
    p, r1, *_rest, cr = world
    edit = draft(p, cr, op="modify", requirement=r1.key, fields={"title": "短信登录"})
    client = api(p.outsider)
    for method, url, body in [
        ("get", cs_url(cr), None),
        ("post", cs_url(cr), {"op": "remove", "requirement": r1.key}),
        ("get", cs_url(cr, f"{edit.pk}/"), None),
        ("patch", cs_url(cr, f"{edit.pk}/"), {"fields": {"title": "x"}}),
        ("delete", cs_url(cr, f"{edit.pk}/"), None),
        ("get", cs_url(cr, f"{edit.pk}/rebase/"), None),
        ("post", cs_url(cr, f"{edit.pk}/rebase/"), {}),
        ("post", cs_url(cr, "apply/"), None),
        ("get", f"/api/v1/change-requests/{cr.key}/conflicts/", None),
        ("get", f"/api/v1/change-requests/{cr.key}/impact/", None),
    ]:
        r = getattr(client, method)(url, body, format="json")
        assert r.status_code == 404, (method, url, r.content)
    assert ChangeSetEdit.objects.get().proposed == {"title": "短信登录"}


@pytest.mark.parametrize("who", DRAFTERS)
def test_api_draft_change_delete_allowed(world, api, who):
    p, r1, *_rest, cr = world
    client = api(getattr(p, who))
    body = {"op": "modify", "requirement": r1.key, "fields": {"text": "登录页面需要支持邮箱验证码"}}
    r = client.post(cs_url(cr), body, format="json")
    assert r.status_code == 201, r.content
    edit = r.json()
    assert edit["requirement"] == r1.key and edit["changes"][0]["field"] == "text"
    r = client.patch(cs_url(cr, f"{edit['id']}/"), {"fields": {"title": "新"}}, format="json")
    assert r.status_code == 200 and r.json()["proposed"] == {"title": "新"}
    assert client.delete(cs_url(cr, f"{edit['id']}/")).status_code == 204
    assert not ChangeSetEdit.objects.exists()


@pytest.mark.parametrize("who", NON_DRAFTERS)
def test_api_writes_forbidden(world, api, who):
    p, r1, *_rest, cr = world
    edit = draft(p, cr, op="modify", requirement=r1.key, fields={"title": "短信登录"})
    client = api(getattr(p, who))
    for method, url, body in [
        ("post", cs_url(cr), {"op": "remove", "requirement": r1.key}),
        ("patch", cs_url(cr, f"{edit.pk}/"), {"fields": {"title": "x"}}),
        ("delete", cs_url(cr, f"{edit.pk}/"), None),
        ("post", cs_url(cr, f"{edit.pk}/rebase/"), {}),
        ("post", cs_url(cr, "apply/"), None),
        # The role is checked before the body: an empty or invalid one is refused the same.
        ("post", cs_url(cr), {}),
        ("post", cs_url(cr), {"op": "rename", "extra": 1}),
        ("patch", cs_url(cr, f"{edit.pk}/"), {}),
        ("patch", cs_url(cr, f"{edit.pk}/"), {"fields": 5}),
        ("post", cs_url(cr, f"{edit.pk}/rebase/"), {"resolutions": {"titel": "ours"}}),
    ]:
        r = getattr(client, method)(url, body, format="json")
        assert r.status_code == 403, (method, url, r.content)
        assert error_of(r)["code"] == "forbidden"
    assert ChangeSetEdit.objects.get().proposed == {"title": "短信登录"}


def test_api_apply_stale_409_then_rebase_and_apply(world, api):
    p, r1, *_rest, cr = world
    draft(p, cr, op="modify", requirement=r1.key, fields={"title": "短信登录"})
    cr = implementing(p, cr)
    other = implementing(p, make_cr(p.project, by=p.customer, title="Other"))
    services.requirement_update(user=p.pm, requirement=r1, change_request=other.key,
                                data={"title": "验证码登录"})  # fmt: skip
    client = api(p.tech_lead)
    r = client.post(cs_url(cr, "apply/"))
    assert r.status_code == 409 and error_of(r)["code"] == "change_set_stale"
    assert r1.key in error_of(r)["message"]
    edit = ChangeSetEdit.objects.get()
    r = client.get(cs_url(cr, f"{edit.pk}/rebase/"))
    assert r.json()["conflicts"] == ["title"]
    r = client.post(cs_url(cr, f"{edit.pk}/rebase/"), {}, format="json")
    assert r.status_code == 409 and "title" in error_of(r)["fields"]
    r = client.post(cs_url(cr, f"{edit.pk}/rebase/"), {"resolutions": {"title": "mine"}},
                    format="json")  # fmt: skip
    assert r.status_code == 200 and r.json()["edit"]["base_version"] == 2
    r = client.post(cs_url(cr, "apply/"))
    assert r.status_code == 200 and r.json()["versions"] == {r1.key: 3}
    r = client.post(cs_url(cr, "apply/"))
    assert r.status_code == 200 and r.json()["applied"] is False


def test_api_rebase_refuses_resolutions_of_fields_not_in_conflict(world, api):
    """A resolution was ignored when its field was not in conflict (a misspelt field, or one
    that merged by itself): now a 400 naming it, and the edit is left as it was."""
    p, r1, *_rest, cr = world
    draft(p, cr, op="modify", requirement=r1.key, fields={"title": "短信登录", "priority": "must"})
    cr = implementing(p, cr)
    other = implementing(p, make_cr(p.project, by=p.customer, title="Other"))
    services.requirement_update(user=p.pm, requirement=r1, change_request=other.key,
                                data={"title": "验证码登录", "text": "新的文本"})  # fmt: skip
    client = api(p.tech_lead)
    edit = ChangeSetEdit.objects.get()
    url = cs_url(cr, f"{edit.pk}/rebase/")
    # A versioned field that merged by itself (text: theirs only; priority: mine only).
    r = client.post(url, {"resolutions": {"title": "mine", "text": "mine", "priority": "theirs"}},
                    format="json")  # fmt: skip
    assert r.status_code == 400, r.content
    assert set(error_of(r)["fields"]) == {"resolutions.text", "resolutions.priority"}
    # A misspelt field: named by the request's schema.
    r = client.post(url, {"resolutions": {"title": "mine", "titel": "mine"}}, format="json")
    assert r.status_code == 400 and set(error_of(r)["fields"]) == {"resolutions.titel"}
    # A wrong choice.
    r = client.post(url, {"resolutions": {"title": "ours"}}, format="json")
    assert r.status_code == 400 and set(error_of(r)["fields"]) == {"resolutions.title"}
    edit.refresh_from_db()
    assert edit.base_version == 1
    r = client.post(url, {"resolutions": {"title": "mine"}}, format="json")
    assert r.status_code == 200 and r.json()["edit"]["base_version"] == 2
    # Rebased: nothing is in conflict any more.
    r = client.post(url, {"resolutions": {"title": "mine"}}, format="json")
    assert r.status_code == 400 and set(error_of(r)["fields"]) == {"resolutions.title"}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"op": "modify", "requirement": "ACME-R-1", "fields": {"title": ""}}, "title"),
        ({"op": "modify", "requirement": "ACME-R-1", "fields": "x"}, "fields"),
        ({"op": "nope"}, "op"),
        ({"op": "remove", "requirement": "ACME-R-1", "extra": 1}, "extra"),
    ],
)
def test_api_bad_input_400(world, api, body, field):
    p, *_rest, cr = world
    r = api(p.pm).post(cs_url(cr), body, format="json")
    assert r.status_code == 400, r.content
    assert field in error_of(r)["fields"]


def test_api_impact_with_saved_snapshot(world, api):
    p, r1, *_rest, cr = world
    complete_assessment(cr, by=p.tech_lead)
    client = api(p.customer)
    live = client.get(f"/api/v1/change-requests/{cr.key}/impact/").json()
    assert live["snapshot"]["assessment"] == 1 and live["affected"] == [r1.key]
    saved = client.get(f"/api/v1/change-requests/{cr.key}/impact/?assessment=1")
    assert saved.status_code == 200 and saved.json()["saved_with_assessment"] == 1
    assert client.get(f"/api/v1/change-requests/{cr.key}/impact/?assessment=7").status_code == 404
    assert client.get(f"/api/v1/change-requests/{cr.key}/impact/?assessment=x").status_code == 400
    assert client.get(f"/api/v1/change-requests/{cr.key}/impact/?assessment=²").status_code == 400


def test_verification_waits_until_the_change_set_is_applied(world):
    from changeflow.changes import services as cs
    from changeflow.core.errors import PreconditionFailed

    p, r1, *_rest, cr = world
    draft(p, cr, op="modify", requirement=r1.key, fields={"title": "短信登录"})
    cr = implementing(p, cr)
    assert "submit_verification" not in cs.available_actions(cr=cr, user=p.developer)
    with pytest.raises(PreconditionFailed) as exc:
        cs.change_request_transition(user=p.developer, cr=fresh(cr, p.developer),
                                     action="submit_verification")  # fmt: skip
    assert "change set" in str(exc.value.message) or "变更集" in str(exc.value.message)
    assert fresh(cr, p.pm).state == "implementing"
    changesets.change_set_apply(user=p.tech_lead, cr=fresh(cr, p.tech_lead))
    cr = cs.change_request_transition(user=p.developer, cr=fresh(cr, p.developer),
                                      action="submit_verification")  # fmt: skip
    assert cr.state == "verifying"


# ---------------------------------------------------------------- the CR page's history


@pytest.mark.parametrize(
    "language", ["en", "zh-hans"]
)  # every change-set event named in words, in both languages
def test_cr_history_names_every_change_set_event(world, language):
    from django.test import Client
    from django.utils import translation

    p, r1, r2, *_rest, cr = world
    edit = draft(p, cr, op="modify", requirement=r1.key, fields={"title": "短信登录"})
    changesets.edit_update(user=p.pm, cr=fresh(cr, p.pm), edit_id=edit.pk,
                           fields={"title": "验证码登录"})  # fmt: skip
    gone = draft(p, cr, op="remove", requirement=r2.key)
    changesets.edit_delete(user=p.pm, cr=fresh(cr, p.pm), edit_id=gone.pk)
    cr = implementing(p, cr)
    other = implementing(p, make_cr(p.project, by=p.customer, title="Other"))
    services.requirement_update(user=p.pm, requirement=r1, change_request=other.key,
                                data={"text": "新的文本"})  # fmt: skip
    changesets.edit_rebase(user=p.pm, cr=fresh(cr, p.pm), edit_id=edit.pk)
    changesets.change_set_apply(user=p.pm, cr=fresh(cr, p.pm))
    recorded = set(
        AuditEvent.objects.filter(object_key=cr.key, action__startswith="change_set.").values_list(
            "action", flat=True
        )
    )
    assert recorded == set(changesets.EVENT_LABELS)  # every one of them happened above
    client = Client()
    client.force_login(p.viewer)
    html = client.get(f"/changes/{cr.key}/", headers={"Accept-Language": language})
    assert html.status_code == 200
    html = html.content.decode()
    with translation.override(language):
        labels = [str(label) for label in changesets.EVENT_LABELS.values()]
        details = [str(changesets.EVENT_FIELD_LABELS[k]) for k in ("edits", "versions")]
    for action, label in zip(changesets.EVENT_LABELS, labels, strict=True):
        assert label in html, action
        assert f">{action}<" not in html and f"> {action}" not in html
    assert all(d in html for d in details)
    if language == "zh-hans":
        assert "应用了变更集" in html


# ---------------------------------------------------------------- a new parent of a new one


def test_added_requirement_under_another_added_one_whatever_the_order(world):
    """Drafted child first, parent second: the apply creates the parent first all the same,
    and a grandchild under the child; the redline names the new parent."""
    p, r1, *_rest, cr = world
    child = draft(p, cr, op="add", fields={"title": "Child"})
    parent = draft(p, cr, op="add", fields={"title": "Parent", "parent": r1.key})
    changesets.edit_update(user=p.pm, cr=fresh(cr, p.pm), edit_id=child.pk,
                           fields={"title": "Child", "parent": f"edit:{parent.pk}"})  # fmt: skip
    grandchild = draft(
        p, cr, op="add", fields={"title": "Grandchild", "parent": f"edit:{child.pk}"}
    )
    panel = cr_selectors.cr_panel(user=p.viewer, cr=fresh(cr, p.viewer))
    shown = {
        e["id"]: {c["field"]: c["to"] for c in e["changes"]} for e in panel["change_set"]["edits"]
    }
    assert "Parent" in shown[child.pk]["parent"] and "Child" in shown[grandchild.pk]["parent"]
    cr = implementing(p, cr)
    result = changesets.change_set_apply(user=p.pm, cr=cr)
    made = {
        r.title: r for r in Requirement.objects.filter(title__in=["Parent", "Child", "Grandchild"])
    }
    assert made["Parent"].parent_id == r1.pk
    assert made["Child"].parent_id == made["Parent"].pk
    assert made["Grandchild"].parent_id == made["Child"].pk
    assert result["versions"] == {made[t].key: 1 for t in made}
    assert made["Parent"].number < made["Child"].number < made["Grandchild"].number
    # After the apply, the redline names the key the parent got.
    after = cr_selectors.change_set_get(user=p.viewer, cr=fresh(cr, p.viewer))
    to = {e["id"]: {c["field"]: c["to"] for c in e["changes"]} for e in after["edits"]}
    assert to[child.pk]["parent"] == made["Parent"].key
    assert to[grandchild.pk]["parent"] == made["Child"].key


def test_new_parent_cycle_and_unknown_edit_refused(world):
    from changeflow.core.errors import PreconditionFailed

    p, r1, *_rest, cr = world
    a = draft(p, cr, op="add", fields={"title": "A"})
    b = draft(p, cr, op="add", fields={"title": "B", "parent": f"edit:{a.pk}"})
    for ref in (b.pk, a.pk):  # a cycle through B, and A its own parent
        with pytest.raises(PreconditionFailed) as exc:
            changesets.edit_update(user=p.pm, cr=fresh(cr, p.pm), edit_id=a.pk,
                                   fields={"title": "A", "parent": f"edit:{ref}"})  # fmt: skip
        assert exc.value.code == "parent_cycle" and "parent" in exc.value.fields
    assert ChangeSetEdit.objects.get(pk=a.pk).proposed["parent"] is None
    with pytest.raises(ValidationError) as exc:
        draft(p, cr, op="add", fields={"title": "C", "parent": "edit:99999"})
    assert "99999" in str(exc.value.fields["parent"])
    for odd in ("edit:²", "edit:٣", "edit:" + "9" * 5000):  # not an edit id: a 400, not a 500
        with pytest.raises(ValidationError) as exc:
            draft(p, cr, op="add", fields={"title": "C", "parent": odd})
        assert "parent" in exc.value.fields
    modify = draft(p, cr, op="modify", requirement=r1.key, fields={"title": "X"})
    with pytest.raises(ValidationError):  # a modify edit adds no requirement to go under
        draft(p, cr, op="add", fields={"title": "D", "parent": f"edit:{modify.pk}"})
    # The parent edit cannot leave while a child needs it.
    with pytest.raises(PreconditionFailed) as exc:
        changesets.edit_delete(user=p.pm, cr=fresh(cr, p.pm), edit_id=a.pk)
    assert exc.value.code == "edit_is_parent" and str(b.pk) in str(exc.value.message)
    assert ChangeSetEdit.objects.filter(pk=a.pk).exists()


def test_apply_refuses_a_cycle_that_got_in_anyway(world):
    """Drafting refuses cycles; should one be stored all the same, the apply writes nothing."""
    from changeflow.core.errors import PreconditionFailed

    p, *_rest, cr = world
    a = draft(p, cr, op="add", fields={"title": "A"})
    b = draft(p, cr, op="add", fields={"title": "B", "parent": f"edit:{a.pk}"})
    ChangeSetEdit.objects.filter(pk=a.pk).update(proposed=a.proposed | {"parent": f"edit:{b.pk}"})
    cr = implementing(p, cr)
    count = Requirement.objects.count()
    with pytest.raises(PreconditionFailed) as exc:
        changesets.change_set_apply(user=p.pm, cr=cr)
    assert exc.value.code == "parent_cycle"
    assert Requirement.objects.count() == count


def test_api_new_parent_by_edit_id(world, api):
    p, r1, *_rest, cr = world
    client = api(p.tech_lead)
    r = client.post(cs_url(cr), {"op": "add", "fields": {"title": "Parent"}}, format="json")
    assert r.status_code == 201, r.content
    parent = r.json()["id"]
    body = {"op": "add", "fields": {"title": "Child", "parent": f"edit:{parent}"}}
    r = client.post(cs_url(cr), body, format="json")
    assert r.status_code == 201, r.content
    child = r.json()
    assert child["proposed"]["parent"] == f"edit:{parent}"
    assert {"field": "parent", "to": f"edit:{parent}"}.items() <= {
        k: v for c in child["changes"] if c["field"] == "parent" for k, v in c.items()
    }.items()
    # A cycle: 422 naming the parent; a parent edit that does not exist: 400.
    r = client.patch(cs_url(cr, f"{parent}/"),
                     {"fields": {"title": "Parent", "parent": f"edit:{child['id']}"}},
                     format="json")  # fmt: skip
    assert r.status_code == 422, r.content
    assert error_of(r)["code"] == "parent_cycle" and "parent" in error_of(r)["fields"]
    r = client.post(cs_url(cr), {"op": "add", "fields": {"title": "X", "parent": "edit:0"}},
                    format="json")  # fmt: skip
    assert r.status_code == 400 and "parent" in error_of(r)["fields"]
    r = client.delete(cs_url(cr, f"{parent}/"))
    assert r.status_code == 422 and error_of(r)["code"] == "edit_is_parent"
    cr = implementing(p, cr)
    r = client.post(cs_url(cr, "apply/"))
    assert r.status_code == 200, r.content
    made = Requirement.objects.get(title="Child")
    assert made.parent.title == "Parent" and made.parent.key in r.json()["versions"]
    r = client.get(cs_url(cr))
    changes = {e["id"]: e["changes"] for e in r.json()["edits"]}
    assert [c["to"] for c in changes[child["id"]] if c["field"] == "parent"] == [made.parent.key]


def test_openapi_describes_the_edit_parent_reference(db):
    """The schema tells API clients that a parent may be "edit:<id>", on create and update."""
    from django.test import Client

    schema = Client().get("/api/v1/schema/?format=json").json()
    for name in ("EditCreateRequest", "PatchedEditUpdateRequest"):
        fields = schema["components"]["schemas"][name]["properties"]["fields"]
        assert '"edit:<id>"' in fields["description"], name


# ---------------------------------------------------------------- a modify edit's new parent


def test_modify_edit_moves_a_requirement_under_an_added_one(world):
    """A modify edit may name as parent a requirement the same change set adds; the apply
    creates the added ones first, whatever order the edits were drafted in."""
    p, r1, r2, *_rest, cr = world
    move = draft(p, cr, op="modify", requirement=r2.key, fields={"title": "Export (moved)"})
    section = draft(p, cr, op="add", fields={"title": "Section", "parent": r1.key})
    move = changesets.edit_update(user=p.pm, cr=fresh(cr, p.pm), edit_id=move.pk,
                                  fields={"title": "Export (moved)",
                                          "parent": f"edit:{section.pk}"})  # fmt: skip
    assert move.proposed == {"title": "Export (moved)", "parent": f"edit:{section.pk}"}
    cr = implementing(p, cr)
    result = changesets.change_set_apply(user=p.pm, cr=cr)
    made = Requirement.objects.get(title="Section")
    r2.refresh_from_db()
    assert made.parent_id == r1.pk and r2.parent_id == made.pk and r2.version == 2
    assert result["versions"] == {made.key: 1, r2.key: 2}
    version = r2.versions.get(version=2)
    assert version.parent_id == made.pk and version.change_request_id == cr.pk
    after = cr_selectors.change_set_get(user=p.viewer, cr=fresh(cr, p.viewer))
    to = {e["id"]: {c["field"]: c["to"] for c in e["changes"]} for e in after["edits"]}
    assert to[move.pk]["parent"] == made.key


def test_modify_edit_new_parent_cycles_and_bad_references_refused(world):
    """R2 is under R1. Added A under R2; moving R1 under A would loop R1 → A → R2 → R1 (422
    parent_cycle), on create and on update; and the other way round, an added requirement
    moved under a requirement that a modify edit puts under it."""
    from changeflow.core.errors import PreconditionFailed

    p, r1, r2, *_rest, cr = world
    a = draft(p, cr, op="add", fields={"title": "A", "parent": r2.key})
    with pytest.raises(PreconditionFailed) as exc:
        draft(p, cr, op="modify", requirement=r1.key, fields={"parent": f"edit:{a.pk}"})
    assert exc.value.code == "parent_cycle" and "parent" in exc.value.fields
    assert str(a.pk) in str(exc.value.message)
    move = draft(p, cr, op="modify", requirement=r1.key, fields={"title": "Login"})
    with pytest.raises(PreconditionFailed) as exc:
        changesets.edit_update(user=p.pm, cr=fresh(cr, p.pm), edit_id=move.pk,
                               fields={"parent": f"edit:{a.pk}"})  # fmt: skip
    assert exc.value.code == "parent_cycle"
    assert ChangeSetEdit.objects.get(pk=move.pk).proposed == {"title": "Login"}
    # A to the top level: now R1 may go under A ...
    changesets.edit_update(user=p.pm, cr=fresh(cr, p.pm), edit_id=a.pk, fields={"title": "A"})
    changesets.edit_update(user=p.pm, cr=fresh(cr, p.pm), edit_id=move.pk,
                           fields={"parent": f"edit:{a.pk}"})  # fmt: skip
    # ... and then A may not go under R2 (R2 → R1 → A → R2), nor under R1.
    for parent in (r2.key, r1.key):
        with pytest.raises(PreconditionFailed) as exc:
            changesets.edit_update(user=p.pm, cr=fresh(cr, p.pm), edit_id=a.pk,
                                   fields={"title": "A", "parent": parent})  # fmt: skip
        assert exc.value.code == "parent_cycle"
        assert {a.pk, move.pk} <= {int(n) for n in re.findall(r"\d+", exc.value.message)}
    # Unknown edits and edits that add nothing are not parents (400).
    for ref in ("edit:99999", f"edit:{move.pk}"):
        with pytest.raises(ValidationError) as exc:
            changesets.edit_update(user=p.pm, cr=fresh(cr, p.pm), edit_id=move.pk,
                                   fields={"parent": ref})  # fmt: skip
        assert "parent" in exc.value.fields
    # A's edit cannot leave while the move needs it.
    with pytest.raises(PreconditionFailed) as exc:
        changesets.edit_delete(user=p.pm, cr=fresh(cr, p.pm), edit_id=a.pk)
    assert exc.value.code == "edit_is_parent" and str(move.pk) in str(exc.value.message)


def test_api_modify_edit_under_an_added_requirement(world, api):
    p, r1, r2, *_rest, cr = world
    client = api(p.tech_lead)
    r = client.post(cs_url(cr), {"op": "add", "fields": {"title": "Parent"}}, format="json")
    assert r.status_code == 201, r.content
    parent = r.json()["id"]
    body = {"op": "modify", "requirement": r1.key, "fields": {"parent": f"edit:{parent}"}}
    r = client.post(cs_url(cr), body, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["proposed"] == {"parent": f"edit:{parent}"}
    # The added one under R2 (itself under R1, which moves under it): 422.
    r = client.patch(cs_url(cr, f"{parent}/"),
                     {"fields": {"title": "Parent", "parent": r2.key}}, format="json")  # fmt: skip
    assert r.status_code == 422, r.content
    assert error_of(r)["code"] == "parent_cycle" and "parent" in error_of(r)["fields"]
    cr = implementing(p, cr)
    r = client.post(cs_url(cr, "apply/"))
    assert r.status_code == 200, r.content
    r1.refresh_from_db()
    assert r1.parent.title == "Parent" and r1.version == 2
