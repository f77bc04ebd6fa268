"""API endpoints for change requests and what hangs off them.

Thin: fetch through a selector (which hides what the caller may not see: 404), call the
service's own role check before the body is read (a refused role gets its 403 whatever it
sent), parse with a serializer, call one service, render.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters import rest_framework as df
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from changeflow.accounts import selectors as account_selectors
from changeflow.accounts.models import Project
from changeflow.core.access import sees_internal
from changeflow.core.api import error_body
from changeflow.core.api_views import (
    IDEMPOTENCY_PARAM,
    IF_MATCH_PARAM,
    ApiView,
    FileUploadView,
    errors,
    etag_header,
    expected_version,
    validated_filters,
    versioned,
)
from changeflow.core.middleware import client_ip
from changeflow.core.selectors import redact_unseen
from changeflow.requirements import io as req_io

from . import bulk, import_jobs, links, selectors, services, uploads, workflow
from . import io as cr_io
from .filters import ChangeRequestExportFilter, ChangeRequestFilter
from .models import ChangeRequest
from .serializers import (
    AssessmentCreateSerializer,
    AssessmentSerializer,
    AttachmentSerializer,
    AttachmentUploadSerializer,
    AvailableActionsSerializer,
    BulkChangeSerializer,
    BulkRefusedSerializer,
    BulkResultSerializer,
    ChangeRequestCreateSerializer,
    ChangeRequestListSerializer,
    ChangeRequestSerializer,
    ChangeRequestUpdateSerializer,
    CommentCreateSerializer,
    CommentSerializer,
    CRImportJobSerializer,
    CRImportQueuedSerializer,
    CRImportReportSerializer,
    CRImportUploadSerializer,
    HistoryEventSerializer,
    ProjectNamedSerializer,
    TransitionSerializer,
    VoteCreateSerializer,
    VoteResultSerializer,
    VoteSerializer,
)

ETAG_HEADER = etag_header(gettext_lazy('The CR\'s version, e.g. "3"; send it back in If-Match.'))


def _actions(cr: ChangeRequest, user, assessment) -> list[dict]:
    state = workflow.State(cr.state)
    return [
        {
            "action": a.value,
            "label": str(workflow.ACTION_LABELS[a]),
            "target": workflow.target_state(a, state).value,
        }
        for a in services.available_actions(cr=cr, user=user, assessment=assessment)
    ]


def _hides_internal(user, cr: ChangeRequest) -> bool:
    return not sees_internal(user, cr.project)


def _detail(cr: ChangeRequest, user, code: int = status.HTTP_200_OK) -> Response:
    assessment = services.current_assessment(cr)
    context = {
        "available_actions": _actions(cr, user, assessment),
        "current_assessment": assessment,
        "links": links.link_list(user=user, cr=cr),
    }
    data = ChangeRequestSerializer(cr, context=context).data
    return versioned(data, cr.version, code)


def _expected_version(request, cr: ChangeRequest) -> int | None:
    return expected_version(
        request, cr.version,
        _("The change request was changed since you read it (If-Match does not match)."),
    )  # fmt: skip


class ChangeRequestListView(ApiView):
    """Change requests of your projects, filtered and paginated; create one."""

    filter_backends = [df.DjangoFilterBackend]
    filterset_class = ChangeRequestFilter
    queryset = ChangeRequest.objects.none()
    serializer_class = ChangeRequestListSerializer

    @extend_schema(
        operation_id="change_requests_list",
        responses={200: ChangeRequestListSerializer(many=True), **errors(400)},
    )
    def get(self, request):
        filters = validated_filters(ChangeRequestFilter, request)
        qs = selectors.change_request_list(user=request.user, filters=filters)
        return self.paginated(qs, ChangeRequestListSerializer)

    @extend_schema(
        operation_id="change_requests_create",
        request=ChangeRequestCreateSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: ChangeRequestSerializer, **errors(400, 403, 404, 422)},
    )
    def post(self, request):
        # The project first, and the caller's role in it, before the rest of the body.
        key = self.get_validated(ProjectNamedSerializer)["project"]
        project = account_selectors.project_get(user=request.user, key=key)
        services.require_member(request.user, project)
        data = dict(self.get_validated(ChangeRequestCreateSerializer))
        del data["project"]
        cr = services.change_request_create(user=request.user, project=project, **data)
        cr = selectors.change_request_get(user=request.user, key=cr.key)
        return _detail(cr, request.user, status.HTTP_201_CREATED)


class BulkChangeView(ApiView):
    """One operation (assign, unassign, priority, type, add_label, remove_label, action) on
    many change requests, all or nothing: 422 with ``errors`` (key → why) when any would be
    refused, and then nothing is changed."""

    @extend_schema(
        operation_id="change_requests_bulk",
        request=BulkChangeSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={
            200: BulkResultSerializer,
            422: OpenApiResponse(
                BulkRefusedSerializer,
                description=gettext_lazy(
                    "Some change requests would be refused: nothing was "
                    "changed; `errors` names each with the reason."
                ),
            ),  # fmt: skip
            **errors(400, 403, 404, 413),
        },
    )
    def post(self, request):
        bulk.require_bulk(request.user)  # a customer's 403 whatever the body says
        data = self.get_validated(BulkChangeSerializer)
        project = None
        if data["project"]:
            project = account_selectors.project_get(user=request.user, key=data["project"])
        operation = bulk.BulkOperation.parse(data)
        try:
            changed = bulk.change_request_bulk(
                user=request.user, keys=data["keys"], operation=operation, project=project
            )
        except bulk.BulkRefused as exc:
            body = error_body(exc.code, exc.message, exc.fields) | {"errors": exc.refusals}
            return Response(body, status=exc.status)
        return Response(
            {
                "count": len(changed),
                "change_requests": [{"key": c.key, "version": c.version} for c in changed],
            }
        )


class ChangeRequestDetailView(ApiView):
    """One change request with its actuals, ETag = its version; PATCH honours If-Match."""

    queryset = ChangeRequest.objects.none()  # types the path's `key` in the schema

    serializer_class = ChangeRequestSerializer

    @extend_schema(
        operation_id="change_requests_retrieve",
        parameters=[ETAG_HEADER],
        responses={200: ChangeRequestSerializer, **errors(404)},
    )
    def get(self, request, key: str):
        cr = selectors.change_request_get(user=request.user, key=key)
        return _detail(cr, request.user)

    @extend_schema(
        operation_id="change_requests_partial_update",
        request=ChangeRequestUpdateSerializer,
        parameters=[IDEMPOTENCY_PARAM, IF_MATCH_PARAM, ETAG_HEADER],
        responses={
            200: ChangeRequestSerializer,
            **errors(400, 403, 404, 409, 412, 422),
        },
    )
    def patch(self, request, key: str):
        cr = selectors.change_request_get(user=request.user, key=key)
        data = self.get_validated(ChangeRequestUpdateSerializer, partial=True)
        expected = _expected_version(request, cr)
        services.change_request_update(
            user=request.user, cr=cr, data=dict(data), expected_version=expected
        )
        cr = selectors.change_request_get(user=request.user, key=key)
        return _detail(cr, request.user)


class TransitionView(ApiView):
    """GET: the actions you may take now. POST: take one."""

    queryset = ChangeRequest.objects.none()  # types the path's `key` in the schema

    @extend_schema(
        operation_id="change_requests_transitions_list",
        responses={200: AvailableActionsSerializer, **errors(404)},
    )
    def get(self, request, key: str):
        cr = selectors.change_request_get(user=request.user, key=key)
        assessment = services.current_assessment(cr)
        return Response({"actions": _actions(cr, request.user, assessment)})

    @extend_schema(
        operation_id="change_requests_transitions_create",
        request=TransitionSerializer,
        parameters=[IDEMPOTENCY_PARAM, ETAG_HEADER],
        responses={
            200: ChangeRequestSerializer,
            **errors(400, 403, 404, 409, 422),
        },
    )
    def post(self, request, key: str):
        cr = selectors.change_request_get(user=request.user, key=key)
        services.require_member(request.user, cr.project)
        data = self.get_validated(TransitionSerializer)
        services.change_request_transition(user=request.user, cr=cr, **data)
        cr = selectors.change_request_get(user=request.user, key=key)
        return _detail(cr, request.user)


class HistoryView(ApiView):
    """The CR's audit events, oldest first (customer roles do not see internal ones)."""

    queryset = ChangeRequest.objects.none()  # types the path's `key` in the schema

    serializer_class = HistoryEventSerializer

    @extend_schema(
        operation_id="change_requests_history_list",
        responses={200: HistoryEventSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, key: str):
        cr = selectors.change_request_get(user=request.user, key=key)
        page = self.paginate_queryset(selectors.history(user=request.user, cr=cr))
        page = redact_unseen(page or [], user=request.user)
        data = HistoryEventSerializer(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)


class CommentListView(ApiView):
    """Comments, oldest first (customer roles do not see internal ones)."""

    queryset = ChangeRequest.objects.none()  # types the path's `key` in the schema

    serializer_class = CommentSerializer

    @extend_schema(
        operation_id="change_requests_comments_list",
        responses={200: CommentSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, key: str):
        cr = selectors.change_request_get(user=request.user, key=key)
        return self.paginated(selectors.comment_list(user=request.user, cr=cr), CommentSerializer)

    @extend_schema(
        operation_id="change_requests_comments_create",
        request=CommentCreateSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: CommentSerializer, **errors(400, 403, 404)},
    )
    def post(self, request, key: str):
        cr = selectors.change_request_get(user=request.user, key=key)
        services.require_member(request.user, cr.project)
        data = self.get_validated(CommentCreateSerializer)
        comment = services.comment_create(user=request.user, cr=cr, **data)
        return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)


