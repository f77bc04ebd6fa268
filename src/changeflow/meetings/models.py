"""Meetings of a project: CCB meetings and customer communication meetings.

A ``Meeting`` is a series: one-off, or recurring by an RFC 5545 RRULE expanded in the
meeting's own time zone (so "weekly on Tuesday 10:00 Europe/Berlin" stays at 10:00 local time
across daylight-saving changes). An ``Occurrence`` row exists only once something happens to
one occurrence (agenda item, hold, reminder, cancel): the schedule itself is the rule, and
occurrences are addressed by their start in UTC (``20261201T020000Z``, the iCalendar
RECURRENCE-ID), so nothing has to be generated ahead of time.

Written only by ``meetings.services``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from changeflow.accounts.models import Project

TEXT_MAX = 100_000
# A reminder this far ahead at most (a week): ``send_due_reminders`` scans that horizon.
MAX_REMINDER_MINUTES = 7 * 24 * 60


class Kind(models.TextChoices):
    CCB = "ccb", _("CCB meeting")
    CUSTOMER = "customer", _("Customer meeting")


class Meeting(models.Model):
    """A meeting series of a project (one-off when ``rrule`` is empty)."""

    project = models.ForeignKey(
        Project, verbose_name=_("project"), on_delete=models.CASCADE, related_name="meetings"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    title = models.CharField(_("title"), max_length=200)
    location = models.CharField(_("location"), max_length=200, blank=True, default="")
    description = models.TextField(_("description"), blank=True, default="", max_length=TEXT_MAX)
    timezone = models.CharField(_("time zone"), max_length=64)
    starts_at = models.DateTimeField(_("first meeting starts at"))
    duration_minutes = models.PositiveIntegerField(
        _("duration (minutes)"), default=60,
        validators=[MinValueValidator(5), MaxValueValidator(24 * 60)],
    )  # fmt: skip
    rrule = models.CharField(
        _("recurrence rule"), max_length=500, blank=True, default="",
        help_text=_("An RFC 5545 RRULE such as FREQ=WEEKLY;BYDAY=TU; empty for a one-off."),
    )  # fmt: skip
    remind_minutes_before = models.PositiveIntegerField(
        _("reminder (minutes before)"), default=60,
        validators=[MaxValueValidator(MAX_REMINDER_MINUTES)],
    )  # fmt: skip
    invitees = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("invitees"), related_name="meetings_invited",
        blank=True,
    )  # fmt: skip
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    sequence = models.PositiveIntegerField(default=0)  # iCalendar SEQUENCE: grows on edits
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [models.Index(fields=["project", "kind", "starts_at"])]
        verbose_name = _("meeting")
        verbose_name_plural = _("meetings")

    def __str__(self) -> str:
        return self.title

    @property
    def key(self) -> str:
        """The meeting's key in audit events: ``ACME-M3``."""
        return f"{self.project.key}-M{self.pk}"


