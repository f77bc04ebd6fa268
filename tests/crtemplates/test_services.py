"""CR form templates: the definitions and values are checked strictly, a change request keeps
the definitions it was made with, archive and stale versions."""

from __future__ import annotations

import datetime as dt

import pytest

from changeflow.changes import services as cr_services
from changeflow.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from changeflow.core.models import AuditEvent
from changeflow.crtemplates import definitions, selectors, services
from changeflow.crtemplates.models import CRTemplate
from tests.factories import fresh, make_cr

from .helpers import FIELDS, make_template

pytestmark = pytest.mark.django_db


def _error(call, *args, **kwargs) -> dict:
    with pytest.raises(ValidationError) as info:
        call(*args, **kwargs)
    return info.value.fields


# ------------------------------------------------------------------ definitions (pure)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("not a list", "A list"),
        ([{"key": "a", "label": "A", "kind": "colour"}], "unknown kind colour"),
        ([{"key": "a", "label": "A", "kind": "text"}] * 2, "used twice"),
        ([{"key": "a", "label": "A", "kind": "choice"}], "list of choices"),
        ([{"key": "a", "label": "A", "kind": "choice", "choices": [" "]}], "at least one"),
        ([{"key": "a", "label": "A", "kind": "choice", "choices": ["x", "x"]}], "twice"),
        ([{"key": "a", "label": "A", "kind": "text", "choices": ["x"]}], "only a choice"),
        ([{"key": "Bad Key", "label": "A", "kind": "text"}], "lower-case"),
        ([{"key": "a", "label": " ", "kind": "text"}], "required"),
        ([{"key": "a", "label": "A", "kind": "text", "colour": 1}], "unknown attributes"),
        ([{"key": "a", "label": "A", "kind": "text", "required": "yes"}], "true or false"),
        ([{"key": f"f{n}", "label": "F", "kind": "text"} for n in range(31)], "At most 30"),
        (["text"], "an object"),
    ],
)
def test_bad_definitions_are_refused_naming_the_problem(raw, says):
    fields = _error(definitions.clean_definitions, raw)
    assert says in fields["fields"][0]


def test_definitions_are_cleaned():
    cleaned = definitions.clean_definitions(
        [{"key": "region", "label": " 区域 ", "kind": "choice", "choices": [" 华东 ", "华南", ""]}]
    )
    assert cleaned == [
        {"key": "region", "label": "区域", "kind": "choice", "required": False, "help": "",
         "choices": ["华东", "华南"]}
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("key", "value", "stored"),
    [
        ("system", " 核心账务 ", "核心账务"),
        ("details", "line\r\nline", "line\nline"),
        ("users", 1200, "1200"),
        ("users", "12.50", "12.5"),
        ("users", "-3", "-3"),
        ("deadline", "2027-01-31", "2027-01-31"),
        ("deadline", dt.date(2027, 1, 31), "2027-01-31"),
        ("regulator", "PBOC", "PBOC"),
        ("personal_data", False, False),
        ("personal_data", True, True),
    ],
)
def test_each_kind_is_cleaned_to_its_stored_form(key, value, stored):
    defs = definitions.clean_definitions(FIELDS)
    values = definitions.clean_values(defs, {"system": "x", key: value})
    assert values[key] == stored


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("system", 12),
        ("system", "x" * 501),
        ("users", "many"),
        ("users", True),
        ("users", "NaN"),
        ("users", "1e20"),
        ("deadline", "31/01/2027"),
        ("deadline", "2027-02-30"),
        ("regulator", "SEC"),
        ("personal_data", "yes"),
        ("nope", "x"),
    ],
)
def test_wrong_values_are_field_errors_naming_the_key(key, value):
    defs = definitions.clean_definitions(FIELDS)
    fields = _error(definitions.clean_values, defs, {"system": "x", key: value})
    assert list(fields) == [f"fields.{key}"]


def test_a_required_field_left_empty_is_named():
    defs = definitions.clean_definitions(FIELDS)
    fields = _error(definitions.clean_values, defs, {"system": "  "})
    assert list(fields) == ["fields.system"]
    assert "required" in fields["fields.system"][0]


# ------------------------------------------------------------------ templates


