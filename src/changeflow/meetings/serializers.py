"""Shapes of the meetings API. Input serializers check types only; the services decide."""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from changeflow.changes.models import VoteDecision
from changeflow.core.api_views import StrictSerializer

from . import recurrence
from .models import AttendanceStatus, Kind, Meeting, Occurrence, OccurrenceState, Outcome


class MeetingSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="project.key", read_only=True)
    invitees = serializers.SerializerMethodField()
    uid = serializers.CharField(read_only=True)
    next_occurrence = serializers.SerializerMethodField()

    class Meta:
        model = Meeting
        fields = [
            "id", "project", "kind", "title", "location", "description", "timezone",
            "starts_at", "duration_minutes", "rrule", "remind_minutes_before", "invitees",
            "uid", "sequence", "next_occurrence", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_invitees(self, obj: Meeting) -> list[str]:
        return sorted(u.username for u in obj.invitees.all())

    def get_next_occurrence(self, obj: Meeting) -> str | None:
        from django.utils import timezone

        from . import selectors

        at = recurrence.next_after(selectors.schedule(obj), timezone.now())
        return recurrence.occurrence_key(at) if at else None


class MeetingWriteSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=Kind.choices, required=False)
    title = serializers.CharField(max_length=200, required=False)
    location = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(max_length=100_000, required=False, allow_blank=True)
    timezone = serializers.CharField(
        max_length=64, required=False, help_text=_("IANA name, e.g. Asia/Shanghai.")
    )
    starts_at = serializers.DateTimeField(
        required=False,
        help_text=_("The first meeting's start; without an offset it is read in `timezone`."),
    )
    duration_minutes = serializers.IntegerField(required=False, min_value=5, max_value=1440)
    rrule = serializers.CharField(
        max_length=600, required=False, allow_blank=True,
        help_text=_("RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=TU; empty for a one-off."),
    )  # fmt: skip
    remind_minutes_before = serializers.IntegerField(required=False, min_value=0)
    invitees = serializers.ListField(
        child=serializers.CharField(max_length=150), required=False, max_length=200,
        help_text=_("Usernames; on create, default: the board (CCB) or the PM, tech lead and "
                    "customer roles (customer meeting)."),
    )  # fmt: skip


class MeetingCreateSerializer(MeetingWriteSerializer):
    """A new meeting: its kind is required (and fixed from then on)."""

    kind = serializers.ChoiceField(choices=Kind.choices)


class VoteLineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    voter = serializers.CharField(source="voter.username")
    role = serializers.CharField()
    decision = serializers.CharField()
    purpose = serializers.CharField()
    round = serializers.IntegerField()
    comment = serializers.CharField()
    signed_at = serializers.DateTimeField()
    voided_at = serializers.DateTimeField(
        allow_null=True,
        help_text=_("Set when a material change reset the votes: the vote is listed but no "
                    "longer counts."),
    )  # fmt: skip
    void_reason = serializers.CharField(allow_blank=True)


class AgendaLineSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text=_("None while the item is live."))
    title = serializers.CharField()
    change_request = serializers.CharField(allow_blank=True)
    snapshot = serializers.DictField()
    notes = serializers.CharField(allow_blank=True)
    outcome = serializers.CharField(allow_blank=True)
    rationale = serializers.CharField(allow_blank=True)
    conditions = serializers.CharField(allow_blank=True)
    votes = VoteLineSerializer(many=True)


class AttendanceLineSerializer(StrictSerializer):
    """One person's attendance at an occurrence."""

    username = serializers.CharField()
    status = serializers.ChoiceField(choices=AttendanceStatus.choices, allow_blank=True)


class ActionItemSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    title = serializers.CharField(max_length=200)
    owner = serializers.CharField(source="owner.username")
    due_date = serializers.DateField()
    change_request = serializers.SerializerMethodField()
    done = serializers.BooleanField()

    def get_change_request(self, obj) -> str | None:
        return obj.change_request.key if obj.change_request_id else None


class OccurrenceSerializer(serializers.Serializer):
    key = serializers.CharField(help_text=_("The start in UTC, e.g. 20261201T020000Z."))
    meeting = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    state = serializers.ChoiceField(choices=OccurrenceState.choices)
    held_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    minutes = serializers.CharField(allow_blank=True)
    internal_notes = serializers.CharField(
        allow_blank=True, required=False, help_text=_("Absent for customer roles.")
    )
    agenda = AgendaLineSerializer(many=True, required=False)
    attendance = AttendanceLineSerializer(many=True, required=False)
    actions = ActionItemSerializer(many=True, required=False)


def occurrence_brief(occ: Occurrence) -> dict:
    meeting = occ.meeting
    return {
        "key": recurrence.occurrence_key(occ.starts_at),
        "meeting": meeting.pk,
        "starts_at": occ.starts_at,
        "ends_at": occ.starts_at + dt.timedelta(minutes=meeting.duration_minutes),
        "state": occ.state,
        "held_at": occ.held_at,
        "closed_at": occ.closed_at,
        "minutes": occ.minutes,
    }


class OccurrenceUpdateSerializer(StrictSerializer):
    minutes = serializers.CharField(max_length=100_000, required=False, allow_blank=True)
    internal_notes = serializers.CharField(max_length=100_000, required=False, allow_blank=True)


class HoldSerializer(StrictSerializer):
    held_at = serializers.DateTimeField(
        required=False, help_text=_("When the meeting began (default: now).")
    )


class AgendaItemCreateSerializer(StrictSerializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    notes = serializers.CharField(max_length=100_000, required=False, allow_blank=True)
    change_request = serializers.CharField(max_length=24, required=False, allow_blank=True)


class DecisionSerializer(StrictSerializer):
    outcome = serializers.ChoiceField(choices=Outcome.choices, allow_blank=True)
    rationale = serializers.CharField(max_length=100_000, required=False, allow_blank=True)
    conditions = serializers.CharField(max_length=100_000, required=False, allow_blank=True)
    notes = serializers.CharField(max_length=100_000, required=False, allow_blank=True)


class AttendanceWriteSerializer(StrictSerializer):
    attendance = AttendanceLineSerializer(many=True)


class MeetingVoteSerializer(StrictSerializer):
    item = serializers.IntegerField(help_text=_("The agenda item (a change request)."))
    decision = serializers.ChoiceField(choices=VoteDecision.choices)
    password = serializers.CharField(
        max_length=4096, write_only=True, trim_whitespace=False,
        help_text=_("Your password again: the electronic signature."),
    )  # fmt: skip
    comment = serializers.CharField(max_length=100_000, required=False, allow_blank=True)


class ActionItemCreateSerializer(StrictSerializer):
    title = serializers.CharField(max_length=200)
    owner = serializers.CharField(max_length=150)
    due_date = serializers.DateField()
    change_request = serializers.CharField(max_length=24, required=False, allow_blank=True)


class ActionItemUpdateSerializer(StrictSerializer):
    done = serializers.BooleanField()


CALENDAR_KINDS = [("meeting", "meeting"), ("freeze", "freeze"), ("desired", "desired"),
                  ("action", "action")]  # fmt: skip


class CalendarEntrySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=CALENDAR_KINDS)
    title = serializers.CharField()
    starts_at = serializers.DateTimeField(allow_null=True)
    ends_at = serializers.DateTimeField(allow_null=True)
    date = serializers.DateField(allow_null=True)
    ref = serializers.CharField(help_text=_("Occurrence key, freeze window id or CR key."))


class CalendarFeedSerializer(serializers.Serializer):
    url = serializers.CharField(help_text=_("Shown once: keep it secret, revoke it when leaked."))
