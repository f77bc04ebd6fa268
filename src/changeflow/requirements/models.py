"""Requirements, their versions, immutable baselines, and the requirements a CR affects.

Written only by ``requirements.services``. A requirement is never deleted: it is retired (its
status), so that every baseline and every CR that names it keeps pointing at something real.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from changeflow.accounts.models import Project

TITLE_MAX = 200
TEXT_MAX = 100_000
EXTERNAL_ID_MAX = 255
BASELINE_NAME_MAX = 100


class Kind(models.TextChoices):
    BUSINESS = "business", _("Business")
    USER = "user", _("User")
    FUNCTIONAL = "functional", _("Functional")
    NON_FUNCTIONAL = "non_functional", _("Non-functional")
    INTERFACE = "interface", _("Interface")
    CONSTRAINT = "constraint", _("Constraint")


class RequirementPriority(models.TextChoices):
    """MoSCoW, the usual scale for requirements (a CR's urgency is P1–P4)."""

    MUST = "must", _("Must have")
    SHOULD = "should", _("Should have")
    COULD = "could", _("Could have")
    WONT = "wont", _("Won't have this time")


class RequirementStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    APPROVED = "approved", _("Approved")
    IMPLEMENTED = "implemented", _("Implemented")
    VERIFIED = "verified", _("Verified")
    RETIRED = "retired", _("Retired")


class Requirement(models.Model):
    """One requirement of a project, keyed ``ACME-R-7``; holds a copy of its current version.

    ``version`` is the number of the current ``RequirementVersion`` and the ETag.
    """

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="requirements")
    number = models.PositiveIntegerField()
    key = models.CharField(max_length=32, unique=True)
    title = models.CharField(_("title"), max_length=TITLE_MAX)
    text = models.TextField(_("text"), blank=True, max_length=TEXT_MAX)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    priority = models.CharField(_("priority"), max_length=8, choices=RequirementPriority.choices)
    status = models.CharField(_("status"), max_length=12, choices=RequirementStatus.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    version = models.PositiveIntegerField(default=1)
    # The identifier another tool gave it (a ReqIF SPEC-OBJECT IDENTIFIER), kept from the
    # import that created it so that importing that tool's file again updates it instead of
    # adding it twice. Blank for requirements made here. Not versioned: it names, not says.
    external_id = models.CharField(
        _("external ID"), max_length=EXTERNAL_ID_MAX, blank=True, default=""
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # ChangeRequest.affected_requirements: the requirements a CR declares it touches.
    change_requests = models.ManyToManyField(
        "changes.ChangeRequest",
        through="AffectedRequirement",
        related_name="affected_requirements",
        blank=True,
    )

    class Meta:
        ordering = ["project", "number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="requirement_number"),
            models.UniqueConstraint(
                fields=["project", "external_id"],
                condition=~models.Q(external_id=""),
                name="requirement_external_id",
            ),
        ]
        verbose_name = _("requirement")
        verbose_name_plural = _("requirements")

    def __str__(self) -> str:
        return f"{self.key} {self.title}"


class RequirementVersion(models.Model):
    """One immutable version of a requirement: what it said, who changed it, which CR caused it."""

    requirement = models.ForeignKey(Requirement, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    title = models.CharField(_("title"), max_length=TITLE_MAX)
    text = models.TextField(_("text"), blank=True, max_length=TEXT_MAX)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    priority = models.CharField(_("priority"), max_length=8, choices=RequirementPriority.choices)
    status = models.CharField(_("status"), max_length=12, choices=RequirementStatus.choices)
    parent = models.ForeignKey(
        Requirement, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    change_request = models.ForeignKey(
        "changes.ChangeRequest",
        verbose_name=_("change request"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="requirement_versions",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["requirement", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["requirement", "version"], name="requirement_version_unique"
            ),
        ]
        verbose_name = _("requirement version")
        verbose_name_plural = _("requirement versions")

    def __str__(self) -> str:
        return f"{self.requirement_id} v{self.version}"


class ImmutableError(RuntimeError):
    """A write to a row that must never change once written (a baseline)."""


class _WriteOnce(models.Model):
    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableError(f"{type(self).__name__} rows never change")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableError(f"{type(self).__name__} rows are never deleted")


class Baseline(_WriteOnce):
    """A named, immutable snapshot of the current version of every requirement of a project."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="baselines")
    name = models.CharField(_("name"), max_length=BASELINE_NAME_MAX)
    description = models.TextField(_("description"), blank=True, max_length=10_000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="baseline_project_name"),
        ]
        verbose_name = _("baseline")
        verbose_name_plural = _("baselines")

    def __str__(self) -> str:
        return self.name


class BaselineItem(_WriteOnce):
    """One requirement's frozen version in a baseline."""

    baseline = models.ForeignKey(Baseline, on_delete=models.PROTECT, related_name="items")
    requirement = models.ForeignKey(Requirement, on_delete=models.PROTECT, related_name="+")
    version = models.PositiveIntegerField()
    requirement_version = models.ForeignKey(
        RequirementVersion, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["baseline", "requirement"], name="baseline_item_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.baseline_id}: {self.requirement_id} v{self.version}"


class AffectedRequirement(models.Model):
    """A requirement a change request declares it affects (same project only)."""

    change_request = models.ForeignKey(
        "changes.ChangeRequest", on_delete=models.PROTECT, related_name="+"
    )
    requirement = models.ForeignKey(Requirement, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["change_request", "requirement"], name="affected_requirement_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.change_request_id} → {self.requirement_id}"


class ArtifactKind(models.TextChoices):
    DESIGN = "design", _("Design item")
    TEST = "test", _("Test")
    DOCUMENT = "document", _("Document")
    CODE = "code", _("Code module")
    DELIVERABLE = "deliverable", _("Deliverable")


class Artifact(models.Model):
    """Something made from requirements (a design item, a test, ...), keyed ``ACME-A-3``."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="artifacts")
    number = models.PositiveIntegerField()
    key = models.CharField(max_length=32, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=ArtifactKind.choices)
    title = models.CharField(_("title"), max_length=TITLE_MAX)
    description = models.TextField(_("description"), blank=True, max_length=TEXT_MAX)
    # The number of the current ArtifactVersion, and the ETag (as for requirements).
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="artifact_number"),
        ]
        verbose_name = _("artifact")
        verbose_name_plural = _("artifacts")

    def __str__(self) -> str:
        return f"{self.key} {self.title}"


class ArtifactVersion(models.Model):
    """One immutable version of an artifact: what it was, who changed it, which CR caused it.

    An artifact is upstream of the links that point at it (a test depends on a design item):
    a new version turns those links suspect, as a requirement's does."""

    artifact = models.ForeignKey(Artifact, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    kind = models.CharField(_("kind"), max_length=16, choices=ArtifactKind.choices)
    title = models.CharField(_("title"), max_length=TITLE_MAX)
    description = models.TextField(_("description"), blank=True, max_length=TEXT_MAX)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    change_request = models.ForeignKey(
        "changes.ChangeRequest",
        verbose_name=_("change request"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="artifact_versions",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["artifact", "version"]
        constraints = [
            models.UniqueConstraint(fields=["artifact", "version"], name="artifact_version_unique"),
        ]
        verbose_name = _("artifact version")
        verbose_name_plural = _("artifact versions")

    def __str__(self) -> str:
        return f"{self.artifact_id} v{self.version}"


class LinkKind(models.TextChoices):
    DERIVES = "derives", _("derives from")
    REFINES = "refines", _("refines")
    IMPLEMENTS = "implements", _("implements")
    VERIFIES = "verifies", _("verifies")
    DEPENDS_ON = "depends_on", _("depends on")
    DOCUMENTS = "documents", _("documents")


def _one_of(a: str, b: str) -> models.Q:
    return models.Q(**{f"{a}__isnull": False, f"{b}__isnull": True}) | models.Q(
        **{f"{a}__isnull": True, f"{b}__isnull": False}
    )


def _one_end(
    requirement: Requirement | None, artifact: Artifact | None, pk: int | None, end: str
) -> Requirement | Artifact:
    """The requirement or the artifact at one end of a trace link: exactly one is set (the
    ``trace_link_one_*`` constraints)."""
    if requirement is not None:
        return requirement
    if artifact is not None:
        return artifact
    raise ValueError(f"trace link {pk} has no {end}")


_ENDS = {
    "rr": ("source_requirement", "target_requirement"),
    "ra": ("source_requirement", "target_artifact"),
    "ar": ("source_artifact", "target_requirement"),
    "aa": ("source_artifact", "target_artifact"),
}


class TraceLink(models.Model):
    """A typed trace link ``source --kind--> target``, read "source <kind> target".

    Direction convention, the same for every kind: the **target is upstream**, the source
    downstream. "ACME-A-2 verifies ACME-R-1", "ACME-R-5 derives from ACME-R-1", "ACME-A-4
    depends_on ACME-A-3": the second end is the upstream one. When the upstream end (the
    target) gets a new version the link becomes ``suspect`` until someone reviews it; impact
    analysis walks links from target to source.

    Each end is either a requirement or an artifact: exactly one of each pair of foreign keys
    is set (database constraint). Both ends are of the link's project (enforced by the service).
    """

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="trace_links")
    source_requirement = models.ForeignKey(
        Requirement, null=True, blank=True, on_delete=models.PROTECT, related_name="links_out"
    )
    source_artifact = models.ForeignKey(
        Artifact, null=True, blank=True, on_delete=models.PROTECT, related_name="links_out"
    )
    target_requirement = models.ForeignKey(
        Requirement, null=True, blank=True, on_delete=models.PROTECT, related_name="links_in"
    )
    target_artifact = models.ForeignKey(
        Artifact, null=True, blank=True, on_delete=models.PROTECT, related_name="links_in"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=LinkKind.choices)
    suspect = models.BooleanField(_("suspect"), default=False)
    suspect_since = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "id"]
        constraints = [
            models.CheckConstraint(
                condition=_one_of("source_requirement", "source_artifact"),
                name="trace_link_one_source",
            ),
            models.CheckConstraint(
                condition=_one_of("target_requirement", "target_artifact"),
                name="trace_link_one_target",
            ),
            models.CheckConstraint(
                condition=~models.Q(source_requirement=models.F("target_requirement"))
                & ~models.Q(source_artifact=models.F("target_artifact")),
                name="trace_link_not_self",
            ),
            *(
                models.UniqueConstraint(
                    fields=[s, t, "kind"],
                    condition=models.Q(**{f"{s}__isnull": False, f"{t}__isnull": False}),
                    name=f"trace_link_unique_{name}",
                )
                for name, (s, t) in _ENDS.items()
            ),
        ]
        verbose_name = _("trace link")
        verbose_name_plural = _("trace links")

    def __str__(self) -> str:
        return f"{self.pk}: {self.kind}"

    @property
    def source(self) -> Requirement | Artifact:
        return _one_end(self.source_requirement, self.source_artifact, self.pk, "source")

    @property
    def target(self) -> Requirement | Artifact:
        return _one_end(self.target_requirement, self.target_artifact, self.pk, "target")

    @property
    def source_key(self) -> str:
        return self.source.key

    @property
    def target_key(self) -> str:
        return self.target.key


# ---------------------------------------------------------------- change sets


class EditOp(models.TextChoices):
    ADD = "add", _("Add")
    MODIFY = "modify", _("Modify")
    REMOVE = "remove", _("Remove")


class ChangeSetEdit(models.Model):
    """One proposed requirement edit of a change request's change set.

    ``modify`` and ``remove`` name the requirement and the version the edit was drafted
    against (``base_version``); ``proposed`` holds only the fields the edit sets (for ``add``:
    every field of the new requirement; for ``remove``: ``{"status": "retired"}``, since a
    requirement is never deleted). Written only by ``requirements.changesets``.
    """

    change_request = models.ForeignKey(
        "changes.ChangeRequest", on_delete=models.PROTECT, related_name="change_set_edits"
    )
    op = models.CharField(_("operation"), max_length=8, choices=EditOp.choices)
    requirement = models.ForeignKey(
        Requirement, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    base_version = models.PositiveIntegerField(null=True, blank=True)
    proposed = models.JSONField(default=dict)
    # Set when the change set is applied: the version the edit made (1 for an added one).
    applied_version = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["change_request", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["change_request", "requirement"],
                condition=models.Q(requirement__isnull=False, op__in=["modify", "remove"]),
                name="change_set_edit_once",
            ),
        ]
        indexes = [models.Index(fields=["requirement"], name="change_set_edit_req")]
        verbose_name = _("change-set edit")
        verbose_name_plural = _("change-set edits")

    def __str__(self) -> str:
        return f"{self.change_request_id}: {self.op} {self.requirement_id or ''}"


class ChangeSetApplication(models.Model):
    """The one application of a change request's change set (its existence makes a second
    apply a no-op), and the baseline made when the CR closed."""

    change_request = models.OneToOneField(
        "changes.ChangeRequest", on_delete=models.PROTECT, related_name="change_set_application"
    )
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    applied_at = models.DateTimeField(auto_now_add=True)
    edits = models.PositiveIntegerField(default=0)
    baseline = models.ForeignKey(
        Baseline, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.change_request_id} applied"


class ImpactSnapshot(models.Model):
    """What impact analysis showed when an assessment was made: the CCB decides on it."""

    assessment = models.OneToOneField(
        "changes.ImpactAssessment", on_delete=models.PROTECT, related_name="impact_snapshot"
    )
    change_request = models.ForeignKey(
        "changes.ChangeRequest", on_delete=models.PROTECT, related_name="+"
    )
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.change_request_id} impact at assessment {self.assessment_id}"
