"""Forms of the case pages: they check the shape; the services decide."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from changeflow.changes.forms import TextField, _blank
from changeflow.changes.models import ChangeType

from .models import TAG_MAX, TAGS_MAX, TEXT_MAX, Outcome


class CaseForm(forms.Form):
    outcome = forms.ChoiceField(label=_("Outcome"), choices=_blank(Outcome.choices))
    root_causes = TextField(
        label=_("Root causes"), required=False, max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("Why it went as it did: estimation, requirements, communication, process…"),
    )  # fmt: skip
    lessons = TextField(
        label=_("Lessons learned"), required=False, max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 8}), help_text=_("Markdown."),
    )  # fmt: skip
    tags = forms.CharField(
        label=_("Tags"), required=False, max_length=TAGS_MAX * (TAG_MAX + 2),
        help_text=_("Short labels separated by commas, e.g. estimation, 报表."),
    )  # fmt: skip
    archived = forms.BooleanField(label=_("Archived (left out of the library)"), required=False)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)


class CaseFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), max_length=200, required=False)
    outcome = forms.ChoiceField(
        label=_("Outcome"), choices=_blank(Outcome.choices, _("All outcomes")), required=False
    )
    tag = forms.ChoiceField(label=_("Tag"), required=False)
    type = forms.ChoiceField(
        label=_("Type"), choices=_blank(ChangeType.choices, _("All types")), required=False
    )

    def __init__(self, *args, tags: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        tag = self.fields["tag"]
        assert isinstance(tag, forms.ChoiceField)
        tag.choices = _blank([(t, t) for t in tags], _("All tags"))


class RatingForm(forms.Form):
    score = forms.TypedChoiceField(
        label=_("Rating"), coerce=int,
        choices=[(n, "★" * n) for n in range(5, 0, -1)], widget=forms.RadioSelect,
    )  # fmt: skip
    comment = TextField(
        label=_("Comment"), required=False, max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )  # fmt: skip