class OccurrenceState(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    HELD = "held", _("In progress")
    CLOSED = "closed", _("Minutes closed")
    CANCELLED = "cancelled", _("Cancelled")


class Occurrence(models.Model):
    """One meeting of a series, stored once something happened to it."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="occurrences")
    starts_at = models.DateTimeField(_("starts at"))
    state = models.CharField(
        _("state"), max_length=10, choices=OccurrenceState.choices,
        default=OccurrenceState.SCHEDULED,
    )  # fmt: skip
    held_at = models.DateTimeField(_("began at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("minutes closed at"), null=True, blank=True)
    minutes = models.TextField(_("minutes"), blank=True, default="", max_length=TEXT_MAX)
    internal_notes = models.TextField(
        _("internal notes"), blank=True, default="", max_length=TEXT_MAX,
        help_text=_("Not shown to customer roles."),
    )  # fmt: skip
    reminded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["meeting", "starts_at"], name="occurrence_once"),
        ]
        indexes = [models.Index(fields=["starts_at"], name="occurrence_start")]
        verbose_name = _("meeting occurrence")
        verbose_name_plural = _("meeting occurrences")

    def __str__(self) -> str:
        return f"{self.meeting_id}@{self.starts_at:%Y%m%dT%H%M%SZ}"


class Outcome(models.TextChoices):
    NONE = "", _("No decision recorded")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    DEFERRED = "deferred", _("Deferred")
    RATIFIED = "ratified", _("Ratified")
    CONTINUED = "continued", _("Carried over")
    NOTED = "noted", _("Noted")


class AgendaItem(models.Model):
    """An item of one occurrence's agenda: a change request (snapshot taken when the meeting
    began) or a manual item, with the decision recorded on it."""

    occurrence = models.ForeignKey(Occurrence, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField(default=0)
    change_request = models.ForeignKey(
        "changes.ChangeRequest", verbose_name=_("change request"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    title = models.CharField(_("title"), max_length=200)
    snapshot = models.JSONField(default=dict, blank=True)  # the CR as it was when listed
    notes = models.TextField(_("notes"), blank=True, default="", max_length=TEXT_MAX)
    outcome = models.CharField(
        _("decision"), max_length=10, choices=Outcome.choices, blank=True, default=""
    )
    rationale = models.TextField(_("rationale"), blank=True, default="", max_length=TEXT_MAX)
    conditions = models.TextField(_("conditions"), blank=True, default="", max_length=TEXT_MAX)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["occurrence", "change_request"], name="agenda_cr_once",
                condition=models.Q(change_request__isnull=False),
            ),
        ]  # fmt: skip
        verbose_name = _("agenda item")
        verbose_name_plural = _("agenda items")

    def __str__(self) -> str:
        return self.title


class AttendanceStatus(models.TextChoices):
    PRESENT = "present", _("Present")
    ABSENT = "absent", _("Absent")
    EXCUSED = "excused", _("Excused")


class Attendance(models.Model):
    """Whether an invited person was at one occurrence."""

    occurrence = models.ForeignKey(Occurrence, on_delete=models.CASCADE, related_name="attendance")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(_("attendance"), max_length=8, choices=AttendanceStatus.choices)
    recorded_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["occurrence", "user"], name="attendance_once"),
        ]
        verbose_name = _("attendance")
        verbose_name_plural = _("attendance")

    def __str__(self) -> str:
        return f"{self.user_id} {self.status}"


class MeetingVote(models.Model):
    """A signed board vote (``changes.Vote``, cast through the vote service) that was given in
    this meeting on one of its agenda items. The vote itself is never copied or bypassed."""

    item = models.ForeignKey(AgendaItem, on_delete=models.CASCADE, related_name="meeting_votes")
    vote = models.ForeignKey("changes.Vote", on_delete=models.PROTECT, related_name="+")
    linked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "vote"], name="meeting_vote_once"),
        ]

    def __str__(self) -> str:
        return f"{self.item_id}: {self.vote_id}"


class ActionItem(models.Model):
    """Something someone agreed to do by a date."""

    occurrence = models.ForeignKey(Occurrence, on_delete=models.CASCADE, related_name="actions")
    title = models.CharField(_("action"), max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    due_date = models.DateField(_("due date"))
    change_request = models.ForeignKey(
        "changes.ChangeRequest", verbose_name=_("change request"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    done = models.BooleanField(_("done"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_date", "id"]
        indexes = [models.Index(fields=["owner", "done", "due_date"])]
        verbose_name = _("action item")
        verbose_name_plural = _("action items")

    def __str__(self) -> str:
        return self.title


class CalendarToken(models.Model):
    """The secret in a user's calendar feed URL (calendar apps cannot sign in). Only its
    SHA-256 is stored; revoking deletes the row and the old URL stops working."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_token"
    )
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"calendar feed of {self.user_id}"
