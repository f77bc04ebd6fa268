"""API endpoints of the Change Control Board. Thin: parse, select, one service."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from changeflow.accounts import selectors as account_selectors
from changeflow.accounts.models import Project
from changeflow.changes import selectors as change_selectors
from changeflow.changes.models import ChangeRequest
from changeflow.core.api_views import IDEMPOTENCY_PARAM, ApiView, errors, query_flag
from changeflow.core.errors import NotFound

from . import decisions, selectors, services
from .serializers import (
    BoardSerializer,
    DecisionSerializer,
    FreezeWindowSerializer,
    PendingVoteSerializer,
    SupervisionSerializer,
    UnratifiedSerializer,
)


class BoardView(ApiView):
    """The project's Change Control Board: members see it; its managers replace it."""

    queryset = Project.objects.none()  # types the path's `key` in the schema
    serializer_class = BoardSerializer

    @extend_schema(
        operation_id="project_board_retrieve", responses={200: BoardSerializer, **errors(404)}
    )
    def get(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        spec = selectors.board_get(user=request.user, project=project)
        return Response(BoardSerializer(spec.as_dict()).data)

    @extend_schema(
        operation_id="project_board_update",
        request=BoardSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={200: BoardSerializer, **errors(400, 403, 404)},
    )
    def put(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key, action="manage")
        data = dict(self.get_validated(BoardSerializer))
        data["members"] = [dict(m) for m in data["members"]]
        if "delegation" in data:
            data["delegation"] = dict(data["delegation"])
        spec = services.board_set(user=request.user, project=project, data=data)
        return Response(BoardSerializer(spec.as_dict()).data)


class DecisionView(ApiView):
    """What is being voted on now, the board's policy, the tally and the verdict so far."""

    queryset = ChangeRequest.objects.none()  # types the path's `key` in the schema

    @extend_schema(
        operation_id="change_requests_decision_retrieve",
        responses={200: DecisionSerializer, **errors(404)},
    )
    def get(self, request, key: str):
        cr = change_selectors.change_request_get(user=request.user, key=key)
        return Response(decisions.decision_body(user=request.user, cr=cr))


class FreezeWindowListView(ApiView):
    """A project's change freezes: members see them; its managers add them."""

    queryset = Project.objects.none()  # types the path's `key` in the schema
    serializer_class = FreezeWindowSerializer

    @extend_schema(
        operation_id="project_freeze_windows_list",
        responses={200: FreezeWindowSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        windows = selectors.freeze_window_list(user=request.user, project=project)
        return self.paginated(windows, FreezeWindowSerializer)

    @extend_schema(
        operation_id="project_freeze_windows_create",
        request=FreezeWindowSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: FreezeWindowSerializer, **errors(400, 403, 404, 422)},
    )
    def post(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key, action="manage")
        data = self.get_validated(FreezeWindowSerializer)
        window = services.freeze_window_create(user=request.user, project=project, **data)
        return Response(FreezeWindowSerializer(window).data, status=status.HTTP_201_CREATED)


class FreezeWindowDetailView(ApiView):
    queryset = Project.objects.none()  # types the path's `key` in the schema

    @extend_schema(
        operation_id="project_freeze_windows_destroy",
        parameters=[IDEMPOTENCY_PARAM, OpenApiParameter("id", int, OpenApiParameter.PATH)],
        responses={204: None, **errors(403, 404, 422)},
    )
    def delete(self, request, key: str, id: int):
        project = account_selectors.project_get(user=request.user, key=key, action="manage")
        window = (
            selectors.freeze_window_list(user=request.user, project=project).filter(pk=id).first()
        )
        if window is None:
            raise NotFound(_("No such freeze window."))
        services.freeze_window_delete(user=request.user, window=window)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PendingVotesView(ApiView):
    """The CRs waiting for the signed-in member's vote (a reset vote is to be cast again)."""

    queryset = ChangeRequest.objects.none()

    @extend_schema(
        operation_id="votes_pending_list",
        responses={200: PendingVoteSerializer(many=True), **errors(400)},
    )
    def get(self, request):
        return self.paginated(decisions.pending_votes(user=request.user), PendingVoteSerializer)


class UnratifiedView(ApiView):
    """A project's emergency approvals not ratified yet, with their deadline; overdue ones
    flagged."""

    queryset = Project.objects.none()  # types the path's `key` in the schema

    @extend_schema(
        operation_id="project_unratified_list",
        responses={200: UnratifiedSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        rows = decisions.unratified(user=request.user, project=project)
        return self.paginated(rows, UnratifiedSerializer)


class SupervisionView(ApiView):
    """Approved CRs through implementation to close, with owners, due dates, overdue."""

    queryset = Project.objects.none()  # types the path's `key` in the schema

    @extend_schema(
        operation_id="project_supervision_list",
        parameters=[OpenApiParameter("closed", bool, description="Include closed CRs.")],
        responses={200: SupervisionSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        closed = query_flag(request, "closed")
        rows = decisions.supervision(user=request.user, project=project, include_closed=closed)
        return self.paginated(rows, SupervisionSerializer)
