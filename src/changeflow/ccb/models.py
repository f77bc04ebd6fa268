"""The Change Control Board of a project: its members, their weights, the voting policy and
the snapshot of who votes on a CR. A project without a board uses the default board
(``policy.DEFAULT_BOARD_ROLES``, simple majority); nothing is stored."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from changeflow.accounts.models import Project, Role


class Rule(models.TextChoices):
    MAJORITY = "majority", _("Simple majority")
    UNANIMOUS = "unanimous", _("Unanimity")
    WEIGHTED = "weighted", _("Weighted threshold")


# Roles a board member may hold (a viewer changes nothing, so never votes).
BOARD_ROLES = [r for r in Role.values if r != Role.VIEWER]


class Board(models.Model):
    """A Change Control Board and its policy. It serves one or more projects (``BoardProject``);
    a project has at most one board. The delegation thresholds are per project
    (``Project.delegate_max_*``), not per board: a board shared by a small and a large project
    still lets each PM decide alone only what is small for their project."""

    name = models.CharField(_("name"), max_length=200, blank=True, default="")
    projects = models.ManyToManyField(
        Project, through="BoardProject", related_name="ccb_boards", verbose_name=_("projects")
    )
    rule = models.CharField(_("rule"), max_length=10, choices=Rule.choices, default=Rule.MAJORITY)
    threshold = models.DecimalField(
        _("threshold"), max_digits=4, decimal_places=3, null=True, blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text=_("Weighted rule: the share of the non-abstaining weight that approves."),
    )  # fmt: skip
    quorum = models.PositiveIntegerField(
        _("quorum"), null=True, blank=True,
        help_text=_("Members who must vote; empty: a majority of the board."),
    )  # fmt: skip
    required_roles = models.JSONField(_("required roles"), default=list, blank=True)
    veto_roles = models.JSONField(_("veto roles"), default=list, blank=True)
    ratification_days = models.PositiveSmallIntegerField(
        _("ratification deadline (days)"), null=True, blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text=_("Days the board has to ratify an emergency approval; empty: the site's "
                    "default."),
    )  # fmt: skip
    chair = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("chair"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("board")
        verbose_name_plural = _("boards")

    def __str__(self) -> str:
        return self.name or f"CCB {self.pk}"


class BoardProject(models.Model):
    """That a board serves a project: one board per project, several projects per board."""

    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="links")
    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="ccb_link")

    class Meta:
        verbose_name = _("project served by a board")
        verbose_name_plural = _("projects served by boards")

    def __str__(self) -> str:
        return f"{self.board_id} → {self.project_id}"


class BoardMember(models.Model):
    """A voting member of a board, with the role they vote in and their weight."""

    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    weight = models.DecimalField(
        _("weight"), max_digits=6, decimal_places=2, default=1,
        validators=[MinValueValidator(0)],
    )  # fmt: skip

    class Meta:
        verbose_name = _("board member")
        verbose_name_plural = _("board members")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["board", "user"], name="ccb_member_once"),
            models.CheckConstraint(condition=models.Q(weight__gt=0), name="ccb_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.role} ×{self.weight}"


class FreezeWindow(models.Model):
    """A dated change freeze of a project: inside it implementation of a CR does not start,
    unless the CR is an emergency. ``starts_at`` inclusive, ``ends_at`` exclusive."""

    project = models.ForeignKey(
        Project, verbose_name=_("project"), on_delete=models.CASCADE,
        related_name="freeze_windows",
    )  # fmt: skip
    name = models.CharField(_("name"), max_length=200)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    reason = models.TextField(pgettext_lazy("change freeze", "reason"), blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("change freeze window")
        verbose_name_plural = _("change freeze windows")
        ordering = ["starts_at", "id"]
        indexes = [
            models.Index(fields=["project", "starts_at", "ends_at"], name="ccb_freeze_span"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="ccb_freeze_ends_after"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project_id} {self.name}"


class VotingSnapshot(models.Model):
    """Who may vote on one CR's review round (or its ratification) and under which policy,
    taken when the review starts. A board edited in the middle of a review does not change
    the tally of that review: the new board applies from the next round. A member who has
    since left the project (or been deactivated) no longer votes nor counts."""

    change_request = models.ForeignKey(
        "changes.ChangeRequest", on_delete=models.CASCADE, related_name="voting_snapshots"
    )
    purpose = models.CharField(max_length=12)
    round = models.PositiveIntegerField()
    board = models.ForeignKey(Board, null=True, blank=True, on_delete=models.SET_NULL)
    eligible = models.JSONField(default=list)  # usernames, the requester excluded
    policy = models.JSONField(default=dict)  # rule, threshold, quorum, weights, roles, ...
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["change_request", "purpose", "round"], name="ccb_snapshot_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.change_request_id} {self.purpose} {self.round}"
