"""Forms of the meeting pages. The recurrence picker's fields are turned into an RRULE here,
so the picker works without JavaScript (the script only previews the rule)."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from changeflow.changes.models import VoteDecision

from .models import AttendanceStatus, Kind, Outcome

WEEKDAYS = [
    ("MO", _("Mon")), ("TU", _("Tue")), ("WE", _("Wed")), ("TH", _("Thu")), ("FR", _("Fri")),
    ("SA", _("Sat")), ("SU", _("Sun")),
]  # fmt: skip
FREQUENCIES = [
    ("", _("Does not repeat")), ("DAILY", _("Daily")), ("WEEKLY", _("Weekly")),
    ("MONTHLY", _("Monthly")),
]  # fmt: skip
COMMON_ZONES = (
    "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Tokyo", "Asia/Singapore", "Europe/Berlin",
    "Europe/London", "America/New_York", "America/Los_Angeles", "UTC",
)  # fmt: skip


class MeetingForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=Kind.choices)
    title = forms.CharField(label=_("Title"), max_length=200)
    location = forms.CharField(label=_("Location"), max_length=200, required=False,
                               help_text=_("A room, or a video-call link."))  # fmt: skip
    description = forms.CharField(label=_("Description"), required=False, max_length=100_000,
                                  widget=forms.Textarea(attrs={"rows": 3}))  # fmt: skip
    starts_at = forms.DateTimeField(
        label=_("First meeting"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("Local time in the time zone below."),
    )
    timezone = forms.CharField(
        label=_("Time zone"), max_length=64,
        widget=forms.TextInput(attrs={"list": "zones", "autocomplete": "off"}),
    )  # fmt: skip
    duration_minutes = forms.IntegerField(label=_("Duration (minutes)"), min_value=5,
                                          max_value=1440, initial=60)  # fmt: skip
    freq = forms.ChoiceField(label=_("Repeats"), choices=FREQUENCIES, required=False)
    interval = forms.IntegerField(
        label=_("Every"), min_value=1, max_value=366, initial=1, required=False,
        help_text=_("1 = every week (or day, month)."),
    )  # fmt: skip
    byday = forms.MultipleChoiceField(
        label=_("On"), choices=WEEKDAYS, required=False, widget=forms.CheckboxSelectMultiple
    )
    count = forms.IntegerField(label=_("Number of meetings"), min_value=1, max_value=1000,
                               required=False, help_text=_("Empty: no end."))  # fmt: skip
    rrule = forms.CharField(
        label=_("Recurrence rule (RFC 5545)"), max_length=500, required=False,
        help_text=_("Written by the choices above; experts may edit it (it wins when set)."),
        widget=forms.TextInput(attrs={"class": "mono", "spellcheck": "false"}),
    )  # fmt: skip
    remind_minutes_before = forms.IntegerField(
        label=_("Reminder (minutes before)"), min_value=0, max_value=10080, initial=60,
        help_text=_("0: no reminder."),
    )  # fmt: skip
    invitees = forms.MultipleChoiceField(
        label=_("Invitees"), required=False, widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: the board (CCB meeting) or the PM, tech lead and the "
                    "customer's people (customer meeting)."),
    )  # fmt: skip

    def __init__(self, *args, kinds=None, members=(), **kwargs):
        super().__init__(*args, **kwargs)
        if kinds is not None:
            self.fields["kind"].choices = [c for c in Kind.choices if c[0] in kinds]
        self.fields["invitees"].choices = [
            (m.user.username, f"{m.user} · {m.get_role_display()}") for m in members
        ]
        self.fields["timezone"].initial = timezone.get_default_timezone_name()
        self.zones = COMMON_ZONES

    def clean(self):
        data = super().clean()
        rule = (data.get("rrule") or "").strip()
        freq = data.get("freq")
        if not rule and freq:
            parts = [f"FREQ={freq}"]
            if (data.get("interval") or 1) > 1:
                parts.append(f"INTERVAL={data['interval']}")
            if freq == "WEEKLY" and data.get("byday"):
                order = [d for d, _label in WEEKDAYS]
                parts.append("BYDAY=" + ",".join(sorted(data["byday"], key=order.index)))
            if data.get("count"):
                parts.append(f"COUNT={data['count']}")
            rule = ";".join(parts)
        data["rrule"] = rule
        return data

    def service_data(self) -> dict:
        d = self.cleaned_data
        names = ("title", "location", "description", "timezone", "duration_minutes", "rrule",
                 "remind_minutes_before")  # fmt: skip
        data = {k: d[k] for k in names}
        # The browser's local time, read in the meeting's zone by the service.
        data["starts_at"] = (
            timezone.make_naive(d["starts_at"])
            if timezone.is_aware(d["starts_at"])
            else d["starts_at"]
        )
        # None: the default invitees (on create); on edit an empty choice keeps that meaning.
        data["invitees"] = d["invitees"] or None
        return data


class MinutesForm(forms.Form):
    minutes = forms.CharField(label=_("Minutes"), required=False, max_length=100_000,
                              widget=forms.Textarea(attrs={"rows": 6}))  # fmt: skip
    internal_notes = forms.CharField(
        label=_("Internal notes"), required=False, max_length=100_000,
        widget=forms.Textarea(attrs={"rows": 3}), help_text=_("Not shown to customer roles."),
    )  # fmt: skip


class _OwnIds(forms.Form):
    """The occurrence page holds many forms: the agenda item's and the action item's (both
    with a title and a change request), and a decision and a vote form per agenda item. Each
    form's fields get ids of their own (``id_agenda_title``, ``id_vote12_comment``), so that
    no two fields share an id and every label names its own field."""

    ids = ""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", f"id_{self._ids(*args, **kwargs)}_%s")
        super().__init__(*args, **kwargs)

    def _ids(self, *args, **kwargs) -> str:
        return self.ids


class _PerItem(_OwnIds):
    """One per agenda item: the item's id is in the form's ids."""

    def _ids(self, *args, **kwargs) -> str:
        data = args[0] if args and args[0] is not None else kwargs.get("data")
        item = str((data or kwargs.get("initial") or {}).get("item") or "")
        return self.ids + (item if item.isdigit() else "")


class AgendaItemForm(_OwnIds):
    ids = "agenda"

    title = forms.CharField(label=pgettext_lazy("agenda", "Item"), max_length=200, required=False)
    change_request = forms.CharField(label=_("Change request (key)"), max_length=24,
                                     required=False)  # fmt: skip
    notes = forms.CharField(label=_("Notes"), required=False, max_length=100_000)


class DecisionForm(_PerItem):
    ids = "decision"

    item = forms.IntegerField(widget=forms.HiddenInput)
    outcome = forms.ChoiceField(
        label=pgettext_lazy("meeting outcome", "Decision"), choices=Outcome.choices, required=False
    )
    rationale = forms.CharField(label=_("Rationale"), required=False, max_length=100_000,
                                widget=forms.Textarea(attrs={"rows": 2}))  # fmt: skip
    conditions = forms.CharField(label=_("Conditions"), required=False, max_length=100_000,
                                 widget=forms.Textarea(attrs={"rows": 2}))  # fmt: skip


class MeetingVoteForm(_PerItem):
    ids = "vote"

    item = forms.IntegerField(widget=forms.HiddenInput)
    decision = forms.ChoiceField(label=_("Vote"), choices=VoteDecision.choices)
    comment = forms.CharField(
        label=pgettext_lazy("vote", "Comment"), required=False, max_length=100_000
    )
    password = forms.CharField(
        label=_("Your password (signature)"), strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )  # fmt: skip


class ActionItemForm(_OwnIds):
    ids = "action"

    title = forms.CharField(label=_("Action"), max_length=200)
    owner = forms.ChoiceField(label=_("Owner"))
    due_date = forms.DateField(
        label=_("Due date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    change_request = forms.CharField(label=_("Change request (key)"), max_length=24,
                                     required=False)  # fmt: skip

    def __init__(self, *args, members=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [(m.user.username, str(m.user)) for m in members]


ATTENDANCE_CHOICES = [("", _("—")), *AttendanceStatus.choices]
