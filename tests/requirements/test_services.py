"""Requirement services: versions, hierarchy, baselines, the CR rule, diffs, affected links."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from changeflow.core.errors import (
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    StalePrecondition,
    ValidationError,
)
from changeflow.core.models import AuditEvent
from changeflow.requirements import services
from changeflow.requirements.diff import apply_diff, text_diff, tokens
from changeflow.requirements.models import (
    AffectedRequirement,
    Baseline,
    BaselineItem,
    ImmutableError,
    Requirement,
    RequirementVersion,
)
from tests.factories import advance, make_cr
from tests.requirements.helpers import make_baseline, make_req

# ---------------------------------------------------------------- create and versions


def test_create_gives_keys_per_project_and_version_one(personas):
    p = personas
    a = make_req(p.project, by=p.pm, title="登录", kind="user", priority="must")
    b = make_req(p.project, by=p.tech_lead, parent=a.key)
    other = make_req(p.other_project, by=p.outsider)
    assert (a.key, b.key, other.key) == ("ACME-R-1", "ACME-R-2", "OTHER-R-1")
    assert a.version == 1 and b.parent == a
    v1 = RequirementVersion.objects.get(requirement=a)
    assert (v1.version, v1.title, v1.kind, v1.priority, v1.author) == (
        1,
        "登录",
        "user",
        "must",
        p.pm,
    )
    event = AuditEvent.objects.filter(object_key="ACME-R-1").get()
    assert event.action == "requirement.created" and event.after["title"] == "登录"


def test_update_makes_a_new_version_and_a_noop_makes_none(personas):
    p = personas
    req = make_req(p.project, by=p.pm, title="Sign in")
    req = services.requirement_update(
        user=p.tech_lead, requirement=req, data={"title": "Sign in with SMS", "priority": "must"}
    )
    assert req.version == 2
    fresh = Requirement.objects.get(pk=req.pk)
    assert (fresh.version, fresh.title, fresh.priority) == (2, "Sign in with SMS", "must")
    versions = list(RequirementVersion.objects.filter(requirement=req).order_by("version"))
    assert [(v.version, v.title, v.author) for v in versions] == [
        (1, "Sign in", p.pm),
        (2, "Sign in with SMS", p.tech_lead),
    ]
    events = AuditEvent.objects.filter(object_key=req.key).count()
    same = services.requirement_update(
        user=p.pm, requirement=fresh, data={"title": "Sign in with SMS", "priority": "must"}
    )
    assert same.version == 2
    assert RequirementVersion.objects.filter(requirement=req).count() == 2
    assert AuditEvent.objects.filter(object_key=req.key).count() == events
    updated = AuditEvent.objects.filter(action="requirement.updated").get()
    assert updated.before == {"version": 1, "title": "Sign in", "priority": "should"}
    assert updated.after["version"] == 2


def test_stale_expected_version_is_refused(personas):
    p = personas
    req = make_req(p.project, by=p.pm)
    services.requirement_update(user=p.pm, requirement=req, data={"text": "v2"})
    with pytest.raises(StalePrecondition):
        services.requirement_update(
            user=p.pm, requirement=req, data={"text": "v3"}, expected_version=1
        )


@pytest.mark.parametrize("who", ["qa", "developer", "customer_rep", "customer", "viewer"])
def test_only_managers_and_tech_leads_write(personas, who):
    p = personas
    user = getattr(p, who)
    with pytest.raises(PermissionDenied):
        make_req(p.project, by=user)
    req = make_req(p.project, by=p.pm)
    with pytest.raises(PermissionDenied):
        services.requirement_update(user=user, requirement=req, data={"title": "x"})
    with pytest.raises(PermissionDenied):
        make_baseline(p.project, by=user)


def test_outsider_is_not_found_and_admin_may_write(personas):
    p = personas
    with pytest.raises(NotFound):
        make_req(p.project, by=p.outsider)
    req = make_req(p.project, by=p.admin)
    with pytest.raises(NotFound):
        services.requirement_update(user=p.outsider, requirement=req, data={"title": "x"})
    assert make_baseline(p.project, by=p.admin).items.count() == 1


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"text": "x" * 100_001}, "text"),
        ({"kind": "epic"}, "kind"),
        ({"priority": "P1"}, "priority"),
        ({"status": "gone"}, "status"),
        ({"parent": "ACME-R-99"}, "parent"),
        ({"parent": "OTHER-R-1"}, "parent"),
    ],
)
def test_create_bad_input(personas, fields, field):
    p = personas
    make_req(p.other_project, by=p.outsider)
    with pytest.raises(ValidationError) as exc:
        make_req(p.project, by=p.pm, **fields)
    assert field in exc.value.fields
    assert not Requirement.objects.filter(project=p.project).exists()


def test_hierarchy_cycles_are_refused(personas):
    p = personas
    a = make_req(p.project, by=p.pm)
    b = make_req(p.project, by=p.pm, parent=a.key)
    c = make_req(p.project, by=p.pm, parent=b.key)
    for req, parent in ((a, c.key), (a, b.key), (a, a.key), (b, c.key)):
        with pytest.raises(ValidationError) as exc:
            services.requirement_update(user=p.pm, requirement=req, data={"parent": parent})
        assert "parent" in exc.value.fields
    # Moving within the tree is fine, and so is detaching.
    c = services.requirement_update(user=p.pm, requirement=c, data={"parent": a.key})
    assert c.parent == a and c.version == 2
    b = services.requirement_update(user=p.pm, requirement=b, data={"parent": None})
    assert b.parent is None


# ---------------------------------------------------------------- baselines


def test_baseline_freezes_current_versions_and_never_changes(personas):
    p = personas
    a = make_req(p.project, by=p.pm, title="A")
    services.requirement_update(user=p.pm, requirement=a, data={"title": "A2"})
    b = make_req(p.project, by=p.pm, title="B")
    make_req(p.other_project, by=p.outsider)
    base = make_baseline(p.project, by=p.tech_lead, name="R1.0", description="首个基线")
    frozen = {i.requirement.key: i.version for i in base.items.select_related("requirement")}
    assert frozen == {a.key: 2, b.key: 1}
    # Later edits (through a CR, since both are baselined now) leave the baseline as it was.
    cr = advance(make_cr(p.project, by=p.customer), p, "implementing")
    services.requirement_update(
        user=p.pm, requirement=b, data={"title": "B2"}, change_request=cr.key
    )
    again = {i.requirement.key: i.version for i in base.items.select_related("requirement")}
    assert again == frozen
    base = Baseline.objects.get(pk=base.pk)
    with pytest.raises(ImmutableError):
        base.description = "changed"
        base.save()
    with pytest.raises(ImmutableError):
        base.delete()
    item = BaselineItem.objects.filter(baseline=base).first()
    with pytest.raises(ImmutableError):
        item.version = 9
        item.save()
    assert AuditEvent.objects.filter(action="baseline.created").get().after["requirements"] == 2


@pytest.mark.parametrize(
    "name",
    ["", "   ", "x" * 101, "a/b", "tab\there"],
    ids=["empty", "blank", "long", "slash", "ctl"],
)
def test_baseline_bad_names(personas, name):
    with pytest.raises(ValidationError) as exc:
        services.baseline_create(user=personas.pm, project=personas.project, name=name)
    assert "name" in exc.value.fields


def test_baseline_names_are_unique_per_project(personas):
    p = personas
    make_baseline(p.project, by=p.pm, name="R1.0")
    with pytest.raises(ValidationError) as exc:
        make_baseline(p.project, by=p.pm, name="R1.0")
    assert "name" in exc.value.fields
    make_baseline(p.other_project, by=p.outsider, name="R1.0")
    assert Baseline.objects.filter(name="R1.0").count() == 2


# ---------------------------------------------------------------- the change-request rule


def test_baselined_requirement_changes_only_through_an_implementing_cr(personas):
    p = personas
    req = make_req(p.project, by=p.pm, title="登录")
    make_baseline(p.project, by=p.pm, name="R1")
    with pytest.raises(PreconditionFailed) as exc:
        services.requirement_update(user=p.pm, requirement=req, data={"title": "登录2"})
    assert exc.value.status == 422 and "change_request" in exc.value.fields
    draft = make_cr(p.project, by=p.customer)
    with pytest.raises(PreconditionFailed) as exc:
        services.requirement_update(
            user=p.pm, requirement=req, data={"title": "登录2"}, change_request=draft.key
        )
    assert exc.value.code == "change_request_not_implementing"
    foreign = make_cr(p.other_project, by=p.outsider)
    with pytest.raises(PreconditionFailed):
        services.requirement_update(
            user=p.pm, requirement=req, data={"title": "登录2"}, change_request=foreign.key
        )
    with pytest.raises(PreconditionFailed):
        services.requirement_update(
            user=p.pm, requirement=req, data={"title": "登录2"}, change_request="ACME-999"
        )
    assert Requirement.objects.get(pk=req.pk).version == 1
    cr = advance(make_cr(p.project, by=p.customer), p, "implementing")
    req = services.requirement_update(
        user=p.pm, requirement=req, data={"title": "登录2"}, change_request=cr.key
    )
    version = RequirementVersion.objects.get(requirement=req, version=2)
    assert version.change_request == cr
    assert AffectedRequirement.objects.filter(change_request=cr, requirement=req).exists()
    event = AuditEvent.objects.filter(action="requirement.updated").get()
    assert event.after["change_request"] == cr.key


def test_unbaselined_requirement_changes_freely(personas):
    p = personas
    req = make_req(p.project, by=p.pm)
    req = services.requirement_update(user=p.pm, requirement=req, data={"status": "approved"})
    assert req.version == 2 and req.status == "approved"


# ---------------------------------------------------------------- diff


def test_diff_added_removed_modified_with_fields(personas):
    p = personas
    a = make_req(p.project, by=p.pm, title="登录", text="登录页面需要支持短信验证码")
    b = make_req(p.project, by=p.pm, title="Export", text="The user exports a report as CSV.")
    c = make_req(p.project, by=p.pm, title="Unchanged")
    old = make_baseline(p.project, by=p.pm, name="R1")
    cr = advance(make_cr(p.project, by=p.customer), p, "implementing")
    services.requirement_update(
        user=p.pm, requirement=a, data={"text": "登录页面需要支持邮件验证码", "priority": "must"},
        change_request=cr.key,
    )  # fmt: skip
    services.requirement_update(
        user=p.pm, requirement=b, data={"text": "The user exports a report as XLSX."},
        change_request=cr.key,
    )  # fmt: skip
    d = make_req(p.project, by=p.pm, title="New", parent=c.key)
    new = make_baseline(p.project, by=p.pm, name="R2")

    diff = services.baseline_diff(baseline=new, against=old)
    assert diff["baseline"] == "R2" and diff["against"] == "R1"
    assert diff["added"] == [{"key": d.key, "version": 1, "title": "New"}]
    assert diff["removed"] == [] and diff["unchanged"] == 1
    by_key = {m["key"]: m for m in diff["modified"]}
    assert list(by_key) == [a.key, b.key]
    ma = by_key[a.key]
    assert (ma["from_version"], ma["to_version"], ma["fields"]) == (1, 2, ["text", "priority"])
    assert ma["changes"]["priority"] == {"from": "should", "to": "must"}
    # Chinese: character-level.
    assert ma["changes"]["text"]["diff"] == [
        {"op": "equal", "text": "登录页面需要支持"},
        {"op": "delete", "text": "短信"},
        {"op": "insert", "text": "邮件"},
        {"op": "equal", "text": "验证码"},
    ]
    # English: word-level (the whole word, not the letters that differ).
    assert by_key[b.key]["changes"]["text"]["diff"] == [
        {"op": "equal", "text": "The user exports a report as "},
        {"op": "delete", "text": "CSV"},
        {"op": "insert", "text": "XLSX"},
        {"op": "equal", "text": "."},
    ]
    # The other way round, what was added is removed.
    back = services.baseline_diff(baseline=old, against=new)
    assert back["removed"] == [{"key": d.key, "version": 1, "title": "New"}]
    assert back["added"] == []
    assert {m["key"]: m["from_version"] for m in back["modified"]} == {a.key: 2, b.key: 2}
    same = services.baseline_diff(baseline=new, against=new)
    assert same["modified"] == same["added"] == same["removed"] == [] and same["unchanged"] == 4


def test_parent_change_appears_in_the_diff(personas):
    p = personas
    a = make_req(p.project, by=p.pm)
    b = make_req(p.project, by=p.pm)
    old = make_baseline(p.project, by=p.pm)
    cr = advance(make_cr(p.project, by=p.customer), p, "implementing")
    services.requirement_update(
        user=p.pm, requirement=b, data={"parent": a.key}, change_request=cr.key
    )
    diff = services.baseline_diff(baseline=make_baseline(p.project, by=p.pm), against=old)
    assert diff["modified"][0]["changes"] == {"parent": {"from": None, "to": a.key}}


def test_tokens_split_chinese_by_character_and_english_by_word():
    assert tokens("支持 SMS 验证码, fast!") == [
        "支", "持", " ", "SMS", " ", "验", "证", "码", ",", " ", "fast", "!",
    ]  # fmt: skip


@given(st.text(), st.text())
def test_a_diff_gives_back_both_texts(a, b):
    ops = text_diff(a, b)
    assert apply_diff(ops) == (a, b)
    assert all(o["text"] for o in ops)
    assert all(x["op"] != y["op"] for x, y in zip(ops, ops[1:], strict=False))


@given(
    st.lists(st.sampled_from(["登录", "页面", "短信", "验证码", "the", "user", " ", ".", "\n"])),
    st.lists(st.sampled_from(["登录", "页面", "邮件", "验证码", "the", "admin", " ", ","])),
)
@settings(deadline=None)  # behaviour, not timing: a loaded CI machine is slow now and then
def test_a_diff_of_mixed_text_gives_back_both_texts(a, b):
    ops = text_diff("".join(a), "".join(b))
    assert apply_diff(ops) == ("".join(a), "".join(b))


# ---------------------------------------------------------------- affected requirements


def test_cr_creation_links_affected_requirements(personas):
    p = personas
    a = make_req(p.project, by=p.pm)
    b = make_req(p.project, by=p.pm)
    cr = make_cr(p.project, by=p.customer, affected_requirements=[b.key, a.key, b.key])
    assert set(cr.affected_requirements.values_list("key", flat=True)) == {a.key, b.key}
    event = AuditEvent.objects.filter(action="cr.created", object_key=cr.key).get()
    assert event.after["affected_requirements"] == [b.key, a.key]


@pytest.mark.parametrize("keys", [["ACME-R-1", "ACME-R-7"], ["OTHER-R-1"]])
def test_cr_creation_refuses_unknown_or_foreign_requirements(personas, keys):
    p = personas
    make_req(p.project, by=p.pm)
    make_req(p.other_project, by=p.outsider)
    before = AffectedRequirement.objects.count()
    with pytest.raises(ValidationError) as exc:
        make_cr(p.project, by=p.customer, title="refused", affected_requirements=keys)
    message = exc.value.fields["affected_requirements"][0]
    bad = [k for k in keys if k != "ACME-R-1"]
    assert all(k in message for k in bad) and "ACME-R-1" not in message
    assert AffectedRequirement.objects.count() == before
    from changeflow.changes.models import ChangeRequest

    assert not ChangeRequest.objects.filter(title="refused").exists()
