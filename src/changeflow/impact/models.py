"""Stored inputs and results of the impact engine.

Project plans and simulation runs: a project's plan (tasks with three-point durations,
finish-to-start dependencies with lag, cost rates, milestones), a change request's
implementation tasks and where they attach, and the runs of the Monte Carlo simulation with
their status, progress and result. The maths lives in the pure ``simulation`` module; the ORM
adapter in ``plans``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from changeflow.accounts.models import Project
from changeflow.changes.models import ChangeRequest

DAYS = {"max_digits": 9, "decimal_places": 2, "validators": [MinValueValidator(0)]}
MONEY = {"max_digits": 14, "decimal_places": 2, "validators": [MinValueValidator(0)]}


class Calendar(models.TextChoices):
    """How day numbers of the simulation become dates."""

    CALENDAR = "calendar", _("Calendar days (every day counts)")
    WORKING = "working", _("Working days (Monday to Friday)")


class ProjectPlan(models.Model):
    """The schedule a project works to: its start date, calendar and currency."""

    project = models.OneToOneField(
        Project, verbose_name=_("project"), on_delete=models.CASCADE, related_name="plan"
    )
    start_date = models.DateField(_("start date"))
    calendar = models.CharField(
        _("calendar"), max_length=10, choices=Calendar.choices, default=Calendar.WORKING
    )
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("project plan")

    def __str__(self) -> str:
        return f"{self.project.key} plan"


class PlanTask(models.Model):
    """A task of the plan: three-point duration in days, cost per day and fixed cost."""

    plan = models.ForeignKey(ProjectPlan, on_delete=models.CASCADE, related_name="tasks")
    key = models.CharField(_("id"), max_length=40)
    name = models.CharField(_("name"), max_length=200, blank=True)
    optimistic = models.DecimalField(_("optimistic (days)"), **DAYS)
    most_likely = models.DecimalField(_("most likely (days)"), **DAYS)
    pessimistic = models.DecimalField(_("pessimistic (days)"), **DAYS)
    rate = models.DecimalField(_("cost per day"), default=0, **MONEY)
    fixed_cost = models.DecimalField(_("fixed cost"), default=0, **MONEY)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "key"], name="impact_plantask_unique_key"),
            models.CheckConstraint(
                condition=models.Q(optimistic__lte=models.F("most_likely"))
                & models.Q(most_likely__lte=models.F("pessimistic")),
                name="impact_plantask_ordered_estimate",
            ),
        ]

    def __str__(self) -> str:
        return self.key


class PlanDependency(models.Model):
    """Finish-to-start: ``successor`` starts ``lag`` days after ``predecessor`` finishes."""

    plan = models.ForeignKey(ProjectPlan, on_delete=models.CASCADE, related_name="dependencies")
    predecessor = models.ForeignKey(PlanTask, on_delete=models.CASCADE, related_name="+")
    successor = models.ForeignKey(PlanTask, on_delete=models.CASCADE, related_name="+")
    lag = models.DecimalField(_("lag (days)"), default=0, **DAYS)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["predecessor", "successor"], name="impact_plandependency_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.predecessor_id} -> {self.successor_id}"


class PlanMilestone(models.Model):
    """Met when its task finishes on or before the target date."""

    plan = models.ForeignKey(ProjectPlan, on_delete=models.CASCADE, related_name="milestones")
    name = models.CharField(_("name"), max_length=200)
    task = models.ForeignKey(PlanTask, on_delete=models.CASCADE, related_name="+")
    target_date = models.DateField(_("target date"))

    class Meta:
        ordering = ["target_date", "id"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "name"], name="impact_planmilestone_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class ChangePlan(models.Model):
    """A change request's implementation work as the simulation sees it.

    ``tasks``: ``[{"key", "name", "optimistic", "most_likely", "pessimistic", "rate",
    "fixed_cost", "depends_on": [keys of other change tasks]}]``; ``after``: ``[{"task": plan
    task key, "lag"}]``; ``before``: plan task keys that wait for the change; ``risk_delays``:
    days ``[o, m, p]`` per risk impact 1-5 overriding the default mapping.
    """

    change_request = models.OneToOneField(
        ChangeRequest, on_delete=models.CASCADE, related_name="change_plan"
    )
    tasks = models.JSONField(default=list)
    after = models.JSONField(default=list)
    before = models.JSONField(default=list)
    include_risks = models.BooleanField(_("include the risk register"), default=True)
    risk_delays = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("change plan")

    def __str__(self) -> str:
        return f"{self.change_request_id} change plan"


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class SimulationRun(models.Model):
    """One Monte Carlo run of a project's plan, with a change request's work or without.

    ``result`` holds the summary (percentiles as days and dates, shifts, milestone miss
    probabilities, criticality) and the compact distributions the charts are drawn from;
    the iterations themselves are not kept.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    change_request = models.ForeignKey(
        ChangeRequest, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    iterations = models.PositiveIntegerField()
    seed = models.BigIntegerField()
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    background = models.BooleanField(default=False)
    inputs = models.JSONField(default=dict)  # the plan and change as simulated
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["change_request", "-created_at"], name="impact_run_cr_idx"),
            models.Index(fields=["project", "-created_at"], name="impact_run_project_idx"),
        ]

    def __str__(self) -> str:
        return f"simulation {self.pk}"
