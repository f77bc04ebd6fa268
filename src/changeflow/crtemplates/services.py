"""Writes of CR form templates. Each runs in one transaction and writes its audit event last.

Only the project's project managers (and site admins) write (``require_manager``); a template is
never deleted but archived. Updates are compare-and-set on ``version``: a write naming a version
that is no longer current, or losing the race, is a 409 and changes nothing. Editing a template
never changes a change request already made with it (the CR keeps its own snapshot).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.translation import gettext as _

from changeflow.accounts.models import Project, User
from changeflow.changes.models import ChangeType, Priority, Urgency
from changeflow.changes.services import clean_labels
from changeflow.core import audit, versioning
from changeflow.core.errors import PermissionDenied, ValidationError
from changeflow.core.validation import clean_text, invalid

from . import definitions, selectors
from .models import DESCRIPTION_MAX, NAME_MAX, SCAFFOLD_MAX, CRTemplate

EDITABLE = (
    "name", "description", "position", "archived", "type", "priority", "urgency", "labels",
    "scaffold", "fields",
)  # fmt: skip
_CHOICES = {"type": ChangeType, "priority": Priority, "urgency": Urgency}


def require_manager(user: User, project: Project) -> None:
    """403 unless ``user`` manages the templates of ``project`` (its project managers)."""
    if not selectors.may_manage(user, project):
        raise PermissionDenied(_("Only project managers manage the change request templates."))


def _clean(name: str, value: Any) -> Any:
    """One field of a template's input, cleaned, or a 400 naming it."""
    if name == "name":
        return clean_text(name, value, NAME_MAX, required=True)
    if name == "description":
        return clean_text(name, value, DESCRIPTION_MAX)
    if name == "scaffold":
        text = clean_text(name, value, SCAFFOLD_MAX, strip=False)
        return text.replace("\r\n", "\n")
    if name in _CHOICES:
        value = value or ""
        if value and value not in _CHOICES[name].values:
            raise invalid(name, _("Not one of the choices: %(v)s") % {"v": value})
        return value
    if name == "labels":
        return clean_labels(value)
    if name == "fields":
        return definitions.clean_definitions(value)
    if name == "archived":
        if not isinstance(value, bool):
            raise invalid(name, _("True or false is required."))
        return value
    # position
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000:
        raise invalid(name, _("A whole number from 0 to 10000 is required."))
    return value


def _name_free(project: Project, name: str, pk: int | None = None) -> None:
    taken = CRTemplate.objects.filter(project_id=project.pk, name=name)
    if pk is not None:
        taken = taken.exclude(pk=pk)
    if taken.exists():
        raise invalid("name", _("The project has a template of that name already."))


def snapshot(template: CRTemplate) -> dict[str, Any]:
    """The fields of ``template`` as the audit log keeps them."""
    return {name: getattr(template, name) for name in EDITABLE}


def _record(user: User, verb: str, template: CRTemplate, **kwargs: Any) -> None:
    audit.record(
        actor=user, action=f"crtemplate.{verb}", object_type="cr_template",
        object_key=str(template.pk), project=template.project.key, **kwargs,
    )  # fmt: skip


def template_create(*, user: User, project: Project, data: dict[str, Any]) -> CRTemplate:
    """A new active template of ``project``, placed last unless ``position`` is given."""
    require_manager(user, project)
    unknown = sorted(set(data) - set(EDITABLE) - {"archived"})
    if unknown:
        raise ValidationError(
            _("Some fields are unknown."), fields={k: [_("Unknown field.")] for k in unknown}
        )
    values = {name: _clean(name, data[name]) for name in EDITABLE if name in data}
    if "name" not in values:
        raise invalid("name", _("This field is required."))
    with transaction.atomic():
        # The project row serialises the creations of one project (names, positions).
        Project.objects.select_for_update().only("id").get(pk=project.pk)
        _name_free(project, values["name"])
        if "position" not in values:
            last = CRTemplate.objects.filter(project_id=project.pk).aggregate(n=Max("position"))
            values["position"] = (last["n"] or 0) + 1
        template = CRTemplate.objects.create(project=project, created_by=user, **values)
        _record(user, "created", template, after=snapshot(template))
    return template


def template_update(
    *,
    user: User,
    template: CRTemplate,
    data: dict[str, Any],
    expected_version: int | None = None,
) -> CRTemplate:
    """Change fields (``archived: true`` archives, ``false`` restores); each changed field is
    audited old → new."""
    project = template.project
    require_manager(user, project)
    unknown = sorted(set(data) - set(EDITABLE))
    if unknown:
        raise ValidationError(
            _("Some fields cannot be changed."),
            fields={k: [_("This field cannot be changed.")] for k in unknown},
        )
    values = {name: _clean(name, raw) for name, raw in data.items()}
    with transaction.atomic():
        fresh = CRTemplate.objects.select_related("project").get(pk=template.pk)
        versioning.check(fresh, expected_version)
        before, after = versioning.changes(fresh, values)
        if not after:
            return fresh
        if "name" in after:
            # The project row serialises this rename with creations and other renames, so
            # that the unique name is checked here, never broken by a concurrent write.
            Project.objects.select_for_update().only("id").get(pk=project.pk)
            _name_free(project, after["name"], fresh.pk)
        versioning.write(fresh, after)
        verb = versioning.verb(after)
        _record(user, verb, fresh, before=before, after=after | {"version": fresh.version})
    return fresh


def template_move(*, user: User, template: CRTemplate, up: bool) -> CRTemplate:
    """Move ``template`` one place up or down among the project's templates (archived ones
    included); the positions become 1..n in the new order."""
    project = template.project
    require_manager(user, project)
    with transaction.atomic():
        Project.objects.select_for_update().only("id").get(pk=project.pk)
        order = list(
            CRTemplate.objects.filter(project_id=project.pk)
            .order_by("position", "id")
            .only("id", "position", "version")
        )
        index = next(i for i, t in enumerate(order) if t.pk == template.pk)
        other = index - 1 if up else index + 1
        if not 0 <= other < len(order):
            return template
        order[index], order[other] = order[other], order[index]
        now = timezone.now()
        for position, item in enumerate(order, start=1):
            if item.position != position:
                CRTemplate.objects.filter(pk=item.pk).update(
                    position=position, version=F("version") + 1, updated_at=now
                )
        fresh = CRTemplate.objects.select_related("project").get(pk=template.pk)
        _record(
            user, "moved", fresh, before={"position": template.position},
            after={"position": fresh.position, "order": [t.pk for t in order]},
        )  # fmt: skip
    return fresh
