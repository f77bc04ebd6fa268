"""API endpoints for requirements, their versions and baselines.

Thin: fetch through a selector (which hides what the caller may not see: 404), check the role
with the service's own rule (``services.require_editor``: 403) before the body is read, parse
with a serializer, call one service, render.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from changeflow.accounts import selectors as account_selectors
from changeflow.accounts.models import Project
from changeflow.core.api_views import (
    IDEMPOTENCY_PARAM,
    IF_MATCH_PARAM,
    ApiView,
    FileUploadView,
    errors,
    etag_header,
    expected_version,
    query_flag,
    versioned,
)
from changeflow.core.errors import ValidationError

from . import io as req_io
from . import matrix as trace_matrix
from . import selectors, services
from .models import Artifact, Requirement, TraceLink
from .serializers import (
    ArtifactCreateSerializer,
    ArtifactSerializer,
    ArtifactUpdateSerializer,
    ArtifactVersionSerializer,
    BaselineCreateSerializer,
    BaselineDiffSerializer,
    BaselineSerializer,
    ImportReportSerializer,
    ImportUploadSerializer,
    MatrixSerializer,
    RequirementCreateSerializer,
    RequirementSerializer,
    RequirementUpdateSerializer,
    RequirementVersionSerializer,
    TraceLinkCreateSerializer,
    TraceLinkSerializer,
)

ETAG_HEADER = etag_header(
    gettext_lazy('The requirement\'s version, e.g. "3"; send it back in If-Match.')
)
NAME_PARAM = OpenApiParameter(
    "name", OpenApiTypes.STR, OpenApiParameter.PATH, description=gettext_lazy("Baseline name.")
)
AGAINST_PARAM = OpenApiParameter(
    "against", OpenApiTypes.STR, OpenApiParameter.QUERY, required=True,
    description=gettext_lazy(
        "The baseline to compare with (usually the older one): `added` are requirements in "
        "{name} but not in it, `removed` the reverse."
    ),
)  # fmt: skip


def _detail(req: Requirement, code: int = status.HTTP_200_OK) -> Response:
    return versioned(RequirementSerializer(req).data, req.version, code)


def _expected_version(request, req: Requirement) -> int | None:
    return expected_version(
        request, req.version,
        _("The requirement was changed since you read it (If-Match does not match)."),
    )  # fmt: skip


class RequirementListView(ApiView):
    """A project's requirements (every member); project managers and tech leads add them."""

    queryset = Project.objects.none()  # types the path's `key` in the schema
    serializer_class = RequirementSerializer

    @extend_schema(
        operation_id="project_requirements_list",
        responses={200: RequirementSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        return self.paginated(
            selectors.requirement_list(user=request.user, project=project), RequirementSerializer
        )

    @extend_schema(
        operation_id="project_requirements_create",
        request=RequirementCreateSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: RequirementSerializer, **errors(400, 403, 404, 422)},
    )
    def post(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        services.require_editor(request.user, project)
        data = self.get_validated(RequirementCreateSerializer)
        req = services.requirement_create(user=request.user, project=project, **data)
        req = selectors.requirement_get(user=request.user, key=req.key)
        return _detail(req, status.HTTP_201_CREATED)


class RequirementDetailView(ApiView):
    """One requirement, ETag = its version. A PATCH makes a new version; once the requirement
    is in a baseline it must name a change request in state `implementing` (else 422)."""

    queryset = Requirement.objects.none()
    serializer_class = RequirementSerializer

    @extend_schema(
        operation_id="requirements_retrieve",
        parameters=[ETAG_HEADER],
        responses={200: RequirementSerializer, **errors(404)},
    )
    def get(self, request, key: str):
        return _detail(selectors.requirement_get(user=request.user, key=key))

    @extend_schema(
        operation_id="requirements_partial_update",
        request=RequirementUpdateSerializer,
        parameters=[IDEMPOTENCY_PARAM, IF_MATCH_PARAM, ETAG_HEADER],
        responses={200: RequirementSerializer, **errors(400, 403, 404, 409, 412, 422)},
    )
    def patch(self, request, key: str):
        req = selectors.requirement_get(user=request.user, key=key)
        services.require_editor(request.user, req.project)
        data = dict(self.get_validated(RequirementUpdateSerializer, partial=True))
        cr_key = data.pop("change_request", None)
        services.requirement_update(
            user=request.user,
            requirement=req,
            data=data,
            change_request=cr_key,
            expected_version=_expected_version(request, req),
        )
        return _detail(selectors.requirement_get(user=request.user, key=key))


class RequirementVersionListView(ApiView):
    """Every version of a requirement, newest first, with its author and causing CR."""

    queryset = Requirement.objects.none()
    serializer_class = RequirementVersionSerializer

    @extend_schema(
        operation_id="requirements_versions_list",
        responses={200: RequirementVersionSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, key: str):
        req = selectors.requirement_get(user=request.user, key=key)
        qs = selectors.version_list(user=request.user, requirement=req)
        return self.paginated(qs, RequirementVersionSerializer)


class BaselineListView(ApiView):
    """A project's baselines, newest first; project managers and tech leads create one, which
    freezes the current version of every requirement. Baselines never change."""

    queryset = Project.objects.none()
    serializer_class = BaselineSerializer

    @extend_schema(
        operation_id="project_baselines_list",
        responses={200: BaselineSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        qs = selectors.baseline_list(user=request.user, project=project)
        return self.paginated(qs, BaselineSerializer)

    @extend_schema(
        operation_id="project_baselines_create",
        request=BaselineCreateSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: BaselineSerializer, **errors(400, 403, 404, 422)},
    )
    def post(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        services.require_editor(request.user, project)
        data = self.get_validated(BaselineCreateSerializer)
        baseline = services.baseline_create(user=request.user, project=project, **data)
        baseline = selectors.baseline_get(user=request.user, project=project, name=baseline.name)
        return Response(BaselineSerializer(baseline).data, status=status.HTTP_201_CREATED)


class BaselineDetailView(ApiView):
    """One baseline."""

    queryset = Project.objects.none()
    serializer_class = BaselineSerializer

    @extend_schema(
        operation_id="project_baselines_retrieve",
        parameters=[NAME_PARAM],
        responses={200: BaselineSerializer, **errors(404)},
    )
    def get(self, request, key: str, name: str):
        project = account_selectors.project_get(user=request.user, key=key)
        baseline = selectors.baseline_get(user=request.user, project=project, name=name)
        return Response(BaselineSerializer(baseline).data)


class BaselineDiffView(ApiView):
    """Requirements added, removed and modified between two baselines of a project, with the
    changed fields and a redline of the title and the text."""

    queryset = Project.objects.none()
    serializer_class = BaselineDiffSerializer

    @extend_schema(
        operation_id="project_baselines_diff",
        parameters=[NAME_PARAM, AGAINST_PARAM],
        responses={200: BaselineDiffSerializer, **errors(400, 404)},
    )
    def get(self, request, key: str, name: str):
        project = account_selectors.project_get(user=request.user, key=key)
        baseline = selectors.baseline_get(user=request.user, project=project, name=name)
        other = (request.query_params.get("against") or "").strip()
        if not other or "\x00" in other:
            raise ValidationError(
                _("Some fields are invalid."),
                fields={"against": [_("The name of another baseline is required.")]},
            )
        against = selectors.baseline_get(user=request.user, project=project, name=other)
        return Response(services.baseline_diff(baseline=baseline, against=against))


SUSPECT_PARAM = OpenApiParameter(
    "suspect", OpenApiTypes.BOOL, OpenApiParameter.QUERY, required=False,
    description=gettext_lazy("Only suspect links (true) or only the others (false)."),
)  # fmt: skip
LINK_ID_PARAM = OpenApiParameter(
    "id", OpenApiTypes.INT, OpenApiParameter.PATH, description=gettext_lazy("Trace link id.")
)


class ArtifactListView(ApiView):
    """A project's artifacts — design items, tests, documents, code modules, deliverables —
    (every member); project managers and tech leads add them."""

    queryset = Project.objects.none()
    serializer_class = ArtifactSerializer

    @extend_schema(
        operation_id="project_artifacts_list",
        responses={200: ArtifactSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        qs = selectors.artifact_list(user=request.user, project=project)
        return self.paginated(qs, ArtifactSerializer)

    @extend_schema(
        operation_id="project_artifacts_create",
        request=ArtifactCreateSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: ArtifactSerializer, **errors(400, 403, 404)},
    )
    def post(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        services.require_editor(request.user, project)
        data = self.get_validated(ArtifactCreateSerializer)
        art = services.artifact_create(user=request.user, project=project, **data)
        art = selectors.artifact_list(user=request.user, project=project).get(pk=art.pk)
        return Response(ArtifactSerializer(art).data, status=status.HTTP_201_CREATED)


class TraceLinkListView(ApiView):
    """A project's trace links ``source --kind--> target``; the target is the upstream end.
    A link is suspect after its upstream end changes, until someone reviews it."""

    queryset = Project.objects.none()
    serializer_class = TraceLinkSerializer

    @extend_schema(
        operation_id="project_links_list",
        parameters=[SUSPECT_PARAM],
        responses={200: TraceLinkSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        suspect = query_flag(request, "suspect") if request.query_params.get("suspect") else None
        qs = selectors.link_list(user=request.user, project=project, suspect=suspect)
        return self.paginated(qs, TraceLinkSerializer)

    @extend_schema(
        operation_id="project_links_create",
        request=TraceLinkCreateSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: TraceLinkSerializer, **errors(400, 403, 404)},
    )
    def post(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        services.require_editor(request.user, project)
        data = self.get_validated(TraceLinkCreateSerializer)
        link = services.link_create(user=request.user, project=project, **data)
        link = selectors.link_get(user=request.user, project=project, pk=link.pk)
        return Response(TraceLinkSerializer(link).data, status=status.HTTP_201_CREATED)


def _artifact_detail(art: Artifact, code: int = status.HTTP_200_OK) -> Response:
    return versioned(ArtifactSerializer(art).data, art.version, code)


class ArtifactDetailView(ApiView):
    """One artifact, ETag = its version. A PATCH makes a new version and turns every link
    whose upstream end (target) is this artifact suspect, until someone reviews it."""

    queryset = Artifact.objects.none()
    serializer_class = ArtifactSerializer

    @extend_schema(
        operation_id="artifacts_retrieve",
        parameters=[ETAG_HEADER],
        responses={200: ArtifactSerializer, **errors(404)},
    )
    def get(self, request, key: str):
        return _artifact_detail(selectors.artifact_get(user=request.user, key=key))

    @extend_schema(
        operation_id="artifacts_partial_update",
        request=ArtifactUpdateSerializer,
        parameters=[IDEMPOTENCY_PARAM, IF_MATCH_PARAM, ETAG_HEADER],
        responses={200: ArtifactSerializer, **errors(400, 403, 404, 409, 412)},
    )
    def patch(self, request, key: str):
        art = selectors.artifact_get(user=request.user, key=key)
        services.require_editor(request.user, art.project)
        data = dict(self.get_validated(ArtifactUpdateSerializer, partial=True))
        cr_key = data.pop("change_request", None)
        expected = expected_version(
            request, art.version,
            _("The artifact was changed since you read it (If-Match does not match)."),
        )  # fmt: skip
        services.artifact_update(
            user=request.user, artifact=art, data=data, change_request=cr_key,
            expected_version=expected,
        )  # fmt: skip
        return _artifact_detail(selectors.artifact_get(user=request.user, key=key))


class ArtifactVersionListView(ApiView):
    """Every version of an artifact, newest first, with its author and causing CR."""

    queryset = Artifact.objects.none()
    serializer_class = ArtifactVersionSerializer

    @extend_schema(
        operation_id="artifacts_versions_list",
        responses={200: ArtifactVersionSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, key: str):
        art = selectors.artifact_get(user=request.user, key=key)
        qs = selectors.artifact_version_list(user=request.user, artifact=art)
        return self.paginated(qs, ArtifactVersionSerializer)


class TraceLinkDetailView(ApiView):
    """One trace link; project managers and tech leads delete one (recorded in the audit log
    with what it was)."""

    queryset = TraceLink.objects.none()
    serializer_class = TraceLinkSerializer

    @extend_schema(
        operation_id="project_links_retrieve",
        parameters=[LINK_ID_PARAM],
        responses={200: TraceLinkSerializer, **errors(404)},
    )
    def get(self, request, key: str, id: int):
        project = account_selectors.project_get(user=request.user, key=key)
        link = selectors.link_get(user=request.user, project=project, pk=id)
        return Response(TraceLinkSerializer(link).data)

    @extend_schema(
        operation_id="project_links_destroy",
        parameters=[LINK_ID_PARAM, IDEMPOTENCY_PARAM],
        responses={204: None, **errors(403, 404)},
    )
    def delete(self, request, key: str, id: int):
        project = account_selectors.project_get(user=request.user, key=key)
        link = selectors.link_get(user=request.user, project=project, pk=id)
        services.link_delete(user=request.user, link=link)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TraceLinkReviewView(ApiView):
    """Mark a link reviewed: it is no longer suspect (recorded in the audit log)."""

    queryset = TraceLink.objects.none()
    serializer_class = TraceLinkSerializer

    @extend_schema(
        operation_id="project_links_review",
        request=None,
        parameters=[LINK_ID_PARAM, IDEMPOTENCY_PARAM],
        responses={200: TraceLinkSerializer, **errors(403, 404)},
    )
    def post(self, request, key: str, id: int):
        project = account_selectors.project_get(user=request.user, key=key)
        link = selectors.link_get(user=request.user, project=project, pk=id)
        services.link_review(user=request.user, link=link)
        link = selectors.link_get(user=request.user, project=project, pk=id)
        return Response(TraceLinkSerializer(link).data)


FORMAT_PARAM = OpenApiParameter(
    "format", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False,
    enum=list(req_io.FORMATS), description=gettext_lazy("csv (default), xlsx or reqif."),
)  # fmt: skip


def _file_responses(formats) -> dict:
    """The 200 of a file export, under the media type it is sent with for each format (the
    schema documented application/octet-stream, which no answer carries)."""
    return {
        (200, req_io.CONTENT_TYPES[fmt].split(";")[0]): OpenApiResponse(
            OpenApiTypes.BINARY, description=gettext_lazy("The file, as an attachment.")
        )
        for fmt in formats
    }


class RequirementImportView(FileUploadView):
    """Import requirements from CSV, XLSX or ReqIF (multipart, field `file`), all or nothing.
    Rows with a key of the project update that requirement (a new version when something
    changes), the others add requirements; `dry_run` reports what would change and writes
    nothing. A malformed file is a 400 naming each row, line or XML element; a change to a
    baselined requirement without a change request in state implementing is a 422."""

    queryset = Project.objects.none()
    parser_classes = [MultiPartParser, FormParser]
    serializer_class = ImportReportSerializer

    def upload_max_bytes(self) -> int:
        return req_io.max_bytes()

    @extend_schema(
        operation_id="project_requirements_import",
        request={"multipart/form-data": ImportUploadSerializer},
        parameters=[IDEMPOTENCY_PARAM],
        responses={200: ImportReportSerializer, **errors(400, 403, 404, 413, 422)},
    )
    def post(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        services.require_editor(request.user, project)  # before the body: 403, not 415
        data = self.uploaded(request, ImportUploadSerializer)
        upload = data["file"]
        parsed = req_io.parse(
            req_io.upload_bytes(upload), filename=upload.name or "", fmt=data["format"] or None
        )
        report = req_io.requirements_import(
            user=request.user, project=project, parsed=parsed,
            change_request=data["change_request"] or None, dry_run=data["dry_run"],
            filename=upload.name or "",
        )  # fmt: skip
        return Response(report)


class RequirementExportView(ApiView):
    """Every requirement of the project as a file: CSV (UTF-8 with BOM, for Excel), XLSX or
    ReqIF 1.0; what it writes imports back unchanged. Every member may export."""

    queryset = Project.objects.none()

    def perform_content_negotiation(self, request, force=False):
        # `format` is ours (the file's format), not DRF's renderer override.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="project_requirements_export",
        parameters=[FORMAT_PARAM],
        responses={**_file_responses(req_io.FORMATS), **errors(400, 404)},
    )
    def get(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        fmt = (request.query_params.get("format") or "csv").strip().lower()
        if fmt not in req_io.FORMATS:
            raise ValidationError(
                _("Some fields are invalid."),
                fields={"format": [_("Not one of: %s.") % ", ".join(req_io.FORMATS)]},
            )
        content, content_type, name = req_io.requirements_export(
            user=request.user, project=project, fmt=fmt
        )
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["X-Content-Type-Options"] = "nosniff"
        return response


MATRIX_PARAMS = [
    OpenApiParameter("kind", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False,
                     description=gettext_lazy("The requirements' kind.")),
    OpenApiParameter("status", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False,
                     description=gettext_lazy("The requirements' status.")),
    OpenApiParameter("link_kind", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False,
                     description=gettext_lazy("Only links of this kind.")),
    OpenApiParameter("artifact_kind", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False,
                     description=gettext_lazy("Only artifacts of this kind.")),
    OpenApiParameter("suspect", OpenApiTypes.BOOL, OpenApiParameter.QUERY, required=False,
                     description=gettext_lazy("Only suspect links.")),
    OpenApiParameter("q", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False,
                     description=gettext_lazy("Text in the requirement's key, title or text.")),
]  # fmt: skip
EXPORT_FORMAT_PARAM = OpenApiParameter(
    "format", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False, enum=["csv", "xlsx"],
    description=gettext_lazy("csv (default) or xlsx."),
)  # fmt: skip


class MatrixView(ApiView):
    """The traceability matrix: requirements (rows, paginated) × the artifacts linked to them
    (columns), each cell the links between the two, and each row's links to other
    requirements."""

    queryset = Project.objects.none()
    serializer_class = MatrixSerializer

    @extend_schema(
        operation_id="project_matrix",
        parameters=MATRIX_PARAMS,
        responses={200: MatrixSerializer, **errors(400, 404)},
    )
    def get(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        filters = trace_matrix.Filters.parse(request.query_params)
        qs = trace_matrix.rows(user=request.user, project=project, filters=filters)
        page = self.paginate_queryset(qs)
        if page is None:  # ApiView always paginates: ApiPagination has a page size
            raise ImproperlyConfigured("MatrixView needs a paginator with a page size")
        data = trace_matrix.page_of(project=project, filters=filters, requirements=list(page))
        response = self.get_paginated_response(data["rows"])
        response.data["columns"] = [
            {k: c[k] for k in ("key", "kind", "title")} for c in data["columns"]
        ]
        return response


class MatrixExportView(ApiView):
    """The whole filtered traceability matrix as a spreadsheet (CSV or XLSX)."""

    queryset = Project.objects.none()

    def perform_content_negotiation(self, request, force=False):
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="project_matrix_export",
        parameters=[*MATRIX_PARAMS, EXPORT_FORMAT_PARAM],
        responses={**_file_responses(("csv", "xlsx")), **errors(400, 404)},
    )
    def get(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        filters = trace_matrix.Filters.parse(request.query_params)
        fmt = (request.query_params.get("format") or "csv").strip().lower()
        content, content_type, name = trace_matrix.export(
            user=request.user, project=project, filters=filters, fmt=fmt
        )
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
