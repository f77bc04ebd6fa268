"""API of the case library and of outcome ratings.

- ``/api/v1/projects/{key}/cases/``: the project's cases, searched and filtered.
- ``/api/v1/change-requests/{key}/case/``: a CR's case; POST/PUT mark it, PATCH edits it.
- ``/api/v1/change-requests/{key}/ratings/``: the ratings of a closed CR; PUT one's own.

Thin: fetch through selectors (404 for what the caller may not see), check the role before the
body, call one service, render.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from changeflow.accounts import selectors as account_selectors
from changeflow.changes import selectors as change_selectors
from changeflow.changes.models import ChangeRequest, ChangeType
from changeflow.changes.workflow import State
from changeflow.core.api_views import (
    IDEMPOTENCY_PARAM,
    IF_MATCH_PARAM,
    ApiView,
    errors,
    etag_header,
    expected_version,
    versioned,
)
from changeflow.core.errors import Conflict

from . import selectors, services
from .models import Case, Outcome
from .serializers import (
    CasePatchSerializer,
    CaseSerializer,
    CaseWriteSerializer,
    RatingListSerializer,
    RatingWriteSerializer,
)

FILTERS = [
    OpenApiParameter(
        "q", str, OpenApiParameter.QUERY, required=False,
        description="Full text over the title, root causes, lessons and tags (Chinese and "
        "English).",
    ),
    OpenApiParameter("outcome", str, OpenApiParameter.QUERY, enum=Outcome.values, required=False),
    OpenApiParameter("tag", str, OpenApiParameter.QUERY, required=False),
    OpenApiParameter(
        "type", str, OpenApiParameter.QUERY, enum=ChangeType.values, required=False,
        description="The change request's type.",
    ),
]  # fmt: skip
ETAG_HEADER = etag_header('The case\'s version, e.g. "3".', (200, 201))


def _body(case: Case, code: int = 200) -> Response:
    return versioned(CaseSerializer(case).data, case.version, code)


def _reread(request, cr: ChangeRequest, code: int = 200) -> Response:
    return _body(selectors.case_get(user=request.user, cr=cr), code)


class CaseListView(ApiView):
    """A project's case library (not archived cases), newest first, with their figures."""

    queryset = Case.objects.none()

    @extend_schema(
        operation_id="project_cases_list", parameters=FILTERS,
        responses={200: CaseSerializer(many=True), **errors(400, 404)},
    )  # fmt: skip
    def get(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        filters = selectors.clean_filters(request.query_params)
        qs = selectors.case_list(user=request.user, project=project, filters=filters)
        return self.paginated(qs, CaseSerializer)


class CaseView(ApiView):
    """A change request's case: GET it; POST or PUT mark the CR as a case (PUT replaces an
    existing case's fields); PATCH edits some, naming the version read."""

    queryset = ChangeRequest.objects.none()  # types the path's `key` in the schema

    def _cr(self, request, key: str) -> ChangeRequest:
        return change_selectors.change_request_get(user=request.user, key=key)

    @extend_schema(
        operation_id="change_requests_case_retrieve", parameters=[ETAG_HEADER],
        responses={200: CaseSerializer, **errors(404)},
    )  # fmt: skip
    def get(self, request, key: str):
        cr = self._cr(request, key)
        return _body(selectors.case_get(user=request.user, cr=cr))

    @extend_schema(
        operation_id="change_requests_case_create", request=CaseWriteSerializer,
        parameters=[IDEMPOTENCY_PARAM, ETAG_HEADER],
        responses={201: CaseSerializer, **errors(400, 403, 404, 409)},
    )  # fmt: skip
    def post(self, request, key: str):
        cr = self._cr(request, key)
        services.require_case_editor(request.user, cr.project)
        data = dict(self.get_validated(CaseWriteSerializer))
        data.pop("version", None)
        services.case_mark(user=request.user, cr=cr, **data)
        return _reread(request, cr, status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="change_requests_case_update", request=CaseWriteSerializer,
        parameters=[IDEMPOTENCY_PARAM, IF_MATCH_PARAM, ETAG_HEADER],
        responses={200: CaseSerializer, 201: CaseSerializer, **errors(400, 403, 404, 409, 412)},
    )  # fmt: skip
    def put(self, request, key: str):
        cr = self._cr(request, key)
        services.require_case_editor(request.user, cr.project)
        data = dict(self.get_validated(CaseWriteSerializer))
        version = data.pop("version", None)
        case = selectors.case_of(user=request.user, cr=cr)
        if case is None:
            services.case_mark(user=request.user, cr=cr, **data)
            return _reread(request, cr, status.HTTP_201_CREATED)
        data = {"root_causes": "", "lessons": "", "tags": [], **data}  # PUT: the whole case
        self._update(request, case, data, version)
        return _reread(request, cr)

    @extend_schema(
        operation_id="change_requests_case_partial_update", request=CasePatchSerializer,
        parameters=[IDEMPOTENCY_PARAM, IF_MATCH_PARAM, ETAG_HEADER],
        responses={200: CaseSerializer, **errors(400, 403, 404, 409, 412)},
    )  # fmt: skip
    def patch(self, request, key: str):
        cr = self._cr(request, key)
        services.require_case_editor(request.user, cr.project)
        case = selectors.case_get(user=request.user, cr=cr)
        data = dict(self.get_validated(CasePatchSerializer))
        version = data.pop("version")
        self._update(request, case, data, version)
        return _reread(request, cr)

    def _update(self, request, case: Case, data: dict, version: int | None) -> None:
        stale = _("The case was changed by someone else since you read it.")
        header = expected_version(request, case.version, stale)
        if version is not None and header is not None and version != header:
            raise Conflict(stale, code="stale")
        services.case_update(
            user=request.user, case=case, data=data,
            expected_version=version if version is not None else header,
        )  # fmt: skip


class RatingListView(ApiView):
    """The ratings of a change request's outcome; PUT makes or replaces your own."""

    queryset = ChangeRequest.objects.none()
    pagination_class = None

    def _answer(self, request, cr: ChangeRequest, code: int = 200) -> Response:
        summary = selectors.rating_summary(cr=cr)
        body = {
            "average": summary.average,
            "count": summary.count,
            "may_rate": cr.state == State.CLOSED and services.may_rate(request.user, cr),
            "results": list(selectors.rating_list(user=request.user, cr=cr)),
        }
        return Response(RatingListSerializer(body).data, status=code)

    @extend_schema(
        operation_id="change_requests_ratings_list",
        responses={200: RatingListSerializer, **errors(404)},
    )
    def get(self, request, key: str):
        cr = change_selectors.change_request_get(user=request.user, key=key)
        return self._answer(request, cr)

    @extend_schema(
        operation_id="change_requests_ratings_update", request=RatingWriteSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={200: RatingListSerializer, **errors(400, 403, 404, 409)},
    )  # fmt: skip
    def put(self, request, key: str):
        cr = change_selectors.change_request_get(user=request.user, key=key)
        services.require_rater(request.user, cr)
        data = self.get_validated(RatingWriteSerializer)
        services.rating_set(user=request.user, cr=cr, **data)
        return self._answer(request, cr)
