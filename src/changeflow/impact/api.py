"""API endpoints for estimation. Thin: fetch through a selector, call one service, render.

The CR comes through ``changes.selectors`` (not a member: 404); estimates, analogy and
calibration are internal (customer roles: 403). The backtest reads only the file it is
sent, no project's data: any signed-in user may run it.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from changeflow.accounts import selectors as account_selectors
from changeflow.accounts.models import Project
from changeflow.changes import selectors as change_selectors
from changeflow.changes.models import ChangeRequest
from changeflow.core.api_views import IDEMPOTENCY_PARAM, ApiView, errors
from changeflow.core.errors import PreconditionFailed, TooLarge, ValidationError

from . import datasets, methods, selectors, services
from .serializers import (
    AnalogySerializer,
    BacktestReportSerializer,
    BacktestRequestSerializer,
    CalibrationSerializer,
    EstimateCreateSerializer,
    EstimatesSerializer,
    RoundSerializer,
    SimilarSerializer,
)

SCOPE_PARAM = OpenApiParameter(
    "scope", OpenApiTypes.STR, enum=["project", "organisation"], required=False,
    description="History of the project (default) or of every project of its customer "
    "organisation that you can see.",
)  # fmt: skip
LIMIT_PARAM = OpenApiParameter("limit", OpenApiTypes.INT, required=False, description="1–20")


def _scope(request) -> str:
    scope = request.query_params.get("scope", "project")
    if scope not in ("project", "organisation"):
        raise ValidationError("scope", fields={"scope": ["project or organisation"]})
    return scope


def _limit(request, default: int = 5) -> int:
    raw = request.query_params.get("limit", str(default))
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= 20:
        raise ValidationError("limit", fields={"limit": ["a whole number from 1 to 20"]})
    return value


def _estimates_body(user, cr) -> dict:
    data = selectors.expert_rounds(user=user, cr=cr)
    return {"rounds": data["rounds"], "can_estimate": data["can_estimate"],
            "can_close": data["can_close"]}  # fmt: skip


class EstimateListView(ApiView):
    """Expert three-point estimates of a CR and their Wideband-Delphi rounds."""

    queryset = ChangeRequest.objects.none()  # types the path's `key` in the schema

    @extend_schema(
        operation_id="change_requests_estimates_retrieve",
        responses={200: EstimatesSerializer, **errors(403, 404)},
    )
    def get(self, request, key: str):
        cr = change_selectors.change_request_get(user=request.user, key=key)
        return Response(EstimatesSerializer(_estimates_body(request.user, cr)).data)

    @extend_schema(
        operation_id="change_requests_estimates_create",
        request=EstimateCreateSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: EstimatesSerializer, **errors(400, 403, 404, 409, 422)},
    )
    def post(self, request, key: str):
        cr = change_selectors.change_request_get(user=request.user, key=key)
        selectors.require_estimator(request.user, cr.project)
        data = self.get_validated(EstimateCreateSerializer)
        services.expert_estimate_submit(user=request.user, cr=cr, **data)
        body = EstimatesSerializer(_estimates_body(request.user, cr)).data
        return Response(body, status=status.HTTP_201_CREATED)


class RoundCloseView(ApiView):
    """Close the open round; a new one opens when the estimators disagree beyond the spread."""

    queryset = ChangeRequest.objects.none()

    @extend_schema(
        operation_id="change_requests_estimates_close_round",
        request=None,
        parameters=[IDEMPOTENCY_PARAM],
        responses={200: RoundSerializer, **errors(403, 404, 409, 422)},
    )
    def post(self, request, key: str):
        cr = change_selectors.change_request_get(user=request.user, key=key)
        closed = services.estimation_round_close(user=request.user, cr=cr)
        rounds = selectors.expert_rounds(user=request.user, cr=cr)["rounds"]
        row = next(r for r in rounds if r["number"] == closed.number)
        return Response(RoundSerializer(row).data)


class AnalogyView(ApiView):
    """The CR's most similar closed CRs with their actuals, and the analogy estimate."""

    queryset = ChangeRequest.objects.none()

    @extend_schema(
        operation_id="change_requests_analogy_retrieve",
        parameters=[SCOPE_PARAM],
        responses={200: AnalogySerializer, **errors(400, 403, 404, 422)},
    )
    def get(self, request, key: str):
        cr = change_selectors.change_request_get(user=request.user, key=key)
        data = selectors.analogy_for(user=request.user, cr=cr, scope=_scope(request))
        side = selectors.corrections_for(cr, data)
        return Response(AnalogySerializer({**data, "corrected": side}).data)


