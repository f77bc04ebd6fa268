"""Forms of the change-request pages. They check shape; the services check the rules."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .models import (
    TEXT_MAX,
    TITLE_MAX,
    AssessmentMethod,
    ChangeRequest,
    ChangeType,
    Channel,
    Priority,
    Urgency,
    VoteDecision,
)
from .workflow import State


def _blank(choices, label=None):
    return [("", label or "—"), *choices]


class TextField(forms.CharField):
    """Multi-line text: browsers send CRLF; store LF so that an untouched field is unchanged."""

    def to_python(self, value):
        text = super().to_python(value)
        return text.replace("\r\n", "\n").replace("\r", "\n") if text else text


class LabelsField(forms.CharField):
    """Labels typed as comma-separated text (Chinese or ASCII commas)."""

    def to_python(self, value):
        text = super().to_python(value) or ""
        parts = text.replace("，", ",").replace("、", ",").split(",")
        return [p.strip() for p in parts if p.strip()]

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(value)
        return value

    def has_changed(self, initial, data):
        return sorted(self.to_python(self.prepare_value(initial) or "")) != sorted(
            self.to_python(data)
        )


class ChangeRequestFieldsForm(forms.Form):
    """The descriptive fields and classification of a CR (create and edit)."""

    title = forms.CharField(label=_("Title"), max_length=TITLE_MAX)
    description = TextField(
        label=_("Description"),
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("Plain text or Markdown."),
    )
    reason = TextField(
        label=_("Reason"),
        max_length=TEXT_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    expected_benefit = TextField(
        label=_("Expected benefit"),
        max_length=TEXT_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    channel = forms.ChoiceField(label=_("Channel"), choices=Channel.choices, initial=Channel.WEB)
    type = forms.ChoiceField(label=_("Type"), choices=_blank(ChangeType.choices), required=False)
    priority = forms.ChoiceField(
        label=_("Priority"), choices=_blank(Priority.choices), required=False
    )
    urgency = forms.ChoiceField(label=_("Urgency"), choices=_blank(Urgency.choices), required=False)
    labels = LabelsField(
        label=_("Labels"),
        max_length=1100,
        required=False,
        help_text=_("Separated by commas."),
    )
    emergency = forms.BooleanField(
        label=_("Emergency"),
        required=False,
        help_text=_("May be approved at once and ratified by the board afterwards."),
    )
    desired_date = forms.DateField(
        label=_("Desired date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    requester_contact = forms.CharField(
        label=_("External requester"),
        max_length=200,
        required=False,
        help_text=_("Name or e-mail of a requester who has no account."),
    )

    def clean_title(self):
        title = self.cleaned_data["title"].strip()
        if not title:
            raise forms.ValidationError(_("Required."))
        return title


class ChangeRequestCreateForm(ChangeRequestFieldsForm):
    requested_by = forms.ChoiceField(label=_("Requester"), required=False)
    submit = forms.BooleanField(
        label=_("Submit right away"),
        required=False,
        help_text=_("Otherwise the change request is saved as a draft."),
    )

    field_order = [
        "title",
        "description",
        "reason",
        "expected_benefit",
        "type",
        "priority",
        "urgency",
        "channel",
        "requested_by",
        "requester_contact",
        "desired_date",
        "labels",
        "emergency",
        "submit",
    ]

    def __init__(self, *args, members=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["requested_by"].choices = _blank(
            [(m.user.username, str(m.user)) for m in members], _("Me")
        )


class ChangeRequestEditForm(ChangeRequestFieldsForm):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    @classmethod
    def for_cr(cls, cr: ChangeRequest, data=None, *, assignable=None):
        """``assignable``: the (username, name) choices when the editor may set the assignee;
        None leaves the field out."""
        initial = {name: getattr(cr, name) for name in cls.base_fields if name != "version"}
        initial["version"] = cr.version
        form = cls(data, initial=initial)
        if assignable is not None:
            form.fields["assignee"] = forms.ChoiceField(
                label=_("Assignee"), required=False,
                choices=[("", _("Nobody")), *assignable],
                help_text=_("Who owes the next step; told now, and first when the SLA is missed."),
            )  # fmt: skip
            form.initial["assignee"] = cr.assignee.username if cr.assignee is not None else ""
        return form


class ActualsForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    actual_effort_hours = forms.DecimalField(
        label=_("Actual effort (hours)"), required=False, min_value=0, max_digits=10,
        decimal_places=2,
    )  # fmt: skip
    actual_cost = forms.DecimalField(
        label=_("Actual cost"), required=False, min_value=0, max_digits=14, decimal_places=2
    )
    actual_schedule_days = forms.DecimalField(
        label=_("Actual schedule (days)"), required=False, min_value=0, max_digits=8,
        decimal_places=2,
    )  # fmt: skip

    @classmethod
    def for_cr(cls, cr: ChangeRequest, data=None):
        initial = {name: getattr(cr, name) for name in cls.base_fields if name != "version"}
        initial["version"] = cr.version
        return cls(data, initial=initial)


class TransitionForm(forms.Form):
    action = forms.CharField(max_length=40)
    comment = TextField(
        label=_("Comment"),
        max_length=TEXT_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Required to return a change request or reject a verification."),
    )


class CommentForm(forms.Form):
    body = TextField(
        label=_("Comment"), max_length=TEXT_MAX, widget=forms.Textarea(attrs={"rows": 3})
    )
    internal = forms.BooleanField(label=_("Internal (hidden from the customer)"), required=False)


class AttachmentForm(forms.Form):
    file = forms.FileField(label=_("File"))


class VoteForm(forms.Form):
    """The board's vote; on the CR page beside the transition form, whose comment would
    otherwise share its id (``id_comment``) and take the other's label."""

    decision = forms.ChoiceField(
        label=_("Your vote"), choices=VoteDecision.choices, widget=forms.RadioSelect
    )
    comment = TextField(
        label=pgettext_lazy("vote", "Comment"),
        max_length=TEXT_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    password = forms.CharField(
        label=_("Your password (electronic signature)"),
        max_length=4096,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "id_vote_%s")
        super().__init__(*args, **kwargs)


class AssessmentForm(forms.Form):
    method = forms.ChoiceField(
        label=_("Method"), choices=AssessmentMethod.choices, initial=AssessmentMethod.MANUAL
    )
    effort_hours = forms.DecimalField(
        label=_("Effort (person-hours)"), required=False, min_value=0, max_digits=10,
        decimal_places=2,
    )  # fmt: skip
    schedule_days = forms.DecimalField(
        label=_("Schedule impact (days)"), required=False, min_value=0, max_digits=8,
        decimal_places=2,
    )  # fmt: skip
    cost = forms.DecimalField(
        label=_("Cost"), required=False, min_value=0, max_digits=14, decimal_places=2
    )
    currency = forms.RegexField(
        label=_("Currency"),
        regex=r"^[A-Za-z]{3}\Z",
        max_length=3,
        error_messages={"invalid": _("Three letters, e.g. CNY.")},
    )
    notes = TextField(
        label=_("Notes"),
        max_length=TEXT_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class ResourceForm(forms.Form):
    role = forms.CharField(label=_("Role or person"), max_length=100, required=False)
    hours = forms.DecimalField(
        label=_("Hours"), required=False, min_value=0, max_digits=10, decimal_places=2
    )

    def clean(self):
        data = super().clean()
        if data.get("role") and data.get("hours") is None:
            self.add_error("hours", _("Required."))
        if data.get("hours") is not None and not data.get("role"):
            self.add_error("role", _("Required."))
        return data


class RiskForm(forms.Form):
    description = TextField(
        label=_("Risk"), max_length=10_000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    probability = forms.DecimalField(
        label=_("Probability (0–1)"), required=False, min_value=0, max_value=1, max_digits=4,
        decimal_places=3,
    )  # fmt: skip
    impact = forms.TypedChoiceField(
        label=_("Impact (1–5)"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "—")] + [(i, str(i)) for i in range(1, 6)],
    )
    mitigation = TextField(
        label=_("Mitigation"),
        max_length=10_000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    owner = forms.CharField(label=_("Owner"), max_length=150, required=False)

    def clean(self):
        data = super().clean()
        if data.get("description", "").strip():
            if data.get("probability") is None:
                self.add_error("probability", _("Required."))
            if data.get("impact") is None:
                self.add_error("impact", _("Required."))
        return data


ResourceFormSet = forms.formset_factory(ResourceForm, extra=2, max_num=100, absolute_max=100)
RiskFormSet = forms.formset_factory(RiskForm, extra=2, max_num=100, absolute_max=100)


class ListFilterForm(forms.Form):
    """The CR list's filters; also read from the query string without JS."""

    q = forms.CharField(label=_("Search"), max_length=200, required=False)
    state = forms.ChoiceField(
        label=_("State"),
        choices=_blank([("open", _("Open (not finished)")), *State.choices], _("All states")),
        required=False,
    )
    type = forms.ChoiceField(
        label=_("Type"), choices=_blank(ChangeType.choices, _("All types")), required=False
    )
    priority = forms.ChoiceField(
        label=_("Priority"), choices=_blank(Priority.choices, _("All priorities")), required=False
    )
    channel = forms.ChoiceField(
        label=_("Channel"), choices=_blank(Channel.choices, _("All channels")), required=False
    )
    assignee = forms.ChoiceField(
        label=_("Assignee"),
        required=False,
        choices=[("", _("Anyone")), ("me", _("Assigned to me")), ("none", _("Unassigned"))],
    )
    ordering = forms.ChoiceField(
        label=_("Sort by"),
        required=False,
        choices=[
            ("-created", _("Newest first")),
            ("created", _("Oldest first")),
            ("-updated", _("Recently updated")),
            ("priority", _("Priority")),
            ("state", _("State")),
            ("title", _("Title")),
        ],
    )


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("File"),
        help_text=_("CSV or XLSX, Jira's CSV export, or Jira's search JSON (.json)."),
    )
    format = forms.ChoiceField(
        label=_("Format"),
        required=False,
        choices=[
            ("", _("From the file's name")),
            ("csv", "CSV"),
            ("xlsx", "XLSX"),
            ("jira-csv", _("Jira CSV export")),
            ("jira-json", _("Jira JSON (REST search)")),
        ],
    )
    submit = forms.BooleanField(
        label=_("Submit them"),
        required=False,
        help_text=_("The new change requests are submitted and the team is notified; otherwise "
                    "they are drafts."),
    )  # fmt: skip
