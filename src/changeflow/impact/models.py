"""Stored inputs and results of the impact engine.

Project plans and simulation runs: a project's plan (tasks with three-point durations,
finish-to-start dependencies with lag, cost rates, milestones), a change request's
implementation tasks and where they attach, and the runs of the Monte Carlo simulation with
their status, progress and result. The maths lives in the pure ``simulation`` module; the ORM
adapter in ``plans``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TypedDict

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from changeflow.accounts.models import Project
from changeflow.changes.models import ChangeRequest


class _DecimalOptions(TypedDict):
    """Keyword arguments shared by the plan's decimal fields (typed so ``**`` unpacking checks)."""

    max_digits: int
    decimal_places: int
    validators: list[MinValueValidator]


DAYS: _DecimalOptions = {
    "max_digits": 9,
    "decimal_places": 2,
    "validators": [MinValueValidator(0)],
}
MONEY: _DecimalOptions = {
    "max_digits": 14,
    "decimal_places": 2,
    "validators": [MinValueValidator(0)],
}


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
    rate = models.DecimalField(_("cost per day"), default=Decimal(0), **MONEY)
    fixed_cost = models.DecimalField(_("fixed cost"), default=Decimal(0), **MONEY)
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
    lag = models.DecimalField(_("lag (days)"), default=Decimal(0), **DAYS)

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


# ---------------------------------------------------------------- expert estimates, calibration


class Dimension(models.TextChoices):
    EFFORT = "effort", _("Effort (hours)")
    SCHEDULE = "schedule", _("Schedule (days)")
    COST = "cost", _("Cost")


DIMENSIONS = (Dimension.EFFORT, Dimension.SCHEDULE, Dimension.COST)
POINTS = ("optimistic", "most_likely", "pessimistic")


class RoundStatus(models.TextChoices):
    OPEN = "open", _("Open")
    AGREED = "agreed", _("Closed: agreed")
    DISAGREED = "disagreed", _("Closed: estimators disagreed, next round opened")


class EstimationRound(models.Model):
    """One Wideband-Delphi round of expert estimates on a CR; round 1 is the first estimate.

    A round is closed by an assessor. If the estimators' PERT means are further apart than
    ``threshold`` (relative spread) on any dimension, the next round opens and everyone sees
    the closed round's anonymised spread (``summary``) before revising.
    """

    change_request = models.ForeignKey(
        ChangeRequest, on_delete=models.PROTECT, related_name="estimation_rounds"
    )
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=RoundStatus.choices, default=RoundStatus.OPEN)
    threshold = models.FloatField(validators=[MinValueValidator(0)])
    summary = models.JSONField(default=dict, blank=True)
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["change_request", "number"]
        constraints = [
            models.UniqueConstraint(fields=["change_request", "number"], name="round_cr_number"),
        ]

    def __str__(self) -> str:
        return f"{self.change_request_id} round {self.number}"


def _point(label):
    return models.DecimalField(
        label, max_digits=14, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(0)],
    )  # fmt: skip


class ExpertEstimate(models.Model):
    """One estimator's three-point estimates in one round (revised in place while it is open).

    Effort is required; schedule and cost are optional, each as a whole triple.
    """

    round = models.ForeignKey(EstimationRound, on_delete=models.PROTECT, related_name="estimates")
    change_request = models.ForeignKey(ChangeRequest, on_delete=models.PROTECT, related_name="+")
    estimator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    effort_optimistic = _point(_("effort, optimistic (hours)"))
    effort_most_likely = _point(_("effort, most likely (hours)"))
    effort_pessimistic = _point(_("effort, pessimistic (hours)"))
    schedule_optimistic = _point(_("schedule, optimistic (days)"))
    schedule_most_likely = _point(_("schedule, most likely (days)"))
    schedule_pessimistic = _point(_("schedule, pessimistic (days)"))
    cost_optimistic = _point(_("cost, optimistic"))
    cost_most_likely = _point(_("cost, most likely"))
    cost_pessimistic = _point(_("cost, pessimistic"))
    comment = models.TextField(_("comment"), blank=True, max_length=10_000)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["round", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["round", "estimator"], name="estimate_once_per_round"),
        ]
        indexes = [models.Index(fields=["change_request", "round"])]

    def __str__(self) -> str:
        return f"{self.change_request_id} r{self.round_id} {self.estimator_id}"

    def triple(self, dimension: str) -> tuple[float, float, float] | None:
        values = [getattr(self, f"{dimension}_{p}") for p in POINTS]
        if any(v is None for v in values):
            return None
        return tuple(float(v) for v in values)  # type: ignore[return-value]


class CalibrationSource(models.TextChoices):
    EXPERT = "expert", _("Expert (PERT)")
    ANALOGY = "analogy", _("Historical analogy")
    ASSESSMENT = "assessment", _("Recorded assessment")


class CalibrationRecord(models.Model):
    """An estimate set against the actual once the CR closed: log(actual / estimate).

    Kept per source (expert PERT aggregate, expert per estimator, analogy, the recorded
    assessment), CR type and dimension, so the bias of each can be measured and applied.
    """

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+")
    change_request = models.ForeignKey(ChangeRequest, on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=12, choices=CalibrationSource.choices)
    estimator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cr_type = models.CharField(max_length=16, blank=True)
    dimension = models.CharField(max_length=10, choices=Dimension.choices)
    estimate = models.DecimalField(max_digits=14, decimal_places=2)
    actual = models.DecimalField(max_digits=14, decimal_places=2)
    log_ratio = models.FloatField()
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "recorded_at", "id"]
        indexes = [
            models.Index(fields=["project", "source", "dimension"]),
            models.Index(fields=["change_request"]),
        ]

    def __str__(self) -> str:
        return f"{self.change_request_id} {self.source} {self.dimension} {self.log_ratio:+.2f}"


class TextFeatures(models.Model):
    """A change request's text as the similarity index reads it, kept so the history pool
    loads in one query instead of re-reading and re-tokenising every CR (``impact.features``).

    ``terms`` is the CR's distinct terms, each a 64-bit hash with its count; ``cr_version`` is
    the CR's ``version`` when they were computed and ``digest`` the text's hash, so a later
    write to the CR is noticed (its version grows) and its text re-read only then.
    """

    change_request = models.OneToOneField(
        ChangeRequest, on_delete=models.CASCADE, primary_key=True, related_name="text_features"
    )
    version = models.PositiveSmallIntegerField()  # features.VERSION when computed
    cr_version = models.PositiveIntegerField()
    digest = models.CharField(max_length=32)
    terms = models.BinaryField()

    class Meta:
        verbose_name = _("text features")

    def __str__(self) -> str:
        return f"features of {self.change_request_id}"
