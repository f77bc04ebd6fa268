"""API of the links between change requests (``changes.links``).

``/api/v1/change-requests/{key}/links/`` (GET the CR's links both ways, POST a link),
``.../links/{id}/`` (DELETE) and ``.../mark-duplicate/`` (POST: link as a duplicate and
withdraw). Thin: the CR through its selector (404 for outsiders), the service's own role check
before the body is read (403), one service call.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from changeflow.core.api_views import IDEMPOTENCY_PARAM, ApiView, StrictSerializer, errors

from . import links, selectors
from .models import LINK_NOTE_MAX, ChangeRequest, LinkKind
from .serializers import ChangeRequestSerializer, LinkSerializer

LINK_ID_PARAM = OpenApiParameter(
    "id", OpenApiTypes.INT, OpenApiParameter.PATH, description=gettext_lazy("Link id.")
)


class LinkCreateSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=LinkKind.choices)
    target = serializers.CharField(
        max_length=24, help_text=gettext_lazy("The other change request's key, e.g. ACME-7.")
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=LINK_NOTE_MAX)


class MarkDuplicateSerializer(StrictSerializer):
    original = serializers.CharField(
        max_length=24, help_text=gettext_lazy("The change request this one duplicates.")
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=LINK_NOTE_MAX)


def _row(user, cr: ChangeRequest, pk: int) -> dict:
    row = next(r for r in links.link_list(user=user, cr=cr) if r.id == pk)
    return LinkSerializer(row).data


class LinkListView(ApiView):
    """The CR's links both ways (those whose other CR you can see); POST: add a link."""

    queryset = ChangeRequest.objects.none()  # types the path's `key` in the schema
    serializer_class = LinkSerializer

    @extend_schema(
        operation_id="change_requests_links_list",
        responses={200: LinkSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, key: str):
        cr = selectors.change_request_get(user=request.user, key=key)
        return self.paginated(links.link_list(user=request.user, cr=cr), LinkSerializer)

    @extend_schema(
        operation_id="change_requests_links_create",
        request=LinkCreateSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: LinkSerializer, **errors(400, 403, 404, 409, 422)},
    )
    def post(self, request, key: str):
        cr = selectors.change_request_get(user=request.user, key=key)
        links.require_linker(request.user, cr)
        data = self.get_validated(LinkCreateSerializer)
        link = links.link_create(user=request.user, cr=cr, **data)
        return Response(_row(request.user, cr, link.pk), status=status.HTTP_201_CREATED)


class LinkDetailView(ApiView):
    """DELETE: remove the link (it stays in the audit log)."""

    queryset = ChangeRequest.objects.none()

    @extend_schema(
        operation_id="change_requests_links_destroy",
        parameters=[LINK_ID_PARAM, IDEMPOTENCY_PARAM],
        responses={204: None, **errors(403, 404)},
    )
    def delete(self, request, key: str, id: int):
        cr = selectors.change_request_get(user=request.user, key=key)
        link = links.link_get(user=request.user, cr=cr, pk=id)
        links.link_delete(user=request.user, link=link)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MarkDuplicateView(ApiView):
    """Mark the CR a duplicate of another: linked ``duplicates`` and withdrawn, at once."""

    queryset = ChangeRequest.objects.none()

    @extend_schema(
        operation_id="change_requests_mark_duplicate",
        request=MarkDuplicateSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={200: ChangeRequestSerializer, **errors(400, 403, 404, 409, 422)},
    )
    def post(self, request, key: str):
        from .api import _detail

        cr = selectors.change_request_get(user=request.user, key=key)
        links.require_marker(request.user, cr)
        data = self.get_validated(MarkDuplicateSerializer)
        links.mark_duplicate(user=request.user, cr=cr, **data)
        return _detail(selectors.change_request_get(user=request.user, key=key), request.user)
