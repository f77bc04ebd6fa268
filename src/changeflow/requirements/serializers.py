"""API shapes of requirements, their versions and baselines (input and output)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from changeflow.core.api_views import StrictSerializer

# A note on ``# type: ignore[assignment]`` below: the API names some fields like attributes of
# DRF's ``Field``/``Serializer`` (``parent``, ``source``, ``label``, ``fields``). DRF's
# ``SerializerMetaclass`` pops declared fields off the class, so nothing is shadowed at run
# time, but djangorestframework-stubs reads them as overriding those attributes (open stubs
# issues typeddjango/djangorestframework-stubs#78 and #158). The names are fixed by API.md.
from .models import (
    BASELINE_NAME_MAX,
    TEXT_MAX,
    TITLE_MAX,
    Artifact,
    ArtifactKind,
    ArtifactVersion,
    Baseline,
    Kind,
    LinkKind,
    Requirement,
    RequirementPriority,
    RequirementStatus,
    RequirementVersion,
    TraceLink,
)

# ---------------------------------------------------------------- output


class RequirementSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="project.key", read_only=True)
    parent = serializers.CharField(  # type: ignore[assignment]  # API field name; see module note
        source="parent.key", read_only=True, allow_null=True, default=None
    )
    created_by = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = Requirement
        fields = [
            "key", "project", "number", "title", "text", "kind", "priority", "status", "parent",
            "version", "created_by", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class RequirementVersionSerializer(serializers.ModelSerializer):
    key = serializers.CharField(source="requirement.key", read_only=True)
    parent = serializers.CharField(  # type: ignore[assignment]  # API field name; see module note
        source="parent.key", read_only=True, allow_null=True, default=None
    )
    author = serializers.CharField(source="author.username", read_only=True)
    change_request = serializers.CharField(
        source="change_request.key",
        read_only=True,
        allow_null=True,
        default=None,
        help_text=_("The change request that caused this version, if any."),
    )

    class Meta:
        model = RequirementVersion
        fields = [
            "key", "version", "title", "text", "kind", "priority", "status", "parent", "author",
            "change_request", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class BaselineSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="project.key", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    requirement_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Baseline
        fields = ["name", "project", "description", "created_by", "created_at",
                  "requirement_count"]  # fmt: skip
        read_only_fields = fields


class DiffOpSerializer(serializers.Serializer):
    op = serializers.ChoiceField(choices=["equal", "delete", "insert"])
    text = serializers.CharField()


class FieldChangeSerializer(serializers.Serializer):
    # "from" is a Python keyword: declared below through the fields mapping.
    to = serializers.CharField(allow_null=True)
    diff = DiffOpSerializer(
        many=True, required=False, help_text=_("A redline, for the title and the text only.")
    )

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.CharField(allow_null=True)
        return fields


class DiffRequirementSerializer(serializers.Serializer):
    key = serializers.CharField()
    version = serializers.IntegerField()
    title = serializers.CharField()


class DiffModifiedSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    from_version = serializers.IntegerField()
    to_version = serializers.IntegerField()
    fields = serializers.ListField(child=serializers.CharField())  # type: ignore[assignment]  # API field name; see module note
    changes = serializers.DictField(child=FieldChangeSerializer())


class BaselineDiffSerializer(serializers.Serializer):
    baseline = serializers.CharField()
    against = serializers.CharField()
    added = DiffRequirementSerializer(many=True)
    removed = DiffRequirementSerializer(many=True)
    modified = DiffModifiedSerializer(many=True)
    unchanged = serializers.IntegerField()


# ---------------------------------------------------------------- input


class RequirementCreateSerializer(StrictSerializer):
    title = serializers.CharField(max_length=TITLE_MAX)
    text = serializers.CharField(
        max_length=TEXT_MAX, required=False, allow_blank=True, default="", trim_whitespace=False
    )
    kind = serializers.ChoiceField(choices=Kind.choices, default=Kind.FUNCTIONAL)
    priority = serializers.ChoiceField(
        choices=RequirementPriority.choices, default=RequirementPriority.SHOULD
    )
    status = serializers.ChoiceField(
        choices=RequirementStatus.choices, default=RequirementStatus.DRAFT
    )
    parent = serializers.CharField(  # type: ignore[assignment]  # API field name; see module note
        max_length=32,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text=_("Key of the parent requirement in the same project, e.g. ACME-R-1."),
    )


class RequirementUpdateSerializer(StrictSerializer):
    """A PATCH: only the fields sent change; any change makes a new version."""

    title = serializers.CharField(max_length=TITLE_MAX, required=False)
    text = serializers.CharField(
        max_length=TEXT_MAX, required=False, allow_blank=True, trim_whitespace=False
    )
    kind = serializers.ChoiceField(choices=Kind.choices, required=False)
    priority = serializers.ChoiceField(choices=RequirementPriority.choices, required=False)
    status = serializers.ChoiceField(choices=RequirementStatus.choices, required=False)
    parent = serializers.CharField(max_length=32, required=False, allow_null=True, allow_blank=True)  # type: ignore[assignment]  # API field name; see module note
    change_request = serializers.CharField(
        max_length=24,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text=_(
            "Key of the change request causing this edit; required (and in state "
            "implementing) once the requirement is in a baseline."
        ),
    )


class BaselineCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=BASELINE_NAME_MAX)
    description = serializers.CharField(
        max_length=10_000, required=False, allow_blank=True, default=""
    )


# ---------------------------------------------------------------- artifacts, links, impact


class ArtifactSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="project.key", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = Artifact
        fields = ["key", "project", "number", "kind", "title", "description", "version",
                  "created_by", "created_at", "updated_at"]  # fmt: skip
        read_only_fields = fields


class ArtifactVersionSerializer(serializers.ModelSerializer):
    key = serializers.CharField(source="artifact.key", read_only=True)
    author = serializers.CharField(source="author.username", read_only=True)
    change_request = serializers.CharField(
        source="change_request.key", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = ArtifactVersion
        fields = ["key", "version", "kind", "title", "description", "author", "change_request",
                  "created_at"]  # fmt: skip
        read_only_fields = fields


class ArtifactUpdateSerializer(StrictSerializer):
    """A PATCH: only the fields sent change; any change makes a new version and turns the
    links whose upstream end is this artifact suspect."""

    kind = serializers.ChoiceField(choices=ArtifactKind.choices, required=False)
    title = serializers.CharField(max_length=TITLE_MAX, required=False)
    description = serializers.CharField(
        max_length=TEXT_MAX, required=False, allow_blank=True, trim_whitespace=False
    )
    change_request = serializers.CharField(
        max_length=24, required=False, allow_null=True, allow_blank=True,
        help_text=_("Key of the change request causing this edit (optional)."),
    )  # fmt: skip


class ArtifactCreateSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=ArtifactKind.choices)
    title = serializers.CharField(max_length=TITLE_MAX)
    description = serializers.CharField(
        max_length=TEXT_MAX, required=False, allow_blank=True, default="", trim_whitespace=False
    )


class TraceLinkSerializer(serializers.ModelSerializer):
    source = serializers.CharField(  # type: ignore[assignment]  # API field name; see module note
        source="source_key", read_only=True, help_text=_("The downstream end, e.g. ACME-A-2.")
    )
    target = serializers.CharField(
        source="target_key", read_only=True, help_text=_("The upstream end, e.g. ACME-R-1.")
    )
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    reviewed_by = serializers.CharField(
        source="reviewed_by.username", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = TraceLink
        fields = ["id", "source", "target", "kind", "suspect", "suspect_since", "reviewed_by",
                  "reviewed_at", "created_by", "created_at"]  # fmt: skip
        read_only_fields = fields


class TraceLinkCreateSerializer(StrictSerializer):
    source = serializers.CharField(  # type: ignore[assignment]  # API field name; see module note
        max_length=32, help_text=_("Key of the downstream end (requirement or artifact).")
    )
    target = serializers.CharField(
        max_length=32, help_text=_("Key of the upstream end (requirement or artifact).")
    )
    kind = serializers.ChoiceField(choices=LinkKind.choices)


class ImpactItemSerializer(serializers.Serializer):
    key = serializers.CharField()
    type = serializers.CharField(help_text=_("requirement or artifact"))
    kind = serializers.CharField(
        allow_null=True, help_text=_("The artifact's kind; null for a requirement.")
    )
    title = serializers.CharField()
    depth = serializers.IntegerField()
    via = serializers.CharField(
        allow_null=True,
        help_text=_("How the last step reached it: child, or a link kind; null for a start."),
    )
    suspect = serializers.BooleanField(help_text=_("Whether the last link step is suspect."))
    path = serializers.ListField(
        child=serializers.CharField(), help_text=_("Keys from an affected requirement to it.")
    )


class ImpactSerializer(serializers.Serializer):
    change_request = serializers.CharField()
    affected = serializers.ListField(child=serializers.CharField())
    items = ImpactItemSerializer(many=True)
    truncated = serializers.BooleanField()


# ---------------------------------------------------------------- import / export


class ImportUploadSerializer(StrictSerializer):
    file = serializers.FileField(help_text=_("The file: .csv, .xlsx, .reqif or .reqifz."))
    dry_run = serializers.BooleanField(
        required=False, default=False, help_text=_("Report what would change; write nothing.")
    )
    change_request = serializers.CharField(
        max_length=24,
        required=False,
        allow_blank=True,
        default="",
        help_text=_(
            "Key of the change request (state implementing) that changes baselined "
            "requirements; required when the file changes one."
        ),
    )
    format = serializers.ChoiceField(
        choices=["csv", "xlsx", "reqif"],
        required=False,
        allow_blank=True,
        default="",
        help_text=_("Default: from the file's name."),
    )


class ImportItemSerializer(serializers.Serializer):
    where = serializers.CharField(help_text=_("The row, line or XML element."))
    key = serializers.CharField(help_text=_("The requirement's key (the one it would get)."))
    action = serializers.CharField(help_text=_("added, modified or unchanged"))
    fields = serializers.ListField(child=serializers.CharField())  # type: ignore[assignment]  # API field name; see module note


class ImportReportSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    format = serializers.CharField()
    added = serializers.IntegerField()
    modified = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    links_added = serializers.IntegerField()
    change_request = serializers.CharField(allow_null=True)
    items = ImportItemSerializer(many=True)
    warnings = serializers.ListField(child=serializers.CharField())


# ---------------------------------------------------------------- traceability matrix


class MatrixLinkSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    suspect = serializers.BooleanField()
    direction = serializers.CharField(
        help_text=_("out: the requirement is the link's source; in: its target (upstream).")
    )


class MatrixRequirementLinkSerializer(MatrixLinkSerializer):
    key = serializers.CharField(help_text=_("The other requirement."))


class MatrixColumnSerializer(serializers.Serializer):
    key = serializers.CharField()
    kind = serializers.CharField()
    title = serializers.CharField()


class MatrixRowSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    kind = serializers.CharField()
    status = serializers.CharField()
    suspect = serializers.BooleanField(help_text=_("Whether any link shown is suspect."))
    cells = serializers.ListField(
        child=MatrixLinkSerializer(many=True),
        help_text=_("One entry per column: the links between the requirement and that artifact."),
    )
    requirements = MatrixRequirementLinkSerializer(many=True)


class MatrixSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    columns = MatrixColumnSerializer(many=True, help_text=_("The artifacts linked to this page."))
    results = MatrixRowSerializer(many=True)
