"""API of a change request's change set, conflicts and impact.

``/api/v1/change-requests/{key}/change-set/`` (GET the edits with redlines, POST an edit),
``.../change-set/{id}/`` (GET, PATCH, DELETE), ``.../change-set/{id}/rebase/`` (GET the 3-way
view, POST to rebase), ``.../change-set/apply/`` (POST), ``.../conflicts/`` and ``.../impact/``.
Thin: fetch the CR through its selector (404 for outsiders), check the role with the service's
own rule (``changesets.require_drafter``: 403) before the body is read, call one service, render.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from changeflow.changes import selectors as change_selectors
from changeflow.changes.models import ChangeRequest
from changeflow.core.api_views import (
    IDEMPOTENCY_PARAM,
    ApiView,
    StrictSerializer,
    documented_as,
    errors,
)
from changeflow.core.errors import ValidationError

from . import changesets, cr_selectors
from .models import EditOp
from .serializers import DiffOpSerializer, ImpactItemSerializer

# ``# type: ignore[assignment]`` below: API field names that are also attributes of DRF's
# ``Field``/``Serializer`` (``label``, ``fields``); see the note in ``serializers.py``.

EDIT_ID_PARAM = OpenApiParameter(
    "id", OpenApiTypes.INT, OpenApiParameter.PATH, description=gettext_lazy("Edit id.")
)
ASSESSMENT_PARAM = OpenApiParameter(
    "assessment", OpenApiTypes.INT, OpenApiParameter.QUERY, required=False,
    description=gettext_lazy(
        "An assessment version: the impact analysis saved with it instead of the live one."
    ),
)  # fmt: skip


class EditFieldChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # API field name; see module note
    to = serializers.JSONField(allow_null=True)
    diff = DiffOpSerializer(
        many=True, allow_null=True, help_text=gettext_lazy("A redline of the title or the text.")
    )

    def get_fields(self):  # "from" is a Python keyword
        fields = super().get_fields()
        fields["from"] = serializers.JSONField(allow_null=True)
        return fields


OP_HELP = gettext_lazy("add, modify or remove (a removal retires the requirement).")


class EditSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    op = serializers.CharField(help_text=OP_HELP)
    op_label = serializers.CharField()
    requirement = serializers.CharField(
        allow_null=True, help_text=gettext_lazy("null for a requirement to add (until applied).")
    )
    title = serializers.CharField()
    base_version = serializers.IntegerField(
        allow_null=True, help_text=gettext_lazy("The version the edit was drafted against.")
    )
    current_version = serializers.IntegerField(allow_null=True)
    stale = serializers.BooleanField(
        help_text=gettext_lazy("The requirement moved on since: rebase before applying.")
    )
    applied_version = serializers.IntegerField(allow_null=True)
    proposed = serializers.DictField(child=serializers.JSONField(allow_null=True))
    changes = EditFieldChangeSerializer(many=True)
    created_by = serializers.CharField()
    created_at = serializers.DateTimeField()


class ApplicationSerializer(serializers.Serializer):
    applied_by = serializers.CharField()
    applied_at = serializers.DateTimeField()
    edits = serializers.IntegerField()
    baseline = serializers.CharField(allow_null=True)


class ChangeSetSerializer(serializers.Serializer):
    change_request = serializers.CharField()
    state = serializers.CharField()
    applied = ApplicationSerializer(allow_null=True)
    stale = serializers.ListField(child=serializers.CharField())
    edits = EditSerializer(many=True)


FIELDS_HELP = gettext_lazy(
    "Proposed values of title, text, kind, priority, status, parent (a key, or "
    '"edit:<id>": the requirement another add edit of this change set creates, for an '
    "added requirement or one a modify edit moves)."
)


class EditCreateSerializer(StrictSerializer):
    # The ops the service accepts (changesets.edit_create), as an enum.
    op = documented_as(serializers.CharField, {"type": "string", "enum": list(EditOp.values)})(
        max_length=8, help_text=OP_HELP
    )
    requirement = serializers.CharField(
        max_length=32, required=False, allow_null=True, allow_blank=True,
        help_text=gettext_lazy("The requirement to modify or remove; none for add."),
    )  # fmt: skip
    fields = serializers.DictField(  # type: ignore[assignment]  # API field name; see module note
        child=serializers.JSONField(allow_null=True), required=False, default=dict,
        help_text=FIELDS_HELP,
    )  # fmt: skip


class EditUpdateSerializer(StrictSerializer):
    fields = serializers.DictField(  # type: ignore[assignment]  # API field name; see module note
        child=serializers.JSONField(allow_null=True), help_text=FIELDS_HELP
    )


class ResolutionsSerializer(StrictSerializer):
    """One choice per versioned field; only the fields in conflict may be named."""

    def get_fields(self):
        return {
            f: serializers.ChoiceField(choices=changesets.RESOLUTIONS, required=False)
            for f in changesets.FIELDS
        }


class RebaseSerializer(StrictSerializer):
    resolutions = ResolutionsSerializer(
        required=False, default=dict,
        help_text=gettext_lazy('For each field changed on both sides: "mine" or "theirs"; '
                               "a field not in conflict is refused (400)."),
    )  # fmt: skip


class ThreeWayFieldSerializer(serializers.Serializer):
    field = serializers.CharField()
    base = serializers.JSONField(allow_null=True)
    theirs = serializers.JSONField(allow_null=True)
    mine = serializers.JSONField(allow_null=True)
    mine_changed = serializers.BooleanField()
    theirs_changed = serializers.BooleanField()
    conflict = serializers.BooleanField()
    merged = serializers.JSONField(allow_null=True)


class ThreeWaySerializer(serializers.Serializer):
    edit = serializers.IntegerField()
    requirement = serializers.CharField()
    base_version = serializers.IntegerField()
    current_version = serializers.IntegerField()
    stale = serializers.BooleanField()
    fields = ThreeWayFieldSerializer(many=True)  # type: ignore[assignment]  # API field name; see module note
    conflicts = serializers.ListField(child=serializers.CharField())


class RebaseResultSerializer(serializers.Serializer):
    dropped = serializers.BooleanField(
        help_text=gettext_lazy("The edit proposed nothing new any more and was removed.")
    )
    edit = EditSerializer(allow_null=True)


class ApplyResultSerializer(serializers.Serializer):
    applied = serializers.BooleanField(
        help_text=gettext_lazy("false: it had been applied before; nothing changed now.")
    )
    already_applied_at = serializers.DateTimeField(allow_null=True)
    versions = serializers.DictField(child=serializers.IntegerField())


class ConflictSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    state = serializers.CharField()
    state_label = serializers.CharField()
    requirements = serializers.ListField(child=serializers.CharField())


class ConflictListSerializer(serializers.Serializer):
    change_request = serializers.CharField()
    conflicts = ConflictSerializer(many=True)


class ImpactSnapshotSummarySerializer(serializers.Serializer):
    assessment = serializers.IntegerField()
    computed_at = serializers.CharField(allow_null=True)
    differs = serializers.BooleanField(
        help_text=gettext_lazy("Whether today's analysis reaches other items than the saved one.")
    )
    items = serializers.IntegerField()


class ExtendedImpactItemSerializer(ImpactItemSerializer):
    relation = serializers.ChoiceField(
        choices=["touched", "downstream", "ancestor"],
        help_text=gettext_lazy(
            "touched: the CR declares it or its change set edits it; downstream: reached "
            "through children and links; ancestor: a parent of something reached."
        ),
    )


class CrImpactSerializer(serializers.Serializer):
    change_request = serializers.CharField()
    affected = serializers.ListField(
        child=serializers.CharField(), help_text=gettext_lazy("Declared by the CR.")
    )
    change_set = serializers.ListField(
        child=serializers.CharField(),
        help_text=gettext_lazy("Edited by its change set (or the parent of one it adds)."),
    )
    items = ExtendedImpactItemSerializer(many=True)
    truncated = serializers.BooleanField()
    saved_with_assessment = serializers.IntegerField(allow_null=True)
    snapshot = ImpactSnapshotSummarySerializer(allow_null=True)


def _cr(request, key: str):
    return change_selectors.change_request_get(user=request.user, key=key)


def _edit(request, cr, edit_id: int) -> dict:
    for e in cr_selectors.change_set_get(user=request.user, cr=cr)["edits"]:
        if e["id"] == edit_id:
            return e
    from changeflow.core.errors import NotFound

    raise NotFound(_("No such edit in this change set."))


class ChangeSetView(ApiView):
    """The requirement edits a change request proposes, each with a field-by-field redline
    against the version it was drafted from (every member reads). Project managers and tech
    leads add edits while the CR is assessed (submitted … in review); in review, a change
    resets the board's votes."""

    queryset = ChangeRequest.objects.none()
    serializer_class = ChangeSetSerializer

    @extend_schema(
        operation_id="change_requests_change_set_retrieve",
        responses={200: ChangeSetSerializer, **errors(404)},
    )
    def get(self, request, key: str):
        cr = _cr(request, key)
        return Response(cr_selectors.change_set_get(user=request.user, cr=cr))

    @extend_schema(
        operation_id="change_requests_change_set_create",
        request=EditCreateSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: EditSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request, key: str):
        cr = _cr(request, key)
        changesets.require_drafter(request.user, cr)
        data = self.get_validated(EditCreateSerializer)
        edit = changesets.edit_create(user=request.user, cr=cr, **data)
        return Response(_edit(request, cr, edit.pk), status=status.HTTP_201_CREATED)


