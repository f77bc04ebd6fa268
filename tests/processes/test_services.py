"""Applying a process: each part through its own service, the preview without writes, a shared
board left alone (409), a failure leaving nothing half-applied, who may; saved templates."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from changeflow.accounts import services as accounts
from changeflow.ccb import services as ccb
from changeflow.ccb.models import Board, BoardMember
from changeflow.comms.sla import targets
from changeflow.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    ValidationError,
)
from changeflow.core.models import AuditEvent
from changeflow.crtemplates import services as forms
from changeflow.crtemplates.models import CRTemplate
from changeflow.processes import presets, services
from changeflow.processes.models import ProcessTemplate
from changeflow.reports.reviews import schedule_of
from tests.factories import make_project, make_user

pytestmark = pytest.mark.django_db

FIXED = presets.BY_SLUG["fixed-price"]


def _apply(p, source, project=None, **kw):
    return services.process_apply(user=p.pm, project=project or p.project, source=source, **kw)


def preset(slug):
    return services.source_of(user=None, preset=slug)  # type: ignore[arg-type]


def test_a_preset_applies_every_part_through_the_services(personas):
    p = personas
    result = _apply(p, preset("fixed-price"))
    assert result["applied"] and result["applied_parts"] == [
        "board", "delegation", "sla", "review_schedule",
    ]  # fmt: skip
    board = Board.objects.get(links__project=p.project)
    assert board.rule == "weighted" and board.threshold == Decimal("0.6")
    assert board.required_roles == ["customer_rep"] and board.ratification_days == 3
    seats = {m.user.username: (m.role, m.weight) for m in BoardMember.objects.filter(board=board)}
    assert seats == {
        p.pm.username: ("project_manager", Decimal(2)), p.tech_lead.username: ("tech_lead", 1),
        p.qa.username: ("qa", 1), p.customer_rep.username: ("customer_rep", 3),
    }  # fmt: skip
    p.project.refresh_from_db()
    assert p.project.delegate_max_effort_hours == Decimal(8)
    assert targets(p.project)["submitted"]["P1"] == 2
    assert schedule_of(p.project) == "weekly"
    actions = list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))[-5:]
    assert actions == [
        "board.set",
        "delegation.set",
        "sla.targets_set",
        "review_schedule.updated",
        "process.applied",
    ]
    last = AuditEvent.objects.order_by("-seq").first()
    assert last.after["source"] == {"kind": "preset", "name": "fixed-price"}
    # The project's process now reads as the preset (the board's voters by role).
    assert services.process_of(p.project)["board"] == FIXED.document["board"]
    # Applying it again changes nothing.
    again = _apply(p, preset("fixed-price"), dry_run=True)
    assert {part["status"] for part in again["parts"]} == {"unchanged"}


def test_the_preview_writes_nothing_and_says_what_changes(personas):
    p = personas
    with CaptureQueriesContext(connection) as queries:
        result = _apply(p, preset("regulated"), dry_run=True)
    assert not [
        q
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert result["applied"] is False
    board = next(part for part in result["parts"] if part["part"] == "board")
    assert board["status"] == "changes"
    assert {"field": "rule", "current": "majority", "new": "unanimous"} in board["changes"]
    review = next(part for part in result["parts"] if part["part"] == "review_schedule")
    assert review["changes"] == [{"field": "review_schedule", "current": "off", "new": "monthly"}]
    assert not Board.objects.exists()


def test_a_voter_role_nobody_holds_is_reported_and_left_off(personas):
    p = personas
    accounts.membership_remove(user=p.pm, project=p.project, username=p.developer.username)
    result = _apply(p, preset("internal"), parts=["board"])
    board = result["parts"][0]
    assert board["status"] == "changes" and "developer" in board["notes"][0]
    assert not BoardMember.objects.filter(role="developer").exists()


def test_a_required_role_nobody_holds_blocks_the_board(personas):
    p = personas
    accounts.membership_remove(user=p.pm, project=p.project, username=p.customer_rep.username)
    preview = _apply(p, preset("fixed-price"), dry_run=True)
    assert preview["parts"][0]["status"] == "blocked"
    with pytest.raises(PreconditionFailed) as caught:
        _apply(p, preset("fixed-price"))
    assert list(caught.value.fields) == ["board"]
    assert schedule_of(p.project) == "off"  # nothing else applied either
    # The other parts alone apply.
    _apply(p, preset("fixed-price"), parts=["review_schedule"])
    assert schedule_of(p.project) == "weekly"


def test_a_shared_board_is_not_changed(personas):
    p = personas
    second = make_project("SHARE", manager=p.pm)
    ccb.board_set(
        user=p.pm, project=p.project,
        data={"members": [{"username": p.pm.username}], "projects": ["ACME", "SHARE"]},
    )  # fmt: skip
    preview = _apply(p, preset("regulated"), dry_run=True)
    assert preview["parts"][0]["status"] == "blocked"
    assert preview["parts"][0]["shared_with"] == ["SHARE"]
    with pytest.raises(Conflict) as caught:
        _apply(p, preset("regulated"))
    assert "SHARE" in str(caught.value.message)
    assert Board.objects.get().rule == "majority"
    assert schedule_of(p.project) == "off"
    assert second.key == "SHARE"


def test_a_failure_leaves_nothing_half_applied(personas, monkeypatch):
    """A part whose service refuses after others were written: all of them are undone."""
    p = personas
    forms.template_create(user=p.pm, project=p.project, data={"name": "Taken"})
    before = AuditEvent.objects.count()
    document = {
        "version": 1, "review_schedule": "weekly", "sla": {"submitted": {"P1": 1}},
        "cr_templates": [{"name": "A"}, {"name": "Taken"}, {"name": "B"}],
    }  # fmt: skip
    real = forms.template_create

    def refuse_b(**kwargs):  # fault injection: the second new template's write fails
        if kwargs["data"]["name"] == "B":
            raise ValidationError("refused", fields={"name": ["refused"]})
        return real(**kwargs)

    monkeypatch.setattr(forms, "template_create", refuse_b)
    source = services.Source("document", "", document)
    with pytest.raises(ValidationError):
        _apply(p, source)
    assert schedule_of(p.project) == "off"
    assert targets(p.project)["submitted"]["P1"] == 4
    assert set(CRTemplate.objects.values_list("name", flat=True)) == {"Taken"}
    assert AuditEvent.objects.count() == before
    monkeypatch.undo()
    result = _apply(p, source)
    templates = result["parts"][-1]
    assert "Taken" in templates["notes"][0]
    assert set(CRTemplate.objects.values_list("name", flat=True)) == {"Taken", "A", "B"}


def test_the_default_board_removes_a_configured_one(personas):
    p = personas
    _apply(p, preset("regulated"), parts=["board"])
    assert Board.objects.count() == 1
    _apply(p, preset("standard"), parts=["board"])
    assert not Board.objects.exists()
    assert services.process_of(p.project)["board"] is None


def test_who_may_apply(personas):
    p = personas
    services.process_apply(user=p.admin, project=p.project, source=preset("internal"))
    for member in (p.tech_lead, p.qa, p.customer_rep, p.viewer):
        with pytest.raises(PermissionDenied):
            services.process_apply(user=member, project=p.project, source=preset("internal"))
    with pytest.raises(NotFound):
        services.process_apply(user=p.outsider, project=p.project, source=preset("internal"))


def test_a_project_saved_as_a_template_applies_to_another(personas):
    p = personas
    _apply(p, preset("fixed-price"))
    forms.template_create(user=p.pm, project=p.project, data={"name": "Data fix", "type": "defect"})
    saved = services.template_create(user=p.pm, name="Our way", project=p.project)
    assert saved.document["cr_templates"][0]["name"] == "Data fix"
    assert saved.document["review_schedule"] == "weekly"
    with pytest.raises(ValidationError) as caught:
        services.template_create(user=p.pm, name="Our way", document={"version": 1})
    assert list(caught.value.fields) == ["name"]
    with pytest.raises(PermissionDenied):
        services.template_create(user=p.qa, name="QA's", project=p.project)
    with pytest.raises(NotFound):
        services.template_create(user=p.outsider, name="Theirs", project=p.project)
    source = services.source_of(user=p.outsider, template="Our way")
    dry = services.process_apply(
        user=p.outsider, project=p.other_project, source=source, dry_run=True
    )
    assert dry["parts"][0]["status"] == "blocked"  # OTHER has only its manager: no customer rep
    with pytest.raises(PreconditionFailed):
        services.process_apply(user=p.outsider, project=p.other_project, source=source)
    parts = ["delegation", "sla", "review_schedule", "cr_templates"]
    services.process_apply(user=p.outsider, project=p.other_project, source=source, parts=parts)
    assert schedule_of(p.other_project) == "weekly"
    assert CRTemplate.objects.filter(project=p.other_project, name="Data fix").exists()


def test_a_new_project_starts_from_a_preset(personas):
    p = personas
    project, result = services.project_create(
        user=p.admin, key="NEW", name="New", preset="regulated"
    )
    assert schedule_of(project) == "monthly"
    assert "board" not in result["applied_parts"]  # the required QA is not a member yet
    assert AuditEvent.objects.filter(action="process.applied", project="NEW").exists()
    with pytest.raises(NotFound):
        services.project_create(user=p.admin, key="NEW2", name="x", preset="nope")
    with pytest.raises(NotFound):
        services.project_create(user=p.admin, key="NEW2", name="x", template="nope")
    from changeflow.accounts.models import Project

    assert not Project.objects.filter(key="NEW2").exists()


def test_templates_are_edited_by_their_creator_with_versions(personas):
    p = personas
    saved = services.template_create(user=p.pm, name="Mine", document={"version": 1})
    assert saved.version == 1
    changed = services.template_update(
        user=p.pm, template=saved, data={"description": "x"}, expected_version=1
    )
    assert changed.version == 2
    with pytest.raises(Conflict):
        services.template_update(user=p.pm, template=saved, data={"name": "Y"}, expected_version=1)
    with pytest.raises(PermissionDenied):
        services.template_update(user=p.outsider, template=saved, data={"archived": True})
    archived = services.template_update(user=p.admin, template=saved, data={"archived": True})
    assert archived.archived and archived.version == 3
    assert AuditEvent.objects.filter(action="process_template.archived").exists()
    with pytest.raises(ValidationError) as caught:
        services.template_update(user=p.pm, template=saved, data={"document": {"version": 3}})
    assert list(caught.value.fields) == ["version"]
    loner = make_user("loner")
    with pytest.raises(NotFound):
        services.template_create(user=loner, name="L", document={"version": 1})
    with pytest.raises(PermissionDenied):
        services.template_create(user=p.qa, name="Q", document={"version": 1})
    assert ProcessTemplate.objects.count() == 1
