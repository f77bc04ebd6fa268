"""REST API of CR form templates: ``/api/v1/projects/{key}/cr-templates/`` and ``.../{id}/``.

Thin: the project and the template through ``crtemplates.selectors`` (404 for outsiders, and
for archived templates to those who do not manage them), the role through
``services.require_manager`` before the body is read, one service, render. A PATCH honours
``If-Match`` (a stale ETag: 412) and a ``version`` in the body (a stale one: 409).
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status

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

from . import selectors, services
from .models import CRTemplate
from .serializers import (
    CRTemplateCreateSerializer,
    CRTemplateSerializer,
    CRTemplateUpdateSerializer,
)

TEMPLATE_ID = OpenApiParameter(
    "id", int, OpenApiParameter.PATH, description=gettext_lazy("Template id.")
)
ETAG_HEADER = etag_header(
    gettext_lazy('The template\'s version, e.g. "3"; send it back in If-Match.')
)
ARCHIVED_PARAM = OpenApiParameter(
    "archived", OpenApiTypes.BOOL, required=False,
    description=gettext_lazy("true: the archived templates too (project managers only)."),
)  # fmt: skip


def _template(request, key: str, pk: int) -> CRTemplate:
    project = selectors.project_get(user=request.user, key=key)
    return selectors.template_get(user=request.user, project=project, pk=pk)


class CRTemplateListView(ApiView):
    """A project's active CR form templates in their order (every member reads them); create
    one (project managers)."""

    queryset = Project.objects.none()  # types the path's `key` in the schema

    @extend_schema(
        operation_id="project_cr_templates_list",
        parameters=[ARCHIVED_PARAM],
        responses={200: CRTemplateSerializer(many=True), **errors(404)},
    )
    def get(self, request, key: str):
        project = selectors.project_get(user=request.user, key=key)
        archived = query_flag(request, "archived")
        qs = selectors.template_list(user=request.user, project=project, include_archived=archived)
        return self.paginated(qs.select_related("project"), CRTemplateSerializer)

    @extend_schema(
        operation_id="project_cr_templates_create",
        request=CRTemplateCreateSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: CRTemplateSerializer, **errors(400, 403, 404)},
    )
    def post(self, request, key: str):
        project = selectors.project_get(user=request.user, key=key)
        services.require_manager(request.user, project)
        data = dict(self.get_validated(CRTemplateCreateSerializer))
        template = services.template_create(user=request.user, project=project, data=data)
        return versioned(
            CRTemplateSerializer(template).data, template.version, status.HTTP_201_CREATED
        )


class CRTemplateDetailView(ApiView):
    """One template, ETag = its version; PATCH honours If-Match and ``version``."""

    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_cr_templates_retrieve",
        parameters=[TEMPLATE_ID, ETAG_HEADER],
        responses={200: CRTemplateSerializer, **errors(404)},
    )
    def get(self, request, key: str, id: int):  # noqa: A002 - the path's name
        template = _template(request, key, id)
        return versioned(CRTemplateSerializer(template).data, template.version)

    @extend_schema(
        operation_id="project_cr_templates_partial_update",
        request=CRTemplateUpdateSerializer,
        parameters=[TEMPLATE_ID, IDEMPOTENCY_PARAM, IF_MATCH_PARAM, ETAG_HEADER],
        responses={200: CRTemplateSerializer, **errors(400, 403, 404, 409, 412)},
    )
    def patch(self, request, key: str, id: int):  # noqa: A002 - the path's name
        template = _template(request, key, id)
        services.require_manager(request.user, template.project)
        data = dict(self.get_validated(CRTemplateUpdateSerializer, partial=True))
        header = expected_version(
            request, template.version,
            _("The template was changed since you read it (If-Match does not match)."),
        )  # fmt: skip
        body = data.pop("version", None)
        template = services.template_update(
            user=request.user, template=template, data=data,
            expected_version=body if body is not None else header,
        )  # fmt: skip
        return versioned(CRTemplateSerializer(template).data, template.version)