class ChangeSetEditView(ApiView):
    """One edit of a change set: PATCH replaces what it proposes, DELETE takes it out."""

    queryset = ChangeRequest.objects.none()
    serializer_class = EditSerializer

    @extend_schema(
        operation_id="change_requests_change_set_edit_retrieve",
        parameters=[EDIT_ID_PARAM],
        responses={200: EditSerializer, **errors(404)},
    )
    def get(self, request, key: str, id: int):
        return Response(_edit(request, _cr(request, key), id))

    @extend_schema(
        operation_id="change_requests_change_set_edit_update",
        request=EditUpdateSerializer,
        parameters=[EDIT_ID_PARAM, IDEMPOTENCY_PARAM],
        responses={200: EditSerializer, **errors(400, 403, 404, 409)},
    )
    def patch(self, request, key: str, id: int):
        cr = _cr(request, key)
        changesets.require_drafter(request.user, cr)
        data = self.get_validated(EditUpdateSerializer)
        changesets.edit_update(user=request.user, cr=cr, edit_id=id, fields=data["fields"])
        return Response(_edit(request, cr, id))

    @extend_schema(
        operation_id="change_requests_change_set_edit_destroy",
        parameters=[EDIT_ID_PARAM, IDEMPOTENCY_PARAM],
        responses={204: None, **errors(403, 404, 409)},
    )
    def delete(self, request, key: str, id: int):
        changesets.edit_delete(user=request.user, cr=_cr(request, key), edit_id=id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChangeSetRebaseView(ApiView):
    """GET: the 3-way view (base, theirs = current version, mine = the edit, merged). POST:
    re-base the edit on the current version; a field changed on both sides needs a resolution
    ("mine" or "theirs"), else 409 naming the fields."""

    queryset = ChangeRequest.objects.none()
    serializer_class = ThreeWaySerializer

    @extend_schema(
        operation_id="change_requests_change_set_rebase_preview",
        parameters=[EDIT_ID_PARAM],
        responses={200: ThreeWaySerializer, **errors(400, 404)},
    )
    def get(self, request, key: str, id: int):
        cr = _cr(request, key)
        edit = cr.change_set_edits.select_related("requirement").filter(pk=id).first()
        if edit is None:
            from changeflow.core.errors import NotFound

            raise NotFound(_("No such edit in this change set."))
        if edit.op == EditOp.ADD:
            raise ValidationError(
                _("Some fields are invalid."),
                fields={"edit": [_("An added requirement has no version to rebase on.")]},
            )
        return Response(changesets.three_way(edit))

    @extend_schema(
        operation_id="change_requests_change_set_rebase",
        request=RebaseSerializer,
        parameters=[EDIT_ID_PARAM, IDEMPOTENCY_PARAM],
        responses={200: RebaseResultSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request, key: str, id: int):
        cr = _cr(request, key)
        changesets.require_rebaser(request.user, cr)
        data = self.get_validated(RebaseSerializer)
        edit = changesets.edit_rebase(
            user=request.user, cr=cr, edit_id=id, resolutions=dict(data["resolutions"])
        )
        return Response({"dropped": edit is None, "edit": _edit(request, cr, id) if edit else None})


class ChangeSetApplyView(ApiView):
    """Apply the whole change set while the CR is implementing (project managers and tech
    leads): every edit makes a new requirement version recording the CR, or none does. 409
    naming the requirements that moved on since their edit was drafted (rebase them first).
    A second apply changes nothing (`applied: false`)."""

    queryset = ChangeRequest.objects.none()
    serializer_class = ApplyResultSerializer

    @extend_schema(
        operation_id="change_requests_change_set_apply",
        request=None,
        parameters=[IDEMPOTENCY_PARAM],
        responses={200: ApplyResultSerializer, **errors(403, 404, 409, 422)},
    )
    def post(self, request, key: str):
        return Response(changesets.change_set_apply(user=request.user, cr=_cr(request, key)))


class ConflictsView(ApiView):
    """Other open change requests of the project touching a requirement this one touches
    (declared, or in either change set), with the requirements they share."""

    queryset = ChangeRequest.objects.none()
    serializer_class = ConflictListSerializer

    @extend_schema(
        operation_id="change_requests_conflicts",
        responses={200: ConflictListSerializer, **errors(404)},
    )
    def get(self, request, key: str):
        cr = _cr(request, key)
        return Response(
            {
                "change_request": cr.key,
                "conflicts": cr_selectors.conflicts_of(user=request.user, cr=cr),
            }
        )


class ImpactView(ApiView):
    """What a change request may affect: the requirements it touches (declared and in its
    change set), everything downstream (children and trace links) and their ancestors, each
    with the path of keys that reaches it; `snapshot` summarises the analysis saved with the
    current assessment, `?assessment=N` returns the one saved with version N."""

    queryset = ChangeRequest.objects.none()
    serializer_class = CrImpactSerializer

    @extend_schema(
        operation_id="change_requests_impact",
        parameters=[ASSESSMENT_PARAM],
        responses={200: CrImpactSerializer, **errors(400, 404)},
    )
    def get(self, request, key: str):
        cr = _cr(request, key)
        raw = request.query_params.get("assessment")
        version = None
        if raw is not None:
            if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:  # not "²"
                raise ValidationError(
                    _("Some fields are invalid."),
                    fields={"assessment": [_("An assessment version number.")]},
                )
            version = int(raw)
        return Response(cr_selectors.impact_get(user=request.user, cr=cr, assessment=version))
