"""REST API of process review: improvement actions (``/api/v1/projects/{key}/improvement-
actions/...``) and the metrics of a project over a period (``/api/v1/projects/{key}/metrics/``).

Thin: the project and the action through ``reports.selectors`` (404 for outsiders and for
customer roles), the role through ``reports.actions``' checks before the body is read, one
service, render. A PATCH or a transition honours ``If-Match`` (a stale ETag: 412) and a
``version`` in the body (a stale one: 409), as change requests do. The metrics come from
``metrics.project_metrics``.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters import rest_framework as df
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status
from rest_framework.response import Response

from changeflow.accounts import selectors as account_selectors
from changeflow.accounts.models import Project
from changeflow.core.api_views import (
    IDEMPOTENCY_PARAM,
    IF_MATCH_PARAM,
    ApiView,
    FlagFilter,
    errors,
    etag_header,
    expected_version,
    validated_filters,
    versioned,
)

from . import actions, metrics, reviews, selectors
from .models import ActionStatus, ImprovementAction, ReviewReport
from .serializers import (
    ImprovementActionCreateSerializer,
    ImprovementActionDetailSerializer,
    ImprovementActionsAvailableSerializer,
    ImprovementActionSerializer,
    ImprovementActionUpdateSerializer,
    ImprovementTransitionSerializer,
    MetricsSerializer,
    ReviewReportCreateSerializer,
    ReviewReportDetailSerializer,
    ReviewReportSerializer,
    ReviewScheduleSerializer,
)

AKEY = OpenApiParameter(
    "akey", str, OpenApiParameter.PATH, description=gettext_lazy("Improvement action key.")
)
ETAG_HEADER = etag_header(
    gettext_lazy('The action\'s version, e.g. "3"; send it back in If-Match.')
)


class ImprovementFilter(df.FilterSet):
    status = df.ChoiceFilter(choices=ActionStatus.choices)
    owner = df.CharFilter(help_text=gettext_lazy("Username of the owner."))
    overdue = FlagFilter(help_text=gettext_lazy("true: open or in progress and past the due date."))

    class Meta:
        model = ImprovementAction
        fields: list[str] = []


def _action(request, key: str, akey: str) -> ImprovementAction:
    project = selectors.project_get(user=request.user, key=key)
    return selectors.improvement_get(user=request.user, project=project, key=akey)


def _detail(action: ImprovementAction, user, code: int = status.HTTP_200_OK) -> Response:
    context = {"available_actions": actions.available_transitions(user=user, action=action)}
    data = ImprovementActionDetailSerializer(action, context=context).data
    return versioned(data, action.version, code)


def _expected(request, action: ImprovementAction, data: dict) -> int | None:
    """The version the write expects: ``version`` in the body (stale: 409 from the service), or
    the ``If-Match`` header (stale: 412 here, as for change requests)."""
    header = expected_version(
        request, action.version,
        _("The improvement action was changed since you read it (If-Match does not match)."),
    )  # fmt: skip
    body = data.pop("version", None)
    return body if body is not None else header


class ImprovementListView(ApiView):
    """A project's improvement actions by due date (not for customer roles); create one
    (project managers and tech leads)."""

    queryset = ImprovementAction.objects.none()  # the filters' model; types the path's `key`
    filter_backends = [df.DjangoFilterBackend]
    filterset_class = ImprovementFilter

    @extend_schema(
        operation_id="project_improvement_actions_list",
        responses={200: ImprovementActionSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, key: str):
        project = selectors.project_get(user=request.user, key=key)
        filters = validated_filters(ImprovementFilter, request)
        qs = selectors.improvement_list(
            user=request.user, project=project, filters=filters
        ).prefetch_related("change_requests")
        return self.paginated(qs, ImprovementActionSerializer)

    @extend_schema(
        operation_id="project_improvement_actions_create",
        request=ImprovementActionCreateSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: ImprovementActionDetailSerializer, **errors(400, 403, 404)},
    )
    def post(self, request, key: str):
        project = selectors.project_get(user=request.user, key=key)
        actions.require_manager(request.user, project)
        data = self.get_validated(ImprovementActionCreateSerializer)
        action = actions.improvement_create(user=request.user, project=project, **data)
        action = selectors.improvement_get(user=request.user, project=project, key=action.key)
        return _detail(action, request.user, status.HTTP_201_CREATED)


class ImprovementDetailView(ApiView):
    """One improvement action, ETag = its version; PATCH honours If-Match and ``version``."""

    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_improvement_actions_retrieve",
        parameters=[AKEY, ETAG_HEADER],
        responses={200: ImprovementActionDetailSerializer, **errors(404)},
    )
    def get(self, request, key: str, akey: str):
        return _detail(_action(request, key, akey), request.user)

    @extend_schema(
        operation_id="project_improvement_actions_partial_update",
        request=ImprovementActionUpdateSerializer,
        parameters=[AKEY, IDEMPOTENCY_PARAM, IF_MATCH_PARAM, ETAG_HEADER],
        responses={200: ImprovementActionDetailSerializer, **errors(400, 403, 404, 409, 412, 422)},
    )
    def patch(self, request, key: str, akey: str):
        action = _action(request, key, akey)
        actions.require_mover(request.user, action)
        data = dict(self.get_validated(ImprovementActionUpdateSerializer, partial=True))
        expected = _expected(request, action, data)
        actions.improvement_update(
            user=request.user, action=action, data=data, expected_version=expected
        )
        return _detail(_action(request, key, akey), request.user)


class ImprovementTransitionView(ApiView):
    """GET: the transitions you may take now. POST: take one (``complete`` needs a
    ``resolution``)."""

    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_improvement_actions_transitions_list",
        parameters=[AKEY],
        responses={200: ImprovementActionsAvailableSerializer, **errors(404)},
    )
    def get(self, request, key: str, akey: str):
        action = _action(request, key, akey)
        return Response(
            {"actions": actions.available_transitions(user=request.user, action=action)}
        )

    @extend_schema(
        operation_id="project_improvement_actions_transitions_create",
        request=ImprovementTransitionSerializer,
        parameters=[AKEY, IDEMPOTENCY_PARAM, IF_MATCH_PARAM, ETAG_HEADER],
        responses={200: ImprovementActionDetailSerializer, **errors(400, 403, 404, 409, 412, 422)},
    )
    def post(self, request, key: str, akey: str):
        action = _action(request, key, akey)
        actions.require_mover(request.user, action)
        data = dict(self.get_validated(ImprovementTransitionSerializer))
        expected = _expected(request, action, data)
        actions.improvement_transition(
            user=request.user, action=action, name=data.pop("action"), **data,
            expected_version=expected,
        )  # fmt: skip
        return _detail(_action(request, key, akey), request.user)


class MetricsView(ApiView):
    """The process metrics of a project over [from, to) (default: the last three months)."""

    queryset = Project.objects.none()  # types the path's `key` in the schema

    @extend_schema(
        operation_id="project_metrics_retrieve",
        parameters=[
            OpenApiParameter(
                "from", OpenApiTypes.DATE, required=False, description="First day of the period."
            ),
            OpenApiParameter(
                "to",
                OpenApiTypes.DATE,
                required=False,
                description="The first day after the period (at most 5 years on).",
            ),
        ],  # fmt: skip
        responses={200: MetricsSerializer, **errors(400, 404)},
    )
    def get(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        period = metrics.parse_period(
            request.query_params.get("from"), request.query_params.get("to")
        )
        return Response(metrics.project_metrics(user=request.user, project=project, period=period))


# ------------------------------------------------------------------ review reports

NUMBER = OpenApiParameter(
    "number", int, OpenApiParameter.PATH, description=gettext_lazy("The report's number.")
)


def _report(request, key: str, number: int) -> ReviewReport:
    project = selectors.project_get(user=request.user, key=key)
    return selectors.review_report_get(user=request.user, project=project, number=number)


class ReviewReportListView(ApiView):
    """A project's review reports, newest first (not for customer roles); generate one
    (project managers). A second report of the same kind and period: 409."""

    queryset = ReviewReport.objects.none()

    @extend_schema(
        operation_id="project_review_reports_list",
        responses={200: ReviewReportSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, key: str):
        project = selectors.project_get(user=request.user, key=key)
        qs = selectors.review_report_list(user=request.user, project=project)
        return self.paginated(qs, ReviewReportSerializer)

    @extend_schema(
        operation_id="project_review_reports_create",
        request=ReviewReportCreateSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: ReviewReportDetailSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request, key: str):
        project = selectors.project_get(user=request.user, key=key)
        reviews.require_project_manager(request.user, project)
        data = self.get_validated(ReviewReportCreateSerializer)
        report = reviews.review_report_request(
            user=request.user, project=project, kind=data["kind"], date=data.get("date"),
            start=data.get("from"), end=data.get("to"),
        )  # fmt: skip
        report = selectors.review_report_get(
            user=request.user, project=project, number=report.number
        )
        return Response(ReviewReportDetailSerializer(report).data, status=status.HTTP_201_CREATED)


class ReviewReportDetailView(ApiView):
    """One review report with its figures as generated."""

    queryset = ReviewReport.objects.none()

    @extend_schema(
        operation_id="project_review_reports_retrieve",
        parameters=[NUMBER],
        responses={200: ReviewReportDetailSerializer, **errors(404)},
    )
    def get(self, request, key: str, number: int):
        return Response(ReviewReportDetailSerializer(_report(request, key, number)).data)


class _ReviewReportFileView(ApiView):
    queryset = ReviewReport.objects.none()
    fmt = "html"

    def get(self, request, key: str, number: int):
        report = _report(request, key, number)
        content = selectors.review_report_file(report, self.fmt)
        return selectors.review_report_response(report, self.fmt, content)


@extend_schema_view(
    get=extend_schema(
        operation_id="project_review_reports_html",
        parameters=[NUMBER],
        responses={(200, "text/html"): OpenApiResponse(OpenApiTypes.STR), **errors(404, 409)},
        description=gettext_lazy("The report's standalone HTML file, as generated."),
    )
)
class ReviewReportHtmlView(_ReviewReportFileView):
    fmt = "html"


@extend_schema_view(
    get=extend_schema(
        operation_id="project_review_reports_pdf",
        parameters=[NUMBER],
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY),
            **errors(404, 409),
        },
        description=gettext_lazy("The report's PDF file, as generated."),
    )
)
class ReviewReportPdfView(_ReviewReportFileView):
    fmt = "pdf"


class ReviewScheduleView(ApiView):
    """The project's review schedule: off, weekly or monthly (project managers set it)."""

    queryset = ReviewReport.objects.none()
    pagination_class = None

    @extend_schema(
        operation_id="project_review_schedule_retrieve",
        responses={200: ReviewScheduleSerializer, **errors(404)},
    )
    def get(self, request, key: str):
        project = selectors.project_get(user=request.user, key=key)
        return Response({"frequency": reviews.schedule_of(project)})

    @extend_schema(
        operation_id="project_review_schedule_update",
        request=ReviewScheduleSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={200: ReviewScheduleSerializer, **errors(400, 403, 404)},
    )
    def put(self, request, key: str):
        project = selectors.project_get(user=request.user, key=key)
        reviews.require_project_manager(request.user, project)
        data = self.get_validated(ReviewScheduleSerializer)
        reviews.schedule_set(user=request.user, project=project, frequency=data["frequency"])
        return Response({"frequency": reviews.schedule_of(project)})
