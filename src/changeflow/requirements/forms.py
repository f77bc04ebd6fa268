"""Forms of the requirements pages: they parse and show errors; services decide."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import (
    BASELINE_NAME_MAX,
    TEXT_MAX,
    TITLE_MAX,
    ArtifactKind,
    Kind,
    LinkKind,
    RequirementPriority,
    RequirementStatus,
)


def lf_line_ends(text: str) -> str:
    """Browsers send CRLF from a textarea; versions and diffs compare LF text."""
    return (text or "").replace("\r\n", "\n").replace("\r", "\n")


def _any(choices) -> list[tuple[str, str]]:
    return [("", _("Any")), *choices]


class RequirementFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=_any(Kind.choices))
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=_any(RequirementStatus.choices)
    )


class RequirementForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=TITLE_MAX)
    text = forms.CharField(
        label=_("Text"),
        required=False,
        max_length=TEXT_MAX,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text=_("Plain text or Markdown."),
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=Kind.choices, initial=Kind.FUNCTIONAL)
    priority = forms.ChoiceField(
        label=_("Priority"), choices=RequirementPriority.choices, initial="should"
    )
    status = forms.ChoiceField(
        label=_("Status"), choices=RequirementStatus.choices, initial="draft"
    )
    parent = forms.CharField(
        label=_("Parent"),
        required=False,
        max_length=32,
        help_text=_("Key of the parent requirement, e.g. ACME-R-1; empty for a top one."),
    )

    def clean_text(self) -> str:
        return lf_line_ends(self.cleaned_data["text"])


class RequirementEditForm(RequirementForm):
    version = forms.IntegerField(widget=forms.HiddenInput)
    change_request = forms.CharField(
        label=_("Change request"),
        required=False,
        max_length=24,
        help_text=_("The change request causing this edit, e.g. ACME-12."),
    )


class ArtifactForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=ArtifactKind.choices)
    title = forms.CharField(label=_("Title"), max_length=TITLE_MAX)
    description = forms.CharField(
        label=_("Description"),
        required=False,
        max_length=TEXT_MAX,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8}),
    )

    def clean_description(self) -> str:
        return lf_line_ends(self.cleaned_data["description"])


class ArtifactEditForm(ArtifactForm):
    version = forms.IntegerField(widget=forms.HiddenInput)
    change_request = forms.CharField(label=_("Change request"), required=False, max_length=24)


class LinkForm(forms.Form):
    source = forms.CharField(
        label=_("Source (downstream)"),
        max_length=32,
        help_text=_("e.g. ACME-A-2, the test that verifies"),
    )
    kind = forms.ChoiceField(label=_("Link kind"), choices=LinkKind.choices)
    target = forms.CharField(
        label=_("Target (upstream)"),
        max_length=32,
        help_text=_("e.g. ACME-R-1, the requirement it verifies"),
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput)


class BaselineForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=BASELINE_NAME_MAX)
    description = forms.CharField(
        label=_("Description"), required=False, max_length=10_000, widget=forms.Textarea(
            attrs={"rows": 3})
    )  # fmt: skip


class ImportForm(forms.Form):
    file = forms.FileField(label=_("File"), help_text=_("CSV, XLSX or ReqIF (.reqif, .reqifz)."))
    change_request = forms.CharField(
        label=_("Change request"),
        required=False,
        max_length=24,
        help_text=_(
            "Needed when the file changes a baselined requirement: a change request being "
            "implemented, e.g. ACME-12."
        ),
    )


class MatrixFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=_any(Kind.choices))
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=_any(RequirementStatus.choices)
    )
    link_kind = forms.ChoiceField(
        label=_("Link kind"), required=False, choices=_any(LinkKind.choices)
    )
    artifact_kind = forms.ChoiceField(
        label=_("Artifact kind"), required=False, choices=_any(ArtifactKind.choices)
    )
    suspect = forms.BooleanField(label=_("Suspect links only"), required=False)