def test_create_update_archive_restore_and_audit(personas):
    p = personas
    template = make_template(p, type="modification", priority="P2", labels=["合规", "合规"])
    assert template.position == 1 and template.version == 1
    assert template.labels == ["合规"]
    assert [f["key"] for f in template.fields] == [f["key"] for f in FIELDS]
    second = make_template(p, name="Data fix", fields=[])
    assert second.position == 2
    template = services.template_update(
        user=p.pm, template=template, data={"name": "Regulatory change (CSRC)"}, expected_version=1
    )
    assert template.version == 2
    template = services.template_update(user=p.pm, template=template, data={"archived": True})
    assert template.archived
    assert list(selectors.template_list(user=p.customer, project=p.project)) == [second]
    with pytest.raises(NotFound):
        selectors.template_get(user=p.customer, project=p.project, pk=template.pk)
    assert selectors.template_get(user=p.pm, project=p.project, pk=template.pk) == template
    services.template_update(user=p.pm, template=template, data={"archived": False})
    actions = list(
        AuditEvent.objects.filter(object_type="cr_template", object_key=str(template.pk))
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == [
        "crtemplate.created", "crtemplate.updated", "crtemplate.archived", "crtemplate.restored"
    ]  # fmt: skip
    updated = AuditEvent.objects.get(object_key=str(template.pk), action="crtemplate.updated")
    assert updated.before == {"name": "Regulatory change"}
    assert updated.after["name"] == "Regulatory change (CSRC)"


def test_a_stale_version_is_a_409_and_changes_nothing(personas):
    p = personas
    template = make_template(p)
    services.template_update(user=p.pm, template=template, data={"description": "For the law"})
    with pytest.raises(Conflict):
        services.template_update(
            user=p.pm, template=template, data={"name": "Other"}, expected_version=1
        )
    assert CRTemplate.objects.get(pk=template.pk).name == "Regulatory change"


def test_bad_template_input_is_a_400_naming_the_field(personas):
    p = personas
    make_template(p)
    assert "name" in _error(make_template, p)  # the same name twice in a project
    assert "name" in _error(make_template, p, name=" ")
    assert "type" in _error(make_template, p, name="X", type="colour")
    assert "fields" in _error(make_template, p, name="Y", fields=[{"key": "a"}])
    assert CRTemplate.objects.count() == 1
    # Another project may use the same name.
    assert make_template(p, project=p.other_project, name="Regulatory change").pk


@pytest.mark.parametrize("who", ["tech_lead", "developer", "customer", "viewer"])
def test_only_project_managers_write(personas, who):
    p = personas
    with pytest.raises(PermissionDenied):
        services.template_create(user=getattr(p, who), project=p.project, data={"name": "X"})
    template = make_template(p)
    with pytest.raises(PermissionDenied):
        services.template_update(user=getattr(p, who), template=template, data={"name": "X"})


def test_reorder(personas):
    p = personas
    a, b, c = (make_template(p, name=n, fields=[]) for n in "ABC")
    services.template_move(user=p.pm, template=c, up=True)
    names = [t.name for t in selectors.template_list(user=p.pm, project=p.project)]
    assert names == ["A", "C", "B"]
    services.template_move(user=p.pm, template=a, up=True)  # first already: nothing moves
    services.template_move(user=p.pm, template=a, up=False)
    names = [t.name for t in selectors.template_list(user=p.pm, project=p.project)]
    assert names == ["C", "A", "B"]


# ------------------------------------------------------------------ change requests


def test_a_cr_made_with_a_template_takes_its_defaults_and_keeps_its_definitions(personas):
    p = personas
    template = make_template(p, type="modification", priority="P2", urgency="high",
                             labels=["合规"])  # fmt: skip
    cr = make_cr(p.project, by=p.customer, template=template.pk,
                 fields={"system": "核心账务", "users": "1200", "regulator": "CSRC",
                         "personal_data": True})  # fmt: skip
    assert (cr.type, cr.priority, cr.urgency, cr.labels) == ("modification", "P2", "high", ["合规"])
    assert cr.template == template
    assert cr.field_values == {
        "system": "核心账务", "users": "1200", "regulator": "CSRC", "personal_data": True
    }  # fmt: skip
    created = AuditEvent.objects.get(object_key=cr.key, action="cr.created")
    assert created.after["template"] == "Regulatory change"
    assert created.after["fields"]["system"] == "核心账务"
    # Editing the template (a label, a choice dropped, a new required field) does not change
    # how the CR reads, nor what an edit of it is checked against.
    new_fields = [dict(f) for f in FIELDS]
    new_fields[0]["label"] = "System"
    new_fields[4]["choices"] = ["PBOC"]
    new_fields.append({"key": "owner", "label": "Owner", "kind": "text", "required": True})
    services.template_update(user=p.pm, template=template, data={"fields": new_fields})
    cr = fresh(cr, p.customer)
    assert cr.field_definitions[0]["label"] == "受影响系统 / Affected system"
    assert len(cr.field_definitions) == len(FIELDS)
    cr = cr_services.change_request_update(
        user=p.customer, cr=cr, data={"fields": {"users": 1300, "personal_data": None}}
    )
    assert cr.field_values == {"system": "核心账务", "users": "1300", "regulator": "CSRC"}
    updated = AuditEvent.objects.filter(object_key=cr.key, action="cr.updated").latest("seq")
    assert updated.before == {"fields": {"users": "1200", "personal_data": True}}
    assert updated.after == {"fields": {"users": "1300", "personal_data": None}}


def test_cr_values_are_checked_on_create_and_on_edit(personas):
    p = personas
    template = make_template(p)
    fields = _error(make_cr, p.project, by=p.customer, template=template.pk, fields={})
    assert list(fields) == ["fields.system"]
    fields = _error(make_cr, p.project, by=p.customer, template=template.pk,
                    fields={"system": "x", "regulator": "SEC", "colour": "red"})  # fmt: skip
    assert set(fields) == {"fields.regulator", "fields.colour"}
    # Custom fields without a template: every key is unknown.
    assert list(_error(make_cr, p.project, by=p.customer, fields={"a": "b"})) == ["fields.a"]
    cr = make_cr(p.project, by=p.customer, template=template.pk, fields={"system": "x"})
    for data in ({"fields": {"system": ""}}, {"fields": {"users": "lots"}}, {"fields": "x"}):
        with pytest.raises(ValidationError):
            cr_services.change_request_update(user=p.customer, cr=cr, data=data)
    assert fresh(cr, p.customer).field_values == {"system": "x"}
    assert fresh(cr, p.customer).version == 1


def test_archived_or_foreign_templates_are_refused(personas):
    p = personas
    archived = make_template(p, name="Old")
    services.template_update(user=p.pm, template=archived, data={"archived": True})
    foreign = make_template(p, project=p.other_project, name="Theirs")
    for pk in (archived.pk, foreign.pk, 999_999, "x"):
        fields = _error(make_cr, p.project, by=p.customer, template=pk, fields={"system": "x"})
        assert list(fields) == ["template"], pk


def test_an_old_cr_of_an_archived_template_still_edits(personas):
    p = personas
    template = make_template(p)
    cr = make_cr(p.project, by=p.customer, template=template.pk, fields={"system": "x"})
    services.template_update(user=p.pm, template=template, data={"archived": True})
    cr = cr_services.change_request_update(
        user=p.customer, cr=fresh(cr, p.customer), data={"fields": {"system": "y"}}
    )
    assert cr.field_values == {"system": "y"}


def test_switching_and_clearing_the_template_of_a_cr(personas):
    p = personas
    first = make_template(p)
    second = make_template(p, name="UI tweak", fields=[
        {"key": "system", "label": "Screen", "kind": "text"},
        {"key": "browser", "label": "Browser", "kind": "choice", "choices": ["Chrome", "Edge"]},
    ])  # fmt: skip
    cr = make_cr(p.project, by=p.pm, template=first.pk, fields={"system": "x", "users": 3})
    cr = cr_services.change_request_update(
        user=p.pm, cr=cr, data={"template": second.pk, "fields": {"browser": "Edge"}}
    )
    assert cr.template == second
    assert [d["key"] for d in cr.field_definitions] == ["system", "browser"]
    assert cr.field_values == {"system": "x", "browser": "Edge"}
    event = AuditEvent.objects.filter(object_key=cr.key, action="cr.updated").latest("seq")
    assert event.before["template"] == "Regulatory change"
    assert event.after["template"] == "UI tweak"
    cr = cr_services.change_request_update(user=p.pm, cr=cr, data={"template": None})
    assert (cr.template, cr.field_definitions, cr.field_values) == (None, [], {})


def test_a_cr_without_template_works_as_before(personas):
    p = personas
    cr = make_cr(p.project, by=p.customer)
    assert (cr.template, cr.field_definitions, cr.field_values) == (None, [], {})
    cr = cr_services.change_request_update(user=p.customer, cr=cr, data={"fields": {}})
    assert cr.version == 1