class AttachmentListView(FileUploadView):
    """Attachments (multipart upload, field ``file``); each is served by its download URL."""

    queryset = ChangeRequest.objects.none()  # types the path's `key` in the schema

    parser_classes = [MultiPartParser]
    serializer_class = AttachmentSerializer

    def upload_max_bytes(self) -> int:
        return settings.ATTACHMENT_MAX_BYTES

    @extend_schema(
        operation_id="change_requests_attachments_list",
        responses={200: AttachmentSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, key: str):
        cr = selectors.change_request_get(user=request.user, key=key)
        qs = selectors.attachment_list(user=request.user, cr=cr).select_related("change_request")
        return self.paginated(qs, AttachmentSerializer)

    @extend_schema(
        operation_id="change_requests_attachments_create",
        request={"multipart/form-data": AttachmentUploadSerializer},
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: AttachmentSerializer, **errors(400, 403, 404, 409, 413, 415)},
    )
    def post(self, request, key: str):
        cr = selectors.change_request_get(user=request.user, key=key)
        services.require_member(request.user, cr.project)  # a refusal before a 415 or 400
        upload = self.uploaded(request, AttachmentUploadSerializer)["file"]
        attachment = services.attachment_create(user=request.user, cr=cr, upload=upload)
        return Response(AttachmentSerializer(attachment).data, status=status.HTTP_201_CREATED)


