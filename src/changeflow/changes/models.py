"""Change requests and what hangs off them: comments, attachments, assessments, risks, votes."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Greatest, Least
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from changeflow.accounts.models import Project

from .workflow import State

TITLE_MAX = 200
TEXT_MAX = 100_000


class Channel(models.TextChoices):
    WEB = "web", _("Web form")
    PORTAL = "portal", _("Customer portal")
    API = "api", _("API")
    EMAIL = "email", _("E-mail")
    IMPORT = "import", _("Import")
    MEETING = "meeting", _("Meeting")
    PHONE = "phone", _("Phone")
    IM = "im", _("Instant message")
    LETTER = "letter", _("Letter")


class ChangeType(models.TextChoices):
    FEATURE = "feature", _("New feature")
    MODIFICATION = "modification", _("Modification")
    REMOVAL = "removal", _("Removal")
    NON_FUNCTIONAL = "non_functional", _("Non-functional")
    DEFECT = "defect", _("Defect reclassified as change")
    DOCUMENTATION = "documentation", _("Documentation")


class Priority(models.TextChoices):
    P1 = "P1", _("P1 — critical")
    P2 = "P2", _("P2 — high")
    P3 = "P3", _("P3 — medium")
    P4 = "P4", _("P4 — low")


class Urgency(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")
    CRITICAL = "critical", _("Critical")


class Ratification(models.TextChoices):
    NONE = "", _("Not applicable")
    PENDING = "pending", _("Ratification pending")
    RATIFIED = "ratified", _("Ratified")
    REFUSED = "refused", _("Ratification refused")


class DecisionMode(models.TextChoices):
    NONE = "", _("Not decided")
    BOARD = "board", _("Board vote")
    DELEGATED = "delegated", _("Delegated authority")
    EMERGENCY = "emergency", _("Emergency approval")


class ChangeRequest(models.Model):
    """A customer's request to change what was agreed. Keyed per project: ``ACME-12``.

    Written only by ``changes.services``; ``version`` grows with every write and is the ETag.
    """

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="change_requests")
    number = models.PositiveIntegerField()
    key = models.CharField(max_length=24, unique=True)
    title = models.CharField(_("title"), max_length=TITLE_MAX)
    description = models.TextField(_("description"), max_length=TEXT_MAX)
    reason = models.TextField(_("reason"), blank=True, max_length=TEXT_MAX)
    expected_benefit = models.TextField(_("expected benefit"), blank=True, max_length=TEXT_MAX)
    channel = models.CharField(
        _("channel"), max_length=10, choices=Channel.choices, default=Channel.WEB
    )
    type = models.CharField(_("type"), max_length=16, choices=ChangeType.choices, blank=True)
    priority = models.CharField(_("priority"), max_length=2, choices=Priority.choices, blank=True)
    urgency = models.CharField(_("urgency"), max_length=8, choices=Urgency.choices, blank=True)
    labels = models.JSONField(_("labels"), default=list, blank=True)
    emergency = models.BooleanField(_("emergency"), default=False)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.DRAFT)
    ratification = models.CharField(
        max_length=8, choices=Ratification.choices, default=Ratification.NONE, blank=True
    )
    decision_mode = models.CharField(
        max_length=10, choices=DecisionMode.choices, default=DecisionMode.NONE, blank=True
    )
    review_round = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requester"),
        on_delete=models.PROTECT,
        related_name="requested_changes",
    )
    requester_contact = models.CharField(
        _("external requester"), max_length=200, blank=True,
        help_text=_("Name or e-mail of a requester who has no account."),
    )  # fmt: skip
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("assignee"), on_delete=models.PROTECT,
        related_name="assigned_changes", null=True, blank=True,
        help_text=_("The member who owes the next step; SLA breaches are sent to them first."),
    )  # fmt: skip
    requested_at = models.DateField(_("requested on"))
    desired_date = models.DateField(_("desired date"), null=True, blank=True)
    actual_effort_hours = models.DecimalField(
        _("actual effort (hours)"), max_digits=10, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(0)],
    )  # fmt: skip
    actual_cost = models.DecimalField(
        _("actual cost"), max_digits=14, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(0)],
    )  # fmt: skip
    actual_schedule_days = models.DecimalField(
        _("actual schedule (days)"), max_digits=8, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(0)],
    )  # fmt: skip
    # The form template the CR was made with (templates are archived, never deleted), and its
    # custom fields: the definitions as they were then (a later edit of the template does not
    # change how this CR reads) and the values, key → value (crtemplates.definitions).
    template = models.ForeignKey(
        "crtemplates.CRTemplate", verbose_name=_("template"), on_delete=models.PROTECT,
        related_name="change_requests", null=True, blank=True,
    )  # fmt: skip
    field_definitions = models.JSONField(default=list, blank=True)
    field_values = models.JSONField(_("custom fields"), default=dict, blank=True)
    # Where an imported CR came from: another tracker's id (a Jira issue key, a spreadsheet's
    # ref column). Unique in the project when set, so that importing a file again adds nothing.
    source_ref = models.CharField(_("source reference"), max_length=100, blank=True, default="")
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    state_changed_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="cr_project_number"),
            models.UniqueConstraint(
                fields=["project", "source_ref"],
                condition=~models.Q(source_ref=""),
                name="cr_project_source_ref",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "-created_at", "-id"]),
            models.Index(fields=["project", "state", "-created_at"]),
            # State and priority together are the board's usual filter ("P1 in review").
            models.Index(fields=["project", "state", "priority"], name="cr_project_state_priority"),
            models.Index(fields=["project", "priority", "-created_at"]),
            models.Index(fields=["project", "type", "-created_at"]),
            models.Index(fields=["assignee", "-created_at"], name="cr_assignee_created"),
            # My work: a requester's requests returned to them, or still open.
            models.Index(fields=["requested_by", "state"], name="cr_requester_state"),
        ]
        verbose_name = _("change request")
        verbose_name_plural = _("change requests")

    def __str__(self) -> str:
        return f"{self.key} {self.title}"


class Comment(models.Model):
    """A comment on a CR. Internal comments are hidden from customer roles."""

    change_request = models.ForeignKey(
        ChangeRequest, on_delete=models.PROTECT, related_name="comments"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(_("comment"), max_length=TEXT_MAX)
    internal = models.BooleanField(_("internal"), default=False)
    # Who wrote it when that is nobody's account: the sender ("Name <address>") of a mail from
    # an address of no member, which the author (the project manager) records.
    email_sender = models.CharField(_("e-mail sender"), max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["change_request", "created_at"])]

    def __str__(self) -> str:
        return f"{self.change_request_id}: {self.body[:40]}"


def attachment_path(instance: "Attachment", filename: str) -> str:
    # Content-addressed: the stored name never comes from the user.
    return f"attachments/{instance.sha256[:2]}/{instance.sha256}"


class Attachment(models.Model):
    """A file attached to a CR; served only to those who may see the CR."""

    change_request = models.ForeignKey(
        ChangeRequest, on_delete=models.PROTECT, related_name="attachments"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    file = models.FileField(upload_to=attachment_path, max_length=200)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.filename


class AssessmentMethod(models.TextChoices):
    EXPERT = "expert", _("Expert estimation")
    ANALOGY = "analogy", _("Historical analogy")
    SIMULATION = "simulation", _("Simulation")
    MANUAL = "manual", _("Manual")


class ImpactAssessment(models.Model):
    """One version of a CR's impact assessment; the highest version is the current one."""

    change_request = models.ForeignKey(
        ChangeRequest, on_delete=models.PROTECT, related_name="assessments"
    )
    version = models.PositiveIntegerField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    method = models.CharField(
        _("method"), max_length=10, choices=AssessmentMethod.choices,
        default=AssessmentMethod.MANUAL,
    )  # fmt: skip
    effort_hours = models.DecimalField(
        _("effort (hours)"), max_digits=10, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(0)],
    )  # fmt: skip
    schedule_days = models.DecimalField(
        _("schedule (days)"), max_digits=8, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(0)],
    )  # fmt: skip
    cost = models.DecimalField(
        _("cost"), max_digits=14, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(0)],
    )  # fmt: skip
    currency = models.CharField(_("currency"), max_length=3)
    resources = models.JSONField(_("resources"), default=list, blank=True)
    notes = models.TextField(_("notes"), blank=True, max_length=TEXT_MAX)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["change_request", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["change_request", "version"], name="assessment_cr_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.change_request_id} v{self.version}"


class Risk(models.Model):
    """A risk register entry of an assessment: exposure = probability × impact."""

    assessment = models.ForeignKey(ImpactAssessment, on_delete=models.PROTECT, related_name="risks")
    description = models.TextField(_("description"), max_length=10_000)
    probability = models.DecimalField(
        _("probability"), max_digits=4, decimal_places=3,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
    )  # fmt: skip
    impact = models.PositiveSmallIntegerField(
        _("impact"), validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    mitigation = models.TextField(_("mitigation"), blank=True, max_length=10_000)
    owner = models.CharField(_("owner"), max_length=150, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.description[:60]

    @property
    def exposure(self):
        return self.probability * self.impact


class VoteDecision(models.TextChoices):
    APPROVE = "approve", _("Approve")
    REJECT = "reject", _("Reject")
    ABSTAIN = "abstain", _("Abstain")
    DEFER = "defer", _("Defer")


class VotePurpose(models.TextChoices):
    DECISION = "decision", _("Decision")
    RATIFICATION = "ratification", _("Ratification")


class Vote(models.Model):
    """A board member's signed vote on a CR in one review round (or its ratification)."""

    change_request = models.ForeignKey(
        ChangeRequest, on_delete=models.PROTECT, related_name="votes"
    )
    voter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    purpose = models.CharField(max_length=12, choices=VotePurpose.choices)
    round = models.PositiveIntegerField()
    decision = models.CharField(_("decision"), max_length=8, choices=VoteDecision.choices)
    comment = models.TextField(pgettext_lazy("vote", "comment"), blank=True, max_length=TEXT_MAX)
    role = models.CharField(max_length=20)
    signed_at = models.DateTimeField()
    # The electronic signature's meaning: the statement the signer agreed to with their
    # password, e.g. "I approve this change as the customer representative".
    meaning = models.CharField(_("meaning of the signature"), max_length=300, blank=True)
    # A vote voided because the CR changed materially after it was cast: kept, never counted.
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True, max_length=TEXT_MAX)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["signed_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["change_request", "purpose", "round", "voter"],
                condition=models.Q(voided_at__isnull=True),
                name="vote_once_per_round",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.voter} {self.decision} {self.change_request_id}"


class StateChange(models.Model):
    """One move of a CR from one state to another: when, by whom (None for the board's
    verdict). Written by ``changes.services`` with every state change, so cycle times per
    stage read from here (``reports.metrics``); ``from_state`` is "" for the CR's creation.
    """

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+")
    change_request = models.ForeignKey(
        ChangeRequest, on_delete=models.PROTECT, related_name="state_changes"
    )
    from_state = models.CharField(max_length=16, choices=State.choices, blank=True)
    to_state = models.CharField(max_length=16, choices=State.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["change_request", "at", "id"]
        indexes = [
            models.Index(fields=["change_request", "at"], name="statechange_cr_at"),
            # The metrics' usual filter: a project's entries into one state within a period.
            models.Index(fields=["project", "to_state", "at"], name="statechange_project_to_at"),
        ]

    def __str__(self) -> str:
        return f"{self.change_request_id} {self.from_state or '-'} → {self.to_state}"


class ImportState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class ImportJob(models.Model):
    """A change request import confirmed above ``CHANGEFLOW_CR_IMPORT_SYNC_ROWS`` rows: run by a
    background task (``changes.import_jobs``). ``content`` keeps the file until the job ends, so
    that a task run again (a worker killed mid-import) reads it again; the job turns ``done`` in
    the same transaction as the CRs it made, so a run again after that commit does nothing."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    filename = models.CharField(max_length=200, blank=True, default="")
    format = models.CharField(max_length=16, blank=True, default="")  # empty: by the file's name
    submit = models.BooleanField(default=False)
    content = models.BinaryField(default=b"")
    state = models.CharField(max_length=8, choices=ImportState.choices, default=ImportState.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    keys = models.JSONField(default=list, blank=True)  # the keys of the CRs made, in row order
    problems = models.JSONField(default=list, blank=True)  # "row N, column C: …" of a refusal
    warnings = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="cr_import_job_project")]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.filename})"


class LinkKind(models.TextChoices):
    """How one CR stands to another; read from the link's source ("ACME-12 duplicates ACME-7")."""

    DUPLICATES = "duplicates", _("duplicates")
    RELATES_TO = "relates_to", _("relates to")
    DEPENDS_ON = "depends_on", _("depends on")
    REPLACES = "replaces", _("replaces")


# The same link read from its target: "ACME-7 is duplicated by ACME-12", "ACME-5 blocks ACME-3".
LINK_INVERSE_LABELS = {
    LinkKind.DUPLICATES: _("is duplicated by"),
    LinkKind.RELATES_TO: _("relates to"),
    LinkKind.DEPENDS_ON: _("blocks"),
    LinkKind.REPLACES: _("is replaced by"),
}
LINK_NOTE_MAX = 2000


class ChangeRequestLink(models.Model):
    """A typed, directed link between two CRs (``changes.links``). One link per pair of CRs,
    whichever way and whatever the kind: two links between the same CRs would say the same
    thing twice ("relates to" both ways) or contradict each other ("depends on" both ways is a
    cycle, "duplicates" and "relates to" together is one too many). A CR duplicates at most one
    other. Removing a link deletes the row; the audit event keeps what it was."""

    from_cr = models.ForeignKey(ChangeRequest, on_delete=models.PROTECT, related_name="links_out")
    to_cr = models.ForeignKey(ChangeRequest, on_delete=models.PROTECT, related_name="links_in")
    kind = models.CharField(_("kind"), max_length=12, choices=LinkKind.choices)
    note = models.TextField(_("note"), blank=True, max_length=LINK_NOTE_MAX)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                Least("from_cr", "to_cr"),
                Greatest("from_cr", "to_cr"),
                name="crlink_one_per_pair",
            ),
            models.CheckConstraint(
                condition=~models.Q(from_cr=models.F("to_cr")), name="crlink_not_self"
            ),
            models.UniqueConstraint(
                fields=["from_cr"],
                condition=models.Q(kind="duplicates"),
                name="crlink_duplicates_one",
            ),
        ]
        indexes = [models.Index(fields=["to_cr", "kind"], name="crlink_to_kind")]
        verbose_name = _("change request link")
        verbose_name_plural = _("change request links")

    def __str__(self) -> str:
        return f"{self.from_cr_id} {self.kind} {self.to_cr_id}"
