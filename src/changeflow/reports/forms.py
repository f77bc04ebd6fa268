"""Forms of the process review pages: improvement actions (they check shapes; ``reports.actions``
decides) and the metrics page's period."""

from __future__ import annotations

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from changeflow.core.errors import ValidationError

from . import metrics
from .actions import TRANSITIONS
from .models import TEXT_MAX, TITLE_MAX, ActionStatus, ReportKind, ReviewFrequency

KEYS = re.compile(r"[\s,，;；]+")


class ImprovementForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=TITLE_MAX)
    owner = forms.ChoiceField(label=_("Owner"))
    due_date = forms.DateField(
        label=_("Due date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    problem = forms.CharField(
        label=_("Problem addressed"), required=False, max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What went wrong in the change process, and where it was seen."),
    )  # fmt: skip
    description = forms.CharField(
        label=_("Description"), required=False, max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 5}), help_text=_("Markdown is supported."),
    )  # fmt: skip
    change_requests = forms.CharField(
        label=_("Motivating change requests"), required=False, max_length=4000,
        help_text=_("Keys separated by commas or spaces, e.g. ACME-12, ACME-15."),
    )  # fmt: skip

    def __init__(self, *args, members=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [("", "—")] + [
            (m.user.username, m.user.display_name or m.user.username) for m in members
        ]

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        data["change_requests"] = [k for k in KEYS.split(data["change_requests"]) if k]
        return data


class ProgressForm(forms.Form):
    progress = forms.IntegerField(label=_("Progress (%)"), min_value=0, max_value=100)


class TransitionForm(forms.Form):
    action = forms.ChoiceField(choices=[(k, k) for k in TRANSITIONS], widget=forms.HiddenInput)
    resolution = forms.CharField(
        label=_("Resolution"), required=False, max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What was changed, and the evidence that it works."),
    )  # fmt: skip
    comment = forms.CharField(
        label=_("Comment"), required=False, max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
    )  # fmt: skip


class FilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All")), *ActionStatus.choices]
    )
    owner = forms.ChoiceField(label=_("Owner"), required=False)
    overdue = forms.ChoiceField(
        label=_("Overdue"), required=False,
        choices=[("", _("All")), ("1", _("Overdue only")), ("0", _("Not overdue"))],
    )  # fmt: skip

    def __init__(self, *args, members=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [("", _("All"))] + [
            (m.user.username, m.user.display_name or m.user.username) for m in members
        ]

    def filters(self) -> dict:
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        overdue = {"1": True, "0": False}.get(data["overdue"])
        return {"status": data["status"], "owner": data["owner"], "overdue": overdue}


def optional_date(label, help_text="") -> forms.DateField:
    """An optional date field whose input shows its value as YYYY-MM-DD in every language."""
    widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    return forms.DateField(label=label, help_text=help_text, widget=widget, required=False)


class PeriodForm(forms.Form):
    """``from`` and ``to`` (a Python keyword: the fields are added by name); the period is
    checked by ``metrics.parse_period``, whose errors name the field."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["from"] = optional_date(_("From"))
        self.fields["to"] = optional_date(_("To"), _("The first day after the period."))
        self.period: metrics.Period | None = None

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.period = metrics.parse_period(data.get("from"), data.get("to"))
        except ValidationError as exc:
            for name, messages in (exc.fields or {}).items():
                for message in messages:
                    self.add_error(name, str(message))
        return data


class ScheduleForm(forms.Form):
    frequency = forms.ChoiceField(
        label=_("Review reports"), choices=ReviewFrequency.choices,
        help_text=_("Weekly: each Monday–Sunday week; monthly: each calendar month. A report "
                    "is generated once the period is over."),
    )  # fmt: skip


class GenerateForm(forms.Form):
    """A report to generate now: weekly or monthly with a day inside a complete period, or on
    demand over [from, to). ``reviews.requested_period`` checks it and names the field."""

    kind = forms.ChoiceField(label=_("Kind"), choices=ReportKind.choices)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["date"] = optional_date(_("A day in the week or month"))
        self.fields["from"] = optional_date(_("From"), _("On demand only."))
        self.fields["to"] = optional_date(_("To"), _("The first day after the period."))
