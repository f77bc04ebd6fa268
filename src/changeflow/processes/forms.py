"""Forms of the process pages: choosing a template or preset, saving a project's process, and
editing a saved template (its document as JSON)."""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from changeflow.accounts.models import Role, User
from changeflow.ccb.models import Rule
from changeflow.changes.workflow import State
from changeflow.reports.models import ReviewFrequency

from . import definitions, presets, selectors
from .models import DESCRIPTION_MAX, NAME_MAX

PART_LABELS = {
    "board": _("Change Control Board"),
    "delegation": _("Delegation thresholds"),
    "sla": _("Service levels"),
    "review_schedule": _("Review schedule"),
    "cr_templates": _("Change request templates"),
}


def source_choices(user: User) -> list[tuple[str, Any]]:
    """The presets and the saved templates ``user`` sees, as ``preset:<slug>`` and
    ``template:<id>`` choices (one query)."""
    saved = list(selectors.template_list(user=user).values_list("pk", "name"))
    choices: list[tuple[str, Any]] = [(f"preset:{p.slug}", p.name) for p in presets.PRESETS]
    return choices + [(f"template:{pk}", name) for pk, name in saved]


def source_arguments(value: str) -> dict[str, str]:
    """``preset:<slug>`` / ``template:<id>`` as the arguments of ``services.source_of``."""
    kind, _sep, name = (value or "").partition(":")
    if kind in ("preset", "template") and name:
        return {kind: name}
    return {}


def start_field(user: User) -> forms.ChoiceField:
    """The new-project form's choice of a template or preset to start from."""
    return forms.ChoiceField(
        label=_("Process"), required=False,
        choices=[("", _("None (the defaults)")), *source_choices(user)],
        help_text=_("Start from a process template or preset. Its board needs members first: "
                    "apply it again from the project's process settings once they are in."),
    )  # fmt: skip


class SourceForm(forms.Form):
    source = forms.ChoiceField(label=_("Template or preset"))

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = source_choices(user)  # type: ignore[attr-defined]


class UploadForm(forms.Form):
    document = forms.FileField(
        label=_("Process document (JSON)"),
        help_text=_("A file written by “changeflow process export” or the API."),
    )


class SaveForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=NAME_MAX)
    description = forms.CharField(
        label=_("Description"), max_length=DESCRIPTION_MAX, required=False, widget=forms.Textarea
    )


def document_text(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2)


def parse_document(text: str) -> Any:
    """The JSON of a document field, or a ``forms.ValidationError``."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise forms.ValidationError(_("Not valid JSON: %(why)s") % {"why": exc}) from None


class TemplateForm(SaveForm):
    document = forms.CharField(
        label=_("Process document (JSON)"), widget=forms.Textarea(attrs={"rows": 20}),
        help_text=_("Version 1; the parts board, delegation, sla, review_schedule and "
                    "cr_templates, each optional."),
    )  # fmt: skip

    def clean_document(self) -> Any:
        return parse_document(self.cleaned_data["document"])


def _board_summary(board: dict[str, Any] | None) -> str:
    if board is None:
        return str(_("The default board"))
    roles = dict(Role.choices)
    text = [str(dict(Rule.choices)[board["rule"]])]
    if board["threshold"]:
        text.append(f"≥ {board['threshold']}")
    text.append(", ".join(f"{roles[r]} ×{w}" for r, w in board["voters"].items()))
    if board["required_roles"]:
        text.append(
            _("approval required: %s") % ", ".join(str(roles[r]) for r in board["required_roles"])
        )
    if board["veto_roles"]:
        text.append(_("veto: %s") % ", ".join(str(roles[r]) for r in board["veto_roles"]))
    return "; ".join(text)


def _delegation_summary(limits: dict[str, Any]) -> str:
    words = {
        "max_effort_hours": _("effort ≤ %s h"),
        "max_cost": _("cost ≤ %s"),
        "max_schedule_days": _("schedule ≤ %s days"),
        "max_risk_exposure": _("risk exposure ≤ %s"),
    }
    text = [str(words[k]) % v for k, v in limits.items() if v is not None]
    return ", ".join(text) or str(_("No delegation"))


def _value_label(field: str, value: Any) -> Any:
    """A value of the preview as the page shows it: a rule, role or schedule by its name."""
    names = {**dict(Rule.choices), **dict(Role.choices), **dict(ReviewFrequency.choices)}
    if field == "members" and isinstance(value, list):  # "username (role ×weight)" each
        return ", ".join(
            re.sub(r"\((\w+) ×", lambda m: f"({names.get(m[1], m[1])} ×", seat) for seat in value
        )
    if isinstance(value, list):
        return ", ".join(str(names.get(v, v)) for v in value) if value else None
    if isinstance(value, str) and field in ("rule", "review_schedule"):
        return names.get(value, value)
    return value


def change_rows(part: str, changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The changes of one part of the preview (``services.PartPreview``) as the page shows them:
    each field by its name in the user's language, and its values."""
    from changeflow.accounts.models import Project
    from changeflow.ccb.models import Board

    roles, stages = dict(Role.choices), dict(State.choices)
    rows = []
    for change in changes:
        field = change["field"]
        if part == "board" and field.startswith("voters."):
            label: Any = f"{_('Weight')}: {roles[field.split('.', 1)[1]]}"
        elif part == "board" and field == "members":
            label = _("Members")
        elif part == "board" and field != "board":
            label = capfirst(Board._meta.get_field(field).verbose_name)  # type: ignore[union-attr]
        elif part == "delegation":
            column = Project._meta.get_field(f"delegate_{field}")
            label = capfirst(column.verbose_name)  # type: ignore[union-attr]
        elif part == "sla":
            stage, priority = field.split(".")
            label = f"{stages[stage]} {priority}"
        else:
            label = PART_LABELS[part]
        rows.append({"label": label, "current": _value_label(field, change["current"]),
                     "new": _value_label(field, change["new"])})  # fmt: skip
    return rows


def part_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    """A document's parts as the pages show them: a label and a short summary each, in the
    user's language and the canonical order (PostgreSQL's jsonb keeps the keys of a stored
    document in an order of its own)."""
    document = definitions.clean_document(document)
    stages = dict(State.choices)
    rows = []
    for part in definitions.parts_of(document):
        value = document[part]
        if part == "board":
            summary = _board_summary(value)
        elif part == "delegation":
            summary = _delegation_summary(value)
        elif part == "sla":
            priorities: dict[str, int] = next(iter(value.values()), {})
            summary = _("Hours for %(priorities)s: %(stages)s") % {
                "priorities": "/".join(priorities),
                "stages": "; ".join(
                    f"{stages[stage]} " + "/".join(str(h) for h in row.values())
                    for stage, row in value.items()
                ),
            }
        elif part == "review_schedule":
            summary = str(dict(ReviewFrequency.choices)[value])
        else:
            summary = ", ".join(t["name"] for t in value) or "—"
        rows.append({"part": part, "label": PART_LABELS[part], "summary": summary})
    return rows
