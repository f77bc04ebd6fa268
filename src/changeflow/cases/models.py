"""Cases (a finished change request kept as a lesson) and customers' ratings of an outcome.

Written only by ``cases.services``. Nothing is deleted: a case is archived (hidden from the
library, kept), a rating replaced (its history is the audit log).
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from changeflow.accounts.models import Project
from changeflow.changes.models import ChangeRequest

TEXT_MAX = 100_000
TAG_MAX = 40
TAGS_MAX = 20


class Outcome(models.TextChoices):
    SUCCESS = "success", _("Success")
    PARTIAL = "partial", _("Partial success")
    FAILURE = "failure", _("Failure")


class Case(models.Model):
    """A change request in a final state kept in the case library, with what it taught.

    The figures (estimate error, cycle time, cost overrun, rating) are computed from the change
    request when read (``cases.figures``), never stored: they follow corrected actuals.
    ``version`` grows with every write and is the ETag.
    """

    change_request = models.OneToOneField(
        ChangeRequest, verbose_name=_("change request"), on_delete=models.PROTECT,
        related_name="case",
    )  # fmt: skip
    # The CR's project, kept here so that the library filters and restrict() need no join.
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="cases")
    outcome = models.CharField(_("outcome"), max_length=8, choices=Outcome.choices)
    root_causes = models.TextField(_("root causes"), blank=True, max_length=TEXT_MAX)
    lessons = models.TextField(_("lessons learned"), blank=True, max_length=TEXT_MAX)
    tags = models.JSONField(_("tags"), default=list, blank=True)
    # "|tag|tag|": the tags in a column both databases match with LIKE (SQLite has no JSON
    # containment lookup).
    tag_index = models.CharField(max_length=1000, blank=True, default="")
    # The CR's title, the root causes and the lessons as search tokens (core.search.tokenize),
    # space-separated with a space at each end: a curated library is small enough to scan.
    search_text = models.TextField(blank=True, default="")
    archived = models.BooleanField(_("archived"), default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["project", "archived", "-created_at"], name="case_project_list"),
            models.Index(fields=["project", "outcome"], name="case_project_outcome"),
        ]
        verbose_name = _("case")
        verbose_name_plural = _("cases")

    def __str__(self) -> str:
        return f"{self.change_request_id}: {self.outcome}"


class OutcomeRating(models.Model):
    """A customer's rating of a closed change request's outcome: 1–5 stars and a comment.

    One per user and change request; a new rating replaces the old one (the audit log keeps
    each). Kept in this app rather than in ``changes``: it is read with the cases (the library,
    the comparison) and written after the change request's life is over, by nothing of the
    workflow.
    """

    change_request = models.ForeignKey(
        ChangeRequest, on_delete=models.PROTECT, related_name="outcome_ratings"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    score = models.PositiveSmallIntegerField(
        _("rating"), validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    comment = models.TextField(_("comment"), blank=True, max_length=10_000)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["change_request", "user"], name="rating_cr_user"),
            models.CheckConstraint(
                condition=models.Q(score__gte=1, score__lte=5), name="rating_score_1_5"
            ),
        ]
        verbose_name = _("outcome rating")
        verbose_name_plural = _("outcome ratings")

    def __str__(self) -> str:
        return f"{self.change_request_id} {self.user_id}: {self.score}"
