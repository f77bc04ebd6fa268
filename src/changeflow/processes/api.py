"""REST API of process templates: ``/api/v1/process-templates/`` (saved templates, site-wide),
``.../presets/`` (the built-in ones), ``/api/v1/projects/{key}/process/`` (a project's process
as a document) and ``.../process/apply`` (preview or apply a template, preset or document).

Thin: who may do what is ``selectors``' (checked before the body is read), one service, render.
A PATCH honours ``If-Match`` (a stale ETag: 412) and a ``version`` in the body (a stale one: 409).
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from changeflow.accounts.models import Project
from changeflow.core.api_views import (
    IDEMPOTENCY_PARAM,
    IF_MATCH_PARAM,
    ApiView,
    errors,
    etag_header,
    expected_version,
    query_flag,
    versioned,
)

from . import definitions, presets, selectors, services
from .models import ProcessTemplate
from .serializers import (
    PresetSerializer,
    ProcessApplyResultSerializer,
    ProcessApplySerializer,
    ProcessDocumentSerializer,
    ProcessTemplateCreateSerializer,
    ProcessTemplateSerializer,
    ProcessTemplateUpdateSerializer,
)

TEMPLATE_ID = OpenApiParameter(
    "id", int, OpenApiParameter.PATH, description=gettext_lazy("Process template id.")
)
ETAG_HEADER = etag_header(
    gettext_lazy('The template\'s version, e.g. "3"; send it back in If-Match.')
)
ARCHIVED_PARAM = OpenApiParameter(
    "archived", OpenApiTypes.BOOL, required=False,
    description=gettext_lazy("true: archived templates too (your own; all for site admins)."),
)  # fmt: skip


def _document(data) -> dict | None:
    """The request's ``document`` cleaned, a bad field named from the body (``document.board.
    quorum``); None when there is none."""
    raw = data.get("document")
    return None if raw is None else definitions.clean_document(raw, prefix="document.")


def preset_data(preset: presets.Preset) -> dict:
    return {
        "slug": preset.slug, "name": str(preset.name), "description": str(preset.description),
        "document": preset.document, "parts": definitions.parts_of(preset.document),
    }  # fmt: skip


class ProcessTemplateListView(ApiView):
    """The saved process templates (any member of some project reads them); create one from a
    document (project managers, site admins) or from a project's process (its managers)."""

    queryset = ProcessTemplate.objects.none()

    @extend_schema(
        operation_id="process_templates_list",
        parameters=[ARCHIVED_PARAM],
        responses={200: ProcessTemplateSerializer(many=True), **errors(404)},
    )
    def get(self, request):
        selectors.require_viewer(request.user)
        qs = selectors.template_list(
            user=request.user, include_archived=query_flag(request, "archived")
        )
        return self.paginated(qs, ProcessTemplateSerializer)

    @extend_schema(
        operation_id="process_templates_create",
        request=ProcessTemplateCreateSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: ProcessTemplateSerializer, **errors(400, 403, 404)},
    )
    def post(self, request):
        key = request.data.get("project") if isinstance(request.data, dict) else None
        project = None
        if isinstance(key, str) and key:
            project = selectors.project_get(user=request.user, key=key)
        else:
            selectors.require_creator(request.user)
        data = self.get_validated(ProcessTemplateCreateSerializer)
        template = services.template_create(
            user=request.user, name=data["name"], description=data.get("description", ""),
            document=_document(data), project=project,
        )  # fmt: skip
        return versioned(
            ProcessTemplateSerializer(template).data, template.version, status.HTTP_201_CREATED
        )


class PresetListView(ApiView):
    """The built-in process templates (read-only), in the caller's language."""

    queryset = ProcessTemplate.objects.none()

    pagination_class = None

    @extend_schema(
        operation_id="process_presets_list",
        responses={200: PresetSerializer(many=True), **errors(404)},
    )
    def get(self, request):
        selectors.require_viewer(request.user)
        return Response([preset_data(p) for p in presets.PRESETS])


class ProcessTemplateDetailView(ApiView):
    """One saved template, ETag = its version; PATCH (its creator, site admins) honours
    If-Match and ``version``; ``archived: true`` archives, ``false`` restores."""

    queryset = ProcessTemplate.objects.none()

    @extend_schema(
        operation_id="process_templates_retrieve",
        parameters=[TEMPLATE_ID, ETAG_HEADER],
        responses={200: ProcessTemplateSerializer, **errors(404)},
    )
    def get(self, request, id: int):  # noqa: A002 - the path's name
        template = selectors.template_get(user=request.user, pk=id)
        return versioned(ProcessTemplateSerializer(template).data, template.version)

    @extend_schema(
        operation_id="process_templates_partial_update",
        request=ProcessTemplateUpdateSerializer,
        parameters=[TEMPLATE_ID, IDEMPOTENCY_PARAM, IF_MATCH_PARAM, ETAG_HEADER],
        responses={200: ProcessTemplateSerializer, **errors(400, 403, 404, 409, 412)},
    )
    def patch(self, request, id: int):  # noqa: A002 - the path's name
        template = selectors.template_get(user=request.user, pk=id)
        selectors.require_editor(request.user, template)
        data = dict(self.get_validated(ProcessTemplateUpdateSerializer, partial=True))
        if "document" in data:
            data["document"] = _document(data)
        header = expected_version(
            request, template.version,
            _("The template was changed since you read it (If-Match does not match)."),
        )  # fmt: skip
        body = data.pop("version", None)
        template = services.template_update(
            user=request.user, template=template, data=data,
            expected_version=body if body is not None else header,
        )  # fmt: skip
        return versioned(ProcessTemplateSerializer(template).data, template.version)


class ProjectProcessView(ApiView):
    """The process the project follows now, as a process document (its managers)."""

    queryset = Project.objects.none()  # types the path's `key` in the schema

    @extend_schema(
        operation_id="project_process_retrieve",
        responses={200: ProcessDocumentSerializer, **errors(403, 404)},
    )
    def get(self, request, key: str):
        project = selectors.project_get(user=request.user, key=key)
        return Response(services.process_of(project))


class ProjectProcessApplyView(ApiView):
    """Preview (``dry_run``) or apply a saved template, a preset or a document to the project
    (its managers): each part current → new and what cannot apply; one transaction."""

    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_process_apply",
        request=ProcessApplySerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={200: ProcessApplyResultSerializer, **errors(400, 403, 404, 409, 422)},
    )
    def post(self, request, key: str):
        project = selectors.project_get(user=request.user, key=key)
        data = self.get_validated(ProcessApplySerializer)
        source = services.source_of(
            user=request.user, template=data.get("template"), preset=data.get("preset"),
            document=_document(data),
        )  # fmt: skip
        result = services.process_apply(
            user=request.user, project=project, source=source, parts=data.get("parts"),
            dry_run=data["dry_run"],
        )  # fmt: skip
        return Response(result)
