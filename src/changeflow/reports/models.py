"""Improvement actions of the change process (PRODUCT §9, 定期审查和改进变更管理流程): what the
team decided to change in how it handles changes, with an owner and a due date, tracked to
closure.

Written only by ``reports.actions``; read through ``reports.selectors``.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from changeflow.accounts.models import Project

TITLE_MAX = 200
TEXT_MAX = 100_000


class ActionStatus(models.TextChoices):
    # A context of its own: the catalogues' "Open" is 进行中 (an open round), which would read
    # the same as "In progress" here.
    OPEN = "open", pgettext_lazy("improvement action", "Open")
    IN_PROGRESS = "in_progress", _("In progress")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


# Statuses in which an action still has a due date to keep.
ACTIVE_STATUSES = (ActionStatus.OPEN, ActionStatus.IN_PROGRESS)


class ImprovementAction(models.Model):
    """One improvement action of a project, keyed ``ACME-I3`` (as meetings are ``ACME-M3``).

    ``version`` grows with every write and is the ETag (``If-Match``). Never deleted: an action
    no longer wanted is cancelled. ``overdue_noticed_for`` / ``reminded_for`` hold the due date
    the owner was last told about, so that each overdue event (and each reminder) is announced
    once, and a new due date is announced again."""

    project = models.ForeignKey(
        Project, verbose_name=_("project"), on_delete=models.PROTECT,
        related_name="improvement_actions",
    )  # fmt: skip
    number = models.PositiveIntegerField()
    key = models.CharField(max_length=32, unique=True)
    title = models.CharField(_("title"), max_length=TITLE_MAX)
    description = models.TextField(_("description"), blank=True, default="", max_length=TEXT_MAX)
    problem = models.TextField(
        _("problem addressed"), blank=True, default="", max_length=TEXT_MAX,
        help_text=_("What went wrong in the change process, and where it was seen."),
    )  # fmt: skip
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), on_delete=models.PROTECT,
        related_name="improvement_actions",
    )  # fmt: skip
    due_date = models.DateField(_("due date"))
    status = models.CharField(
        _("status"), max_length=12, choices=ActionStatus.choices, default=ActionStatus.OPEN
    )
    progress = models.PositiveSmallIntegerField(
        _("progress (%)"), default=0, validators=[MaxValueValidator(100)]
    )
    resolution = models.TextField(
        _("resolution"), blank=True, default="", max_length=TEXT_MAX,
        help_text=_("What was changed, and the evidence that it works."),
    )  # fmt: skip
    change_requests = models.ManyToManyField(
        "changes.ChangeRequest", verbose_name=_("motivating change requests"), blank=True,
        related_name="improvement_actions",
    )  # fmt: skip
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    overdue_noticed_for = models.DateField(null=True, blank=True, editable=False)
    reminded_for = models.DateField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["due_date", "number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="improvement_number"),
        ]
        indexes = [
            # The list (by status, by due date) and the periodic job (active and due).
            models.Index(fields=["project", "status", "due_date"], name="improvement_status_due"),
            models.Index(fields=["status", "due_date"], name="improvement_due"),
            models.Index(fields=["project", "owner"], name="improvement_owner"),
        ]
        verbose_name = _("improvement action")
        verbose_name_plural = _("improvement actions")

    def __str__(self) -> str:
        return f"{self.key} {self.title}"


class ReviewFrequency(models.TextChoices):
    """How often a project's periodic review report is generated (PRODUCT §9)."""

    OFF = "off", _("Off")
    WEEKLY = "weekly", _("Weekly")
    MONTHLY = "monthly", _("Monthly")


class ReportKind(models.TextChoices):
    WEEKLY = "weekly", _("Weekly")
    MONTHLY = "monthly", _("Monthly")
    ON_DEMAND = "on_demand", _("On demand")


class ReviewSchedule(models.Model):
    """A project's review schedule; a project without a row has none (off). Written only by
    ``reports.reviews.schedule_set``."""

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, related_name="review_schedule"
    )
    frequency = models.CharField(
        _("review reports"), max_length=8, choices=ReviewFrequency.choices,
        default=ReviewFrequency.OFF,
    )  # fmt: skip
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["frequency"], name="review_schedule_frequency")]
        verbose_name = _("review schedule")
        verbose_name_plural = _("review schedules")

    def __str__(self) -> str:
        return f"{self.project_id}: {self.frequency}"


class ReviewReport(models.Model):
    """One generated review report of a project over a period [period_start, period_end): the
    figures as generated (``metrics.project_metrics`` for the internal audience, plus the
    improvement actions), and its HTML and PDF files with their SHA-256.

    Immutable: never regenerated in place, never edited; one per (project, kind, period).
    Numbered per project (``ACME-R3``). Written only by ``reports.reviews``."""

    project = models.ForeignKey(
        Project, verbose_name=_("project"), on_delete=models.PROTECT,
        related_name="review_reports",
    )  # fmt: skip
    number = models.PositiveIntegerField()
    key = models.CharField(max_length=32, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=ReportKind.choices)
    period_start = models.DateField(_("from"))
    period_end = models.DateField(_("to"))
    generated_at = models.DateTimeField(_("generated at"))
    generated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("generated by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    language = models.CharField(max_length=10)
    figures = models.JSONField(encoder=DjangoJSONEncoder)
    summary = models.JSONField(encoder=DjangoJSONEncoder)
    html_file = models.FileField(max_length=200)
    html_sha256 = models.CharField(max_length=64)
    pdf_file = models.FileField(max_length=200)
    pdf_sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="review_report_number"),
            models.UniqueConstraint(
                fields=["project", "kind", "period_start", "period_end"],
                name="review_report_period",
            ),
        ]
        verbose_name = _("review report")
        verbose_name_plural = _("review reports")

    def __str__(self) -> str:
        return f"{self.key} {self.kind} {self.period_start}–{self.period_end}"

    @property
    def last_day(self) -> dt.date:
        """The period's last day (``period_end`` is the first day after it)."""
        return self.period_end - dt.timedelta(days=1)
