"""Forms of the template pages and the custom fields a CR form adds. They check shapes; the
services (``crtemplates.definitions`` through them) decide."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from changeflow.changes.forms import LabelsField, TextField, _blank
from changeflow.changes.models import ChangeType, Priority, Urgency

from . import definitions
from .models import DESCRIPTION_MAX, NAME_MAX, SCAFFOLD_MAX, FieldKind

CHOICE_SPLIT = re.compile(r"\s*[\n,，;；]\s*")
PREFIX = "fields."  # the names of custom fields on a CR form: the services' error names


class TemplateForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=NAME_MAX)
    description = TextField(
        label=_("What it is for"), max_length=DESCRIPTION_MAX, required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Shown to whoever chooses the form, e.g. “Changes a regulator requires”."),
    )  # fmt: skip
    type = forms.ChoiceField(label=_("Type"), choices=_blank(ChangeType.choices), required=False)
    priority = forms.ChoiceField(
        label=_("Priority"), choices=_blank(Priority.choices), required=False
    )
    urgency = forms.ChoiceField(label=_("Urgency"), choices=_blank(Urgency.choices), required=False)
    labels = LabelsField(
        label=_("Labels"), max_length=1100, required=False, help_text=_("Separated by commas.")
    )
    scaffold = TextField(
        label=_("Description scaffold"), max_length=SCAFFOLD_MAX, required=False, strip=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("Markdown a new change request's description starts with, e.g. headings "
                    "to fill in."),
    )  # fmt: skip


class FieldDefinitionForm(forms.Form):
    """One custom field; a row left without a key is skipped."""

    key = forms.CharField(
        label=_("Key"), max_length=definitions.KEY_MAX, required=False,
        help_text=_("Lower-case letters, digits, underscores."),
    )  # fmt: skip
    label = forms.CharField(label=_("Label"), max_length=definitions.LABEL_MAX, required=False)
    kind = forms.ChoiceField(label=_("Kind"), choices=FieldKind.choices, initial=FieldKind.TEXT)
    required = forms.BooleanField(label=_("Required"), required=False)
    choices = TextField(
        label=_("Choices"), required=False, max_length=6000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("For a choice field: one per line, or separated by commas."),
    )  # fmt: skip
    help = forms.CharField(label=_("Help text"), max_length=definitions.HELP_MAX, required=False)


FieldFormSet = forms.formset_factory(
    FieldDefinitionForm, extra=3, max_num=definitions.MAX_FIELDS,
    absolute_max=definitions.MAX_FIELDS,
)  # fmt: skip


def definitions_of(formset) -> list[dict[str, Any]]:
    """The definitions a valid formset describes, for the service to check."""
    out = []
    for data in formset.cleaned_data:
        if not data or not (data.get("key") or "").strip():
            continue
        choices = [c for c in CHOICE_SPLIT.split(data.get("choices") or "") if c]
        out.append(
            {"key": data["key"].strip(), "label": data.get("label") or "", "kind": data["kind"],
             "required": bool(data.get("required")), "help": data.get("help") or "",
             "choices": choices if data["kind"] == FieldKind.CHOICE else []}
        )  # fmt: skip
    return out


def formset_initial(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [dict(f, choices="\n".join(f.get("choices") or [])) for f in fields]


# ------------------------------------------------------------------ a CR form's custom fields


def _form_field(defn: dict[str, Any]) -> forms.Field:
    common: dict[str, Any] = {
        "label": defn["label"], "required": defn["required"], "help_text": defn.get("help", ""),
    }  # fmt: skip
    kind = defn["kind"]
    if kind == FieldKind.TEXT:
        return forms.CharField(max_length=definitions.TEXT_MAX, **common)
    if kind == FieldKind.LONG_TEXT:
        return TextField(
            max_length=definitions.LONG_TEXT_MAX, widget=forms.Textarea(attrs={"rows": 4}),
            **common,
        )  # fmt: skip
    if kind == FieldKind.NUMBER:
        return forms.DecimalField(max_digits=30, decimal_places=10, **common)
    if kind == FieldKind.DATE:
        return forms.DateField(
            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"), **common
        )
    if kind == FieldKind.CHOICE:
        return forms.ChoiceField(choices=_blank([(c, c) for c in defn["choices"]]), **common)
    # yes/no: unanswered, yes or no; a required one left unanswered is the service's error
    # (NullBooleanField takes "unanswered" as a value).
    return forms.NullBooleanField(**common)


def add_custom_fields(
    form: forms.Form, defs: list[dict[str, Any]], values: dict[str, Any] | None = None
) -> None:
    """Add the custom fields ``defs`` to ``form`` (named ``fields.<key>``), with ``values``
    as their initial values."""
    for defn in defs:
        name = PREFIX + defn["key"]
        form.fields[name] = _form_field(defn)
        if values and defn["key"] in values:
            form.initial[name] = values[defn["key"]]


def custom_values(form: forms.Form, names: Any = None) -> dict[str, Any]:
    """The custom field values of a valid ``form`` (of ``names`` only, when given), key →
    value for the service."""
    return {
        name.removeprefix(PREFIX): form.cleaned_data.get(name)
        for name in form.fields
        if name.startswith(PREFIX) and (names is None or name in names)
    }


def custom_bound_fields(form: forms.Form) -> list:
    return [form[name] for name in form.fields if name.startswith(PREFIX)]