class AttachmentDownloadView(ApiView):
    """The file itself, as an attachment, only to those who may see the CR."""

    queryset = ChangeRequest.objects.none()  # types the path's `key` in the schema

    def perform_content_negotiation(self, request, force=False):
        # A client that accepts only the file's type still gets the file (or a JSON error),
        # not a 406.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="change_requests_attachments_download",
        responses={
            # Any type: a ZIP is sent as application/zip, a PNG as image/png.
            (200, "*/*"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description=gettext_lazy("The file, with its own content type."),
            ),
            **errors(404),
        },
    )
    def get(self, request, key: str, pk: int):
        cr = selectors.change_request_get(user=request.user, key=key)
        return uploads.download(selectors.attachment_get(user=request.user, cr=cr, pk=pk))


class AssessmentListView(ApiView):
    """Impact assessments, newest version (the current one) first."""

    queryset = ChangeRequest.objects.none()  # types the path's `key` in the schema

    serializer_class = AssessmentSerializer

    @extend_schema(
        operation_id="change_requests_assessments_list",
        responses={200: AssessmentSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, key: str):
        cr = selectors.change_request_get(user=request.user, key=key)
        qs = selectors.assessment_list(user=request.user, cr=cr)
        return self.paginated(
            qs, AssessmentSerializer, hide_internal=_hides_internal(request.user, cr)
        )

    @extend_schema(
        operation_id="change_requests_assessments_create",
        request=AssessmentCreateSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: AssessmentSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request, key: str):
        cr = selectors.change_request_get(user=request.user, key=key)
        data = self.get_validated(AssessmentCreateSerializer)
        assessment = services.assessment_create(user=request.user, cr=cr, **data)
        assessment = selectors.assessment_list(user=request.user, cr=cr).get(pk=assessment.pk)
        return Response(AssessmentSerializer(assessment).data, status=status.HTTP_201_CREATED)


class VoteListView(ApiView):
    """Signed votes of the board (every round); cast yours with your password."""

    queryset = ChangeRequest.objects.none()  # types the path's `key` in the schema

    serializer_class = VoteSerializer

    @extend_schema(
        operation_id="change_requests_votes_list",
        responses={200: VoteSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, key: str):
        cr = selectors.change_request_get(user=request.user, key=key)
        return self.paginated(selectors.vote_list(user=request.user, cr=cr), VoteSerializer)

    @extend_schema(
        operation_id="change_requests_votes_create",
        request=VoteCreateSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: VoteResultSerializer, **errors(400, 403, 404, 409, 429)},
    )
    def post(self, request, key: str):
        cr = selectors.change_request_get(user=request.user, key=key)
        services.require_voter(request.user, cr)
        data = self.get_validated(VoteCreateSerializer)
        vote, tally = services.vote_cast(user=request.user, cr=cr, ip=client_ip(request), **data)
        cr = selectors.change_request_get(user=request.user, key=key)
        body = {
            "vote": VoteSerializer(vote).data,
            "tally": tally.as_dict(),
            "state": cr.state,
            "ratification": cr.ratification,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class ChangeRequestImportView(FileUploadView):
    """Import change requests into the project from CSV or XLSX (columns by header, English or
    Chinese; `template` and `field:<key>` for a form template and its custom fields), Jira's
    CSV export or its REST search JSON (multipart, field `file`): all or nothing. Rows whose
    reference (ref, Jira issue key, an exported CR's key) is already a CR of the project are
    skipped. `dry_run` reports what would be created and writes nothing. A file with problems
    is a 400 naming each row and column; over the size or row limit a 413. A file of more rows
    than the server's CHANGEFLOW_CR_IMPORT_SYNC_ROWS (100 by default) is checked at once, then
    imported in the background: 202 with the `job` to poll (header Location). The project's
    managers only."""

    queryset = Project.objects.none()
    parser_classes = [MultiPartParser, FormParser]
    serializer_class = CRImportReportSerializer

    def upload_max_bytes(self) -> int:
        return req_io.max_bytes()

    @extend_schema(
        operation_id="project_change_requests_import",
        request={"multipart/form-data": CRImportUploadSerializer},
        parameters=[IDEMPOTENCY_PARAM],
        responses={
            200: CRImportReportSerializer,
            202: OpenApiResponse(CRImportQueuedSerializer, description=gettext_lazy(
                "A large file: checked, then queued; poll the job's `url` (header Location)."
            )),
            **errors(400, 403, 404, 409, 413),
        },
    )  # fmt: skip
    def post(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        services.require_manager(request.user, project)  # before the body: 403, not 400
        data = self.uploaded(request, CRImportUploadSerializer)
        upload = data["file"]
        raw = req_io.upload_bytes(upload)
        parsed = cr_io.parse(raw, filename=upload.name or "", fmt=data["format"] or None)
        background = not data["dry_run"] and import_jobs.in_background(parsed)
        report = cr_io.change_requests_import(
            user=request.user, project=project, parsed=parsed,
            dry_run=data["dry_run"] or background, submit=data["submit"],
            filename=upload.name or "",
        )  # fmt: skip
        if not background:
            return Response(report)
        # Checked (a 400 names its problems now); the task checks again before it writes.
        job = import_jobs.import_job_create(
            user=request.user, project=project, raw=raw, parsed=parsed,
            filename=upload.name or "", fmt=data["format"] or "", submit=data["submit"],
        )  # fmt: skip
        body = {"job": import_jobs.job_data(job, request)}
        return Response(
            body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["job"]["url"]}
        )


class ChangeRequestImportJobView(ApiView):
    """A background import of change requests: its state and progress while it runs, then
    the keys it made (`done`) or the problems that stopped it (`failed`: nothing imported).
    The project's managers only."""

    queryset = Project.objects.none()
    serializer_class = CRImportJobSerializer

    @extend_schema(
        operation_id="project_change_requests_import_job",
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)],
        responses={200: CRImportJobSerializer, **errors(403, 404)},
    )
    def get(self, request, key: str, id: int):  # noqa: A002 - the path's name
        project = account_selectors.project_get(user=request.user, key=key)
        job = import_jobs.import_job_get(user=request.user, project=project, job_id=id)
        return Response(import_jobs.job_data(job, request))


class ChangeRequestExportView(ApiView):
    """The project's change requests that you see, filtered as the list, as a file: CSV
    (UTF-8 with BOM, for Excel) or XLSX, under the headers the import reads."""

    queryset = ChangeRequest.objects.none()
    filter_backends = [df.DjangoFilterBackend]
    filterset_class = ChangeRequestExportFilter

    def perform_content_negotiation(self, request, force=False):
        # `format` is ours (the file's format), not DRF's renderer override.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="project_change_requests_export",
        responses={
            **{
                (200, cr_io.CONTENT_TYPES[fmt].split(";")[0]): OpenApiResponse(
                    OpenApiTypes.BINARY, description=gettext_lazy("The file, as an attachment.")
                )
                for fmt in cr_io.EXPORT_FORMATS
            },
            **errors(400, 404),
        },
    )
    def get(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        filters = validated_filters(ChangeRequestExportFilter, request)
        fmt = filters.pop("format", None) or "csv"
        content, content_type, name = cr_io.change_requests_export(
            user=request.user, project=project, fmt=fmt, filters=filters
        )
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["X-Content-Type-Options"] = "nosniff"
        return response