class SimilarView(ApiView):
    """Likely duplicates and related CRs of this one (Chinese and English text)."""

    # A whole, bounded list in one answer: documented as an array, without page parameters.
    pagination_class = None
    queryset = ChangeRequest.objects.none()

    @extend_schema(
        operation_id="change_requests_similar_list",
        parameters=[LIMIT_PARAM, SCOPE_PARAM],
        responses={200: SimilarSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, key: str):
        cr = change_selectors.change_request_get(user=request.user, key=key)
        hits = selectors.similar_to(
            user=request.user, project=cr.project, text=cr.title, body=cr.description,
            exclude_key=cr.key, limit=_limit(request), scope=_scope(request),
        )  # fmt: skip
        return Response(SimilarSerializer(hits, many=True).data)


class ProjectSimilarView(ApiView):
    """Search a project's CRs for text like ``q`` (intake: is this already asked for?)."""

    # A whole, bounded list in one answer: documented as an array, without page parameters.
    pagination_class = None
    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_similar_list",
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, required=True, description="title and text"),
            LIMIT_PARAM,
        ],
        responses={200: SimilarSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        q = request.query_params.get("q", "").strip()
        if not q:
            raise ValidationError("q", fields={"q": ["text to compare is required"]})
        hits = selectors.similar_to(
            user=request.user, project=project, text=q[:10_000], limit=_limit(request)
        )
        return Response(SimilarSerializer(hits, many=True).data)


class CalibrationView(ApiView):
    """How far each source of estimates, estimator and CR type has been from the actuals."""

    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_calibration_retrieve",
        responses={200: CalibrationSerializer, **errors(403, 404)},
    )
    def get(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        data = selectors.calibration_summary(user=request.user, project=project)
        return Response(CalibrationSerializer(data).data)


# A backtest is a leave-one-out over every case, run while the request waits: these bound it
# to a few seconds. ``changeflow estimate backtest`` has no such limits.
BACKTEST_MAX_BYTES = 5 * 1024 * 1024
BACKTEST_MAX_ROWS = 500


class BacktestView(ApiView):
    """Leave-one-out backtest of an estimation method on an uploaded effort history."""

    parser_classes = [MultiPartParser]
    max_body_bytes = BACKTEST_MAX_BYTES

    @extend_schema(
        operation_id="estimation_backtest",
        request={"multipart/form-data": BacktestRequestSerializer},
        parameters=[IDEMPOTENCY_PARAM],
        responses={200: BacktestReportSerializer, **errors(400, 413, 422)},
    )
    def post(self, request):
        data = self.get_validated(BacktestRequestSerializer)
        method, k, aggregate = data["method"], data["k"], data["aggregate"]
        bad = methods.inapplicable(method, k=k, aggregate=aggregate)
        if bad:
            message = _("%(option)s does not apply to method %(method)s") % {
                "option": bad, "method": method,
            }  # fmt: skip
            raise ValidationError(message, fields={bad: [message]})
        upload = data["file"]
        try:
            dataset = datasets.parse(
                upload.read(), upload.name or "upload.csv",
                missing=methods.names(data["missing"]), names=methods.names(data["names"]) or None,
            )  # fmt: skip
        except datasets.DatasetError as exc:
            raise ValidationError(str(exc), fields={"file": [str(exc)]}) from None
        if dataset.rows > BACKTEST_MAX_ROWS:
            raise TooLarge(
                _("%(n)d rows: a backtest through the API takes at most %(max)d; run "
                  "changeflow estimate backtest for larger files")
                % {"n": dataset.rows, "max": BACKTEST_MAX_ROWS}
            )  # fmt: skip
        target, exclude = data["target"], methods.names(data["exclude"])
        try:
            result = methods.backtest(dataset, target, exclude, method, k, aggregate)
        except datasets.NonNumericTarget as exc:
            raise ValidationError(str(exc), fields={"target": [str(exc)]}) from None
        except datasets.UnknownColumn as exc:  # the target, or a column to exclude
            target_ok = target in dataset.names and target not in exclude
            field = "exclude" if target_ok else "target"
            raise ValidationError(str(exc), fields={field: [str(exc)]}) from None
        except datasets.DatasetError as exc:  # the data cannot be backtested as it is
            raise PreconditionFailed(str(exc)) from None
        return Response(methods.report(dataset, result, target, exclude))
