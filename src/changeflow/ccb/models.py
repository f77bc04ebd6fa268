"""The Change Control Board of a project: its members, their weights, the voting policy and
the thresholds under which a project manager decides alone. A project without a board uses
the default board (``policy.DEFAULT_BOARD_ROLES``, simple majority); nothing is stored."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from changeflow.accounts.models import Project, Role


class Rule(models.TextChoices):
    MAJORITY = "majority", _("Simple majority")
    UNANIMOUS = "unanimous", _("Unanimity")
    WEIGHTED = "weighted", _("Weighted threshold")


# Roles a board member may hold (a viewer changes nothing, so never votes).
BOARD_ROLES = [r for r in Role.values if r != Role.VIEWER]


class Board(models.Model):
    """A project's board and its policy (one project per board for now)."""

    project = models.OneToOneField(
        Project, verbose_name=_("project"), on_delete=models.CASCADE, related_name="ccb_board"
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
    max_effort_hours = models.DecimalField(
        _("delegation: max effort (hours)"), max_digits=10, decimal_places=2, null=True,
        blank=True, validators=[MinValueValidator(0)],
    )  # fmt: skip
    max_cost = models.DecimalField(
        _("delegation: max cost"), max_digits=14, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(0)],
    )  # fmt: skip
    max_schedule_days = models.DecimalField(
        _("delegation: max schedule (days)"), max_digits=8, decimal_places=2, null=True,
        blank=True, validators=[MinValueValidator(0)],
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
        return f"CCB {self.project_id}"


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
    reason = models.TextField(_("reason"), blank=True, default="")
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
