"""API shapes of change requests and what hangs off them (input and output)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from changeflow.core.api_views import ErrorDetailSerializer, StrictSerializer
from changeflow.core.models import AuditEvent
from changeflow.crtemplates.models import FieldKind

from .bulk import OPERATION_NAMES as BULK_OPERATIONS
from .models import (
    TEXT_MAX,
    TITLE_MAX,
    AssessmentMethod,
    Attachment,
    ChangeRequest,
    ChangeType,
    Channel,
    Comment,
    ImpactAssessment,
    LinkKind,
    Priority,
    Risk,
    Urgency,
    Vote,
    VoteDecision,
)
from .workflow import ACTION_NAMES

# ---------------------------------------------------------------- output


class ChangeRequestListSerializer(serializers.ModelSerializer):
    """A CR in lists: everything but the long texts."""

    project = serializers.CharField(source="project.key", read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    assignee = serializers.CharField(
        source="assignee.username", read_only=True, allow_null=True,
        help_text=_("The assignee's username, or null when nobody is assigned."),
    )  # fmt: skip
    # Empty ("") until someone triages the CR: declared, since a read-only model field loses
    # its allow_blank and the schema would leave "" out of the enum.
    type = serializers.ChoiceField(choices=ChangeType.choices, allow_blank=True, read_only=True)
    priority = serializers.ChoiceField(choices=Priority.choices, allow_blank=True, read_only=True)
    urgency = serializers.ChoiceField(choices=Urgency.choices, allow_blank=True, read_only=True)

    class Meta:
        model = ChangeRequest
        fields = [
            "key", "project", "number", "title", "state", "channel", "type", "priority",
            "urgency", "labels", "emergency", "ratification", "decision_mode", "requested_by",
            "assignee", "requested_at", "desired_date", "version", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def to_representation(self, instance):
        if type(self) is not ChangeRequestListSerializer:
            return super().to_representation(instance)
        return list_item(instance)


_DATETIME = serializers.DateTimeField()
_DATE = serializers.DateField()


def list_item(cr: ChangeRequest) -> dict:
    """One CR of a list, exactly as ``ChangeRequestListSerializer`` declares it.

    A hot path: a page renders 50 of these, and DRF's generic per-field machinery was most of
    the page's time (7 of 11 ms). tests/api pins this output to the generic one.
    """
    return {
        "key": cr.key,
        "project": cr.project.key,
        "number": cr.number,
        "title": cr.title,
        "state": cr.state,
        "channel": cr.channel,
        "type": cr.type,
        "priority": cr.priority,
        "urgency": cr.urgency,
        "labels": cr.labels,
        "emergency": cr.emergency,
        "ratification": cr.ratification,
        "decision_mode": cr.decision_mode,
        "requested_by": cr.requested_by.username,
        "assignee": cr.assignee.username if cr.assignee is not None else None,
        "requested_at": _DATE.to_representation(cr.requested_at),
        "desired_date": cr.desired_date and _DATE.to_representation(cr.desired_date),
        "version": cr.version,
        "created_at": _DATETIME.to_representation(cr.created_at),
        "updated_at": _DATETIME.to_representation(cr.updated_at),
    }


class AvailableActionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=ACTION_NAMES)
    # The API's field "label" shadows DRF's Field.label attribute (still a declared field).
    label = serializers.CharField()  # type: ignore[assignment]
    target = serializers.CharField(help_text=_("The state the CR moves to."))


class AssessmentSummarySerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True)
    risk_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = ImpactAssessment
        fields = [
            "version", "method", "effort_hours", "schedule_days", "cost", "currency",
            "risk_count", "author", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class FieldDefinitionSerializer(serializers.Serializer):
    """A custom field of the form the CR was made with, as it was then."""

    key = serializers.CharField()
    # The API's field "label" shadows DRF's Field.label attribute (still a declared field).
    label = serializers.CharField()  # type: ignore[assignment]
    kind = serializers.ChoiceField(choices=FieldKind.choices)
    required = serializers.BooleanField()  # type: ignore[assignment]  # an API name, as label
    help = serializers.CharField(allow_blank=True)
    choices = serializers.ListField(child=serializers.CharField())


CUSTOM_FIELDS_HELP = _(
    "The custom fields of the CR's template, key → value: text, a number as a decimal string, "
    "a date YYYY-MM-DD, one of a choice field's choices, or true/false. Empty ones are absent."
)


class LinkedChangeSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    state = serializers.CharField()


class LinkSerializer(serializers.Serializer):
    """One link as the CR in the path sees it."""

    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=LinkKind.choices)
    direction = serializers.ChoiceField(
        choices=[("out", "out"), ("in", "in")],
        help_text=_(
            "out: this CR is the link's source (it duplicates, depends on, replaces the other); "
            "in: its target (it is duplicated by, blocks, is replaced by the other)."
        ),
    )
    label = serializers.CharField(  # type: ignore[assignment]  # the API's field name
        help_text=_("How the link reads from this CR, e.g. 'blocks'.")
    )
    source = serializers.CharField(source="from_key")  # type: ignore[assignment]  # as label
    target = serializers.CharField(source="to_key")
    other = serializers.SerializerMethodField()
    note = serializers.CharField()
    created_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    removable = serializers.BooleanField(
        help_text=_("Whether the caller may remove the link: who may edit its source CR.")
    )

    @extend_schema_field(LinkedChangeSerializer)
    def get_other(self, row: Any) -> dict:
        return {"key": row.other_key, "title": row.other_title, "state": row.other_state}


class ChangeRequestSerializer(ChangeRequestListSerializer):
    """One CR with its texts, actuals, the caller's available actions and its current
    assessment (the view puts the last two in the serializer context)."""

    created_by = serializers.CharField(source="created_by.username", read_only=True)
    currency = serializers.CharField(source="project.currency", read_only=True)
    affected_requirements = serializers.SerializerMethodField()
    available_actions = serializers.SerializerMethodField()
    current_assessment = serializers.SerializerMethodField()
    template = serializers.IntegerField(
        source="template_id", read_only=True, allow_null=True,
        help_text=_("The id of the form template the CR was made with, or null."),
    )  # fmt: skip
    # "fields" is the API's name: DRF's serializer metaclass takes declared fields out of the
    # class, so it does not shadow Serializer.fields at run time (the type checker sees a clash).
    fields = serializers.DictField(  # type: ignore[assignment]
        source="field_values", read_only=True, help_text=CUSTOM_FIELDS_HELP
    )
    field_definitions = FieldDefinitionSerializer(many=True, read_only=True)
    links = serializers.SerializerMethodField()

    class Meta(ChangeRequestListSerializer.Meta):
        fields = [
            *ChangeRequestListSerializer.Meta.fields,
            "description", "reason", "expected_benefit", "requester_contact", "source_ref",
            "created_by", "review_round", "actual_effort_hours", "actual_cost",
            "actual_schedule_days", "currency", "state_changed_at", "closed_at",
            "affected_requirements",
            "available_actions", "current_assessment", "template", "fields", "field_definitions",
            "links",
        ]  # fmt: skip
        read_only_fields = fields

    def to_representation(self, instance):
        if type(self) is not ChangeRequestSerializer:
            return super().to_representation(instance)
        return detail_item(
            instance,
            actions=self.get_available_actions(instance),
            assessment=self.get_current_assessment(instance),
            links=self.get_links(instance),
        )

    def get_affected_requirements(self, obj) -> list[str]:
        return affected_keys(obj)

    @extend_schema_field(AvailableActionSerializer(many=True))
    def get_available_actions(self, obj):
        return AvailableActionSerializer(self.context.get("available_actions", []), many=True).data

    @extend_schema_field(LinkSerializer(many=True))
    def get_links(self, obj):
        """The CR's links both ways, those whose other CR the caller can see (the view reads
        them: ``changes.links.link_list``)."""
        return LinkSerializer(self.context.get("links", []), many=True).data

    @extend_schema_field(AssessmentSummarySerializer(allow_null=True))
    def get_current_assessment(self, obj):
        assessment = self.context.get("current_assessment")
        return AssessmentSummarySerializer(assessment).data if assessment else None


_HOURS = serializers.DecimalField(max_digits=10, decimal_places=2)
_MONEY = serializers.DecimalField(max_digits=14, decimal_places=2)
_DAYS = serializers.DecimalField(max_digits=8, decimal_places=2)


def _optional(field: serializers.Field, value):
    return None if value is None else field.to_representation(value)


def affected_keys(cr: ChangeRequest) -> list[str]:
    """The keys of the requirements ``cr`` declares it affects, in key order: one query, or
    none when they were prefetched (``prefetch_related("affected_requirements")``)."""
    cached = getattr(cr, "_prefetched_objects_cache", {}).get("affected_requirements")
    if cached is not None:
        return [r.key for r in sorted(cached, key=lambda r: r.number)]
    return list(cr.affected_requirements.order_by("number").values_list("key", flat=True))


def detail_item(
    cr: ChangeRequest, *, actions: list, assessment: dict | None, links: list | None = None
) -> dict:
    """One CR, exactly as ``ChangeRequestSerializer`` declares it (a hot path, like
    ``list_item``; tests/api pins the two to the generic serializer)."""
    return {
        **list_item(cr),
        "description": cr.description,
        "reason": cr.reason,
        "expected_benefit": cr.expected_benefit,
        "requester_contact": cr.requester_contact,
        "source_ref": cr.source_ref,
        "created_by": cr.created_by.username,
        "review_round": cr.review_round,
        "actual_effort_hours": _optional(_HOURS, cr.actual_effort_hours),
        "actual_cost": _optional(_MONEY, cr.actual_cost),
        "actual_schedule_days": _optional(_DAYS, cr.actual_schedule_days),
        "currency": cr.project.currency,
        "state_changed_at": _DATETIME.to_representation(cr.state_changed_at),
        "closed_at": _optional(_DATETIME, cr.closed_at),
        "affected_requirements": affected_keys(cr),
        "available_actions": actions,
        "current_assessment": assessment,
        "template": cr.template_id,
        "fields": cr.field_values,
        "field_definitions": cr.field_definitions,
        "links": links or [],
    }


class CommentSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True)

    class Meta:
        model = Comment
        fields = ["id", "author", "email_sender", "body", "internal", "created_at"]
        read_only_fields = fields
        extra_kwargs = {
            "email_sender": {
                "help_text": "The sender (name and address) of a comment that came by e-mail "
                "from someone without an account; the author is who recorded it. Empty otherwise."
            }
        }


class AttachmentSerializer(serializers.ModelSerializer):
    uploaded_by = serializers.CharField(source="uploaded_by.username", read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Attachment
        fields = [
            "id", "filename", "content_type", "size", "sha256", "uploaded_by", "created_at",
            "download_url",
        ]  # fmt: skip
        read_only_fields = fields

    def get_download_url(self, obj) -> str:
        from django.urls import reverse

        return reverse(
            "api-attachment-download", kwargs={"key": obj.change_request.key, "pk": obj.pk}
        )


class RiskSerializer(serializers.ModelSerializer):
    exposure = serializers.DecimalField(max_digits=6, decimal_places=3, read_only=True)

    class Meta:
        model = Risk
        fields = ["description", "probability", "impact", "mitigation", "owner", "exposure"]
        read_only_fields = fields


class ResourceSerializer(serializers.Serializer):
    role = serializers.CharField(max_length=100)
    hours = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=0)


class AssessmentSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True)
    resources = ResourceSerializer(many=True, read_only=True)
    risks = RiskSerializer(many=True, read_only=True)
    notes = serializers.SerializerMethodField(help_text=_("Internal: empty for customer roles."))

    class Meta:
        model = ImpactAssessment
        fields = [
            "version", "method", "effort_hours", "schedule_days", "cost", "currency",
            "resources", "risks", "notes", "author", "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_notes(self, obj) -> str:
        return "" if self.context.get("hide_internal") else obj.notes


class VoteSerializer(serializers.ModelSerializer):
    voter = serializers.CharField(source="voter.username", read_only=True)

    class Meta:
        model = Vote
        fields = [
            "voter", "role", "decision", "comment", "purpose", "round", "signed_at", "meaning",
            "voided_at", "void_reason",
        ]  # fmt: skip
        read_only_fields = fields
        extra_kwargs = {
            "meaning": {"help_text": _("What the signer agreed to with their password.")},
            "voided_at": {"help_text": _("Set when a material change reset the votes: kept, "
                                         "not counted.")},
        }  # fmt: skip


class TallySerializer(serializers.Serializer):
    eligible = serializers.IntegerField()
    quorum = serializers.IntegerField()
    cast = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField())
    verdict = serializers.ChoiceField(
        choices=["approve", "reject", "defer"], allow_null=True, help_text=_("None: undecided.")
    )


class VoteResultSerializer(serializers.Serializer):
    vote = VoteSerializer()
    tally = TallySerializer()
    state = serializers.CharField(help_text=_("The CR's state after this vote."))
    ratification = serializers.CharField()


class HistoryEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["seq", "at", "actor", "action", "before", "after", "channel"]
        read_only_fields = fields


class AvailableActionsSerializer(serializers.Serializer):
    actions = AvailableActionSerializer(many=True)


# ---------------------------------------------------------------- input


def _text(max_length: int = TEXT_MAX) -> serializers.CharField:
    return serializers.CharField(
        max_length=max_length, required=False, allow_blank=True, default=""
    )


def _template_id(help_text) -> serializers.IntegerField:
    return serializers.IntegerField(required=False, allow_null=True, help_text=help_text)


def _project_key() -> serializers.CharField:
    return serializers.CharField(max_length=10, help_text=_("Project key, e.g. ACME."))


class ProjectNamedSerializer(serializers.Serializer):
    """The project a new change request's body names, read first: the caller's role in it
    decides before the rest of the body is read (its other fields are left to
    ``ChangeRequestCreateSerializer``)."""

    project = _project_key()


class ChangeRequestCreateSerializer(StrictSerializer):
    project = _project_key()
    title = serializers.CharField(max_length=TITLE_MAX)
    description = serializers.CharField(max_length=TEXT_MAX)
    reason = _text()
    expected_benefit = _text()
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.API)
    type = serializers.ChoiceField(choices=ChangeType.choices, required=False, allow_blank=True)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False, allow_blank=True)
    urgency = serializers.ChoiceField(choices=Urgency.choices, required=False, allow_blank=True)
    labels = serializers.ListField(
        child=serializers.CharField(max_length=50), max_length=20, required=False, default=list
    )
    emergency = serializers.BooleanField(required=False, default=False)
    requested_by = serializers.CharField(
        max_length=150,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text=_("Username of the requester, a project member (default: you)."),
    )
    requester_contact = _text(200)
    desired_date = serializers.DateField(required=False, allow_null=True)
    affected_requirements = serializers.ListField(
        child=serializers.CharField(max_length=32), max_length=500, required=False, default=list
    )
    submit = serializers.BooleanField(
        required=False, default=False, help_text=_("Submit at once (state `submitted`).")
    )
    template = _template_id(
        _("The id of an active form template of the project: its defaults fill the type, "
          "priority, urgency and labels left empty; its fields are `fields`.")
    )  # fmt: skip
    fields = serializers.DictField(  # type: ignore[assignment]  # an API name, see above
        required=False, help_text=CUSTOM_FIELDS_HELP
    )


def _decimal(max_digits: int) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=max_digits, decimal_places=2, min_value=0, required=False, allow_null=True
    )


class ChangeRequestUpdateSerializer(StrictSerializer):
    """A PATCH: only the fields sent are changed."""

    title = serializers.CharField(max_length=TITLE_MAX, required=False)
    description = serializers.CharField(max_length=TEXT_MAX, required=False)
    reason = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    expected_benefit = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    type = serializers.ChoiceField(choices=ChangeType.choices, required=False, allow_blank=True)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False, allow_blank=True)
    urgency = serializers.ChoiceField(choices=Urgency.choices, required=False, allow_blank=True)
    labels = serializers.ListField(
        child=serializers.CharField(max_length=50), max_length=20, required=False
    )
    emergency = serializers.BooleanField(required=False)
    desired_date = serializers.DateField(required=False, allow_null=True)
    requester_contact = serializers.CharField(max_length=200, required=False, allow_blank=True)
    assignee = serializers.CharField(
        max_length=150, required=False, allow_null=True, allow_blank=True,
        help_text=_(
            "A team member's username (not a viewer or customer); null or empty clears it. "
            "Project managers and tech leads only; the new assignee is notified."
        ),
    )  # fmt: skip
    actual_effort_hours = _decimal(10)
    actual_cost = _decimal(14)
    actual_schedule_days = _decimal(8)
    template = _template_id(
        _("Another active form template of the project (null: none). The CR takes its field "
          "definitions; values of keys it does not have are dropped.")
    )  # fmt: skip
    fields = serializers.DictField(  # type: ignore[assignment]  # an API name, see above
        required=False,
        help_text=_("Custom field values to set, key → value (null or empty clears one); the "
                    "others are kept."),
    )  # fmt: skip


class TransitionSerializer(StrictSerializer):
    action = serializers.ChoiceField(choices=ACTION_NAMES)
    comment = serializers.CharField(
        max_length=TEXT_MAX, required=False, allow_blank=True, default=""
    )


class BulkChangeSerializer(StrictSerializer):
    """One operation on many change requests, all or nothing (``changes.bulk``)."""

    keys = serializers.ListField(
        child=serializers.CharField(max_length=64), min_length=1,
        help_text=_("The change requests' keys (each once; at most CHANGEFLOW_BULK_MAX, 200 "
                    "by default: more answers 413)."),
    )  # fmt: skip
    project = serializers.CharField(
        required=False, allow_blank=True, default="",
        help_text=_("A project's key: every CR must be one of its (404 otherwise)."),
    )  # fmt: skip
    operation = serializers.ChoiceField(choices=BULK_OPERATIONS)
    assignee = serializers.CharField(
        required=False, allow_blank=True, default="", help_text=_("For assign: a username.")
    )
    priority = serializers.ChoiceField(
        choices=Priority.choices, required=False, allow_blank=True, default=""
    )
    type = serializers.ChoiceField(
        choices=ChangeType.choices, required=False, allow_blank=True, default=""
    )
    # The API's field "label" shadows Field.label for the type checker only (the metaclass
    # takes declared fields off the class).
    label = serializers.CharField(  # type: ignore[assignment]
        max_length=50, required=False, allow_blank=True, default="",
        help_text=_("For add_label and remove_label."),
    )  # fmt: skip
    action = serializers.ChoiceField(
        choices=ACTION_NAMES, required=False, allow_blank=True, default="",
        help_text=_("For action: a workflow action (not ratify: the board's)."),
    )  # fmt: skip
    comment = serializers.CharField(
        max_length=TEXT_MAX, required=False, allow_blank=True, default="",
        help_text=_("With an action (return and reject_verification need one)."),
    )  # fmt: skip


class BulkChangedSerializer(serializers.Serializer):
    key = serializers.CharField()
    version = serializers.IntegerField()


class BulkResultSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    change_requests = BulkChangedSerializer(many=True)


class BulkRefusedSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()
    # As "label" above: the API's field "errors" (documents the 422 body only).
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.CharField(), help_text=_("Each refused change request: key → why.")
    )


class CommentCreateSerializer(StrictSerializer):
    body = serializers.CharField(max_length=TEXT_MAX)
    internal = serializers.BooleanField(
        required=False, default=False, help_text=_("Hidden from customer roles.")
    )


class AttachmentUploadSerializer(StrictSerializer):
    # Empty files too: uploads.check refuses them with its own message, as every other file.
    file = serializers.FileField(
        allow_empty_file=True, help_text=_("The file (multipart/form-data).")
    )


class RiskInputSerializer(StrictSerializer):
    description = serializers.CharField(max_length=10_000)
    probability = serializers.DecimalField(max_digits=4, decimal_places=3, min_value=0, max_value=1)
    impact = serializers.IntegerField(min_value=1, max_value=5)
    mitigation = serializers.CharField(
        max_length=10_000, required=False, allow_blank=True, default=""
    )
    owner = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")


class ResourceInputSerializer(StrictSerializer):
    role = serializers.CharField(max_length=100)
    hours = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=0)


class AssessmentCreateSerializer(StrictSerializer):
    effort_hours = _decimal(10)
    schedule_days = _decimal(8)
    cost = _decimal(14)
    currency = serializers.RegexField(
        r"^[A-Z]{3}\Z",
        required=False,
        allow_blank=True,
        help_text=_("ISO 4217; default: the project's currency."),
        error_messages={"invalid": _("An ISO 4217 code such as CNY, USD or EUR.")},
    )
    resources = ResourceInputSerializer(many=True, required=False)
    risks = RiskInputSerializer(many=True, required=False)
    method = serializers.ChoiceField(choices=AssessmentMethod.choices, default="manual")
    notes = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True, default="")

    def validate_resources(self, value):
        if len(value) > 100:
            raise serializers.ValidationError(_("At most 100 entries."))
        return [{"role": r["role"], "hours": r["hours"]} for r in value]

    def validate_risks(self, value):
        if len(value) > 100:
            raise serializers.ValidationError(_("At most 100 risks."))
        return [dict(r) for r in value]


class VoteCreateSerializer(StrictSerializer):
    decision = serializers.ChoiceField(choices=VoteDecision.choices)
    comment = serializers.CharField(
        max_length=TEXT_MAX, required=False, allow_blank=True, default=""
    )
    password = serializers.CharField(
        max_length=4096,
        trim_whitespace=False,
        write_only=True,
        help_text=_("Your password again: it signs the vote."),
    )


# ---------------------------------------------------------------- import and export


class CRImportUploadSerializer(StrictSerializer):
    file = serializers.FileField(
        allow_empty_file=True,
        help_text=_("The file: .csv, .xlsx, or Jira's CSV export or search JSON (.json)."),
    )
    format = serializers.ChoiceField(
        choices=["csv", "xlsx", "jira-csv", "jira-json"],
        required=False,
        allow_blank=True,
        default="",
        help_text=_("Default: from the file's name."),
    )
    dry_run = serializers.BooleanField(
        required=False, default=False, help_text=_("Report what would be created; write nothing.")
    )
    submit = serializers.BooleanField(
        required=False,
        default=False,
        help_text=_("Submit the new change requests (the team is notified); default: drafts."),
    )


class CRImportItemSerializer(serializers.Serializer):
    where = serializers.CharField(help_text=_("The row (or Jira issue) of the file."))
    key = serializers.CharField(
        help_text=_("The CR's key: the one it gets, or the one that has its reference.")
    )
    ref = serializers.CharField(help_text=_("The source reference (empty for none)."))
    title = serializers.CharField()
    action = serializers.ChoiceField(
        choices=["created", "skipped"],
        help_text=_("created (or would be), or skipped: its reference is already a CR."),
    )


class CRImportReportSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    format = serializers.CharField()
    created = serializers.IntegerField()
    skipped = serializers.IntegerField()
    items = CRImportItemSerializer(many=True)
    warnings = serializers.ListField(child=serializers.CharField())


class CRImportProgressSerializer(serializers.Serializer):
    stage = serializers.CharField(
        help_text=_("queued, read, check (rows checked), write (change requests made), then done "
                    "or failed.")
    )  # fmt: skip
    done = serializers.IntegerField(help_text=_("Rows done in this stage."))
    total = serializers.IntegerField()
    percent = serializers.IntegerField()


class CRImportJobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField(help_text=_("Where to poll the job."))
    project = serializers.CharField()
    created_by = serializers.CharField()
    filename = serializers.CharField()
    format = serializers.CharField(help_text=_("As given; empty: from the file's name."))
    submit = serializers.BooleanField()
    state = serializers.ChoiceField(choices=["queued", "running", "done", "failed"])
    progress = CRImportProgressSerializer()
    rows_total = serializers.IntegerField()
    created = serializers.IntegerField()
    skipped = serializers.IntegerField()
    keys = serializers.ListField(
        child=serializers.CharField(), help_text=_("The keys of the change requests made.")
    )
    problems = serializers.ListField(
        child=serializers.CharField(),
        help_text=_("Why a failed job imported nothing: each row and column."),
    )
    warnings = serializers.ListField(child=serializers.CharField())
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class CRImportQueuedSerializer(serializers.Serializer):
    job = CRImportJobSerializer()
