"""Users, customer organisations, projects, memberships (one role each) and API tokens."""

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A person who signs in. ``is_superuser`` marks a site admin."""

    display_name = models.CharField(_("display name"), max_length=150, blank=True)
    organisation = models.ForeignKey(
        "Organisation",
        verbose_name=_("organisation"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="users",
    )
    # The person's entry in the organisation's directory (LDAP / Active Directory), refreshed at
    # every sign-in; empty for a local account. A directory user signs in with the directory's
    # password only, never a local one (accounts.backends).
    directory_dn = models.CharField(_("directory entry"), max_length=1000, blank=True)

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def from_directory(self) -> bool:
        return bool(self.directory_dn)


class Organisation(models.Model):
    """A customer organisation (or the supplier's own)."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    PROJECT_MANAGER = "project_manager", _("Project manager")
    TECH_LEAD = "tech_lead", _("Tech lead")
    QA = "qa", _("QA")
    DEVELOPER = "developer", _("Developer")
    CUSTOMER_REP = "customer_rep", _("Customer representative")
    CUSTOMER = "customer", _("Customer")
    VIEWER = "viewer", _("Viewer")


project_key_validator = RegexValidator(
    r"^[A-Z0-9]{2,10}\Z", _("2 to 10 upper-case letters or digits.")
)


class Project(models.Model):
    """A delivery project with its own CR numbering and delegated-approval thresholds."""

    key = models.CharField(_("key"), max_length=10, unique=True, validators=[project_key_validator])
    name = models.CharField(_("name"), max_length=200)
    customer = models.ForeignKey(
        Organisation,
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="projects",
    )
    description = models.TextField(_("description"), blank=True, max_length=100_000)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    # Delegated authority: a PM may decide alone when the current assessment is at or under
    # every threshold that is set. No threshold set means no delegation.
    delegate_max_effort_hours = models.DecimalField(
        _("delegation: max effort (hours)"), max_digits=10, decimal_places=2, null=True,
        blank=True, validators=[MinValueValidator(0)],
    )  # fmt: skip
    delegate_max_cost = models.DecimalField(
        _("delegation: max cost"), max_digits=14, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(0)],
    )  # fmt: skip
    delegate_max_schedule_days = models.DecimalField(
        _("delegation: max schedule (days)"), max_digits=8, decimal_places=2, null=True,
        blank=True, validators=[MinValueValidator(0)],
    )  # fmt: skip
    # The largest single risk's exposure (probability × impact, 0–5) a PM may accept alone.
    delegate_max_risk_exposure = models.DecimalField(
        _("delegation: max risk exposure"), max_digits=5, decimal_places=2, null=True,
        blank=True, validators=[MinValueValidator(0), MaxValueValidator(5)],
    )  # fmt: skip
    # What the customer and the supplier set aside for approved change, against which the
    # process metrics measure the approved changes' cost and schedule (``reports.metrics``).
    change_budget = models.DecimalField(
        _("change budget"), max_digits=14, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(0)],
    )  # fmt: skip
    schedule_contingency_days = models.DecimalField(
        _("schedule contingency (days)"), max_digits=8, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(0)],
    )  # fmt: skip
    next_cr_number = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["key"]
        verbose_name = _("project")
        verbose_name_plural = _("projects")

    def __str__(self) -> str:
        return f"{self.key} — {self.name}"


class Membership(models.Model):
    """A user's one role in one project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique"),
        ]
        indexes = [models.Index(fields=["user", "project"])]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self) -> str:
        return f"{self.user} @ {self.project.key}: {self.role}"


class ApiToken(models.Model):
    """An API token. Only its SHA-256 is stored; the token itself is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(_("name"), max_length=100, blank=True)
    prefix = models.CharField(max_length=8)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"
