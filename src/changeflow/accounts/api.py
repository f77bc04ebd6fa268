"""API endpoints: token, the caller, projects and members. Thin: parse, select, one service."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from changeflow.core import ratelimit
from changeflow.core.access import remember_roles
from changeflow.core.api_views import IDEMPOTENCY_PARAM, ApiView, errors
from changeflow.core.errors import DirectoryUnavailable, ValidationError
from changeflow.core.middleware import client_ip

from . import directory, selectors, services
from .backends import refusal
from .models import Project
from .serializers import (
    MemberSerializer,
    MemberWriteSerializer,
    MeSerializer,
    ProjectCreateSerializer,
    ProjectSerializer,
    ProjectUpdateSerializer,
    TokenRequestSerializer,
    TokenSerializer,
)


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """Describe ``Authorization: Token <token>`` in the OpenAPI schema."""

    target_class = "changeflow.accounts.auth.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": _('"Token <token>", from POST /api/v1/auth/token/.'),
        }


class TokenView(ApiView):
    """Exchange a username and password for a new API token (rate limited like sign-in)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    idempotent = False  # the answer is a secret: never stored

    @extend_schema(
        operation_id="auth_token_create",
        request=TokenRequestSerializer,
        responses={200: TokenSerializer, **errors(400, 429, 503)},
        auth=[],
    )
    def post(self, request):
        data = self.get_validated(TokenRequestSerializer)
        username, ip = data["username"], client_ip(request)
        ratelimit.check(username, ip)
        user = authenticate(request, username=username, password=data["password"])
        if user is None and refusal(request) == directory.Unavailable.reason:
            raise DirectoryUnavailable(directory.unavailable_message())
        if user is None:
            ratelimit.failed(username, ip)
            raise ValidationError(
                _("Wrong username or password."),
                code="invalid_credentials",
                fields={"password": [_("Wrong username or password.")]},
            )
        ratelimit.succeeded(username, ip)
        token = services.token_create(user=user, name="api")
        return Response({"token": token})


class MeView(ApiView):
    """Who am I, and my role in each project."""

    @extend_schema(operation_id="me_retrieve", responses={200: MeSerializer, **errors()})
    def get(self, request):
        user = request.user
        user._prefetched_objects_cache = {"memberships": selectors.my_memberships(user=user)}
        return Response(MeSerializer(user).data)


class ProjectListView(ApiView):
    """Projects you are a member of (site admins: all); site admins create projects."""

    queryset = Project.objects.none()  # types the path's `key` in the schema

    serializer_class = ProjectSerializer

    @extend_schema(
        operation_id="projects_list",
        responses={200: ProjectSerializer(many=True), **errors()},
    )
    def get(self, request):
        qs = selectors.project_list(user=request.user).order_by("key")
        remember_roles(request.user)  # what each project shows them, in one query
        return self.paginated(qs, ProjectSerializer)

    @extend_schema(
        operation_id="projects_create",
        request=ProjectCreateSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: ProjectSerializer, **errors(400, 403, 404)},
    )
    def post(self, request):
        from changeflow.processes import services as processes

        data = dict(self.get_validated(ProjectCreateSerializer))
        template, preset = data.pop("process_template", None), data.pop("process_preset", None)
        # With a process template or preset, it is applied in the same transaction.
        project, _result = processes.project_create(
            user=request.user, template=template, preset=preset, **data
        )
        body = ProjectSerializer(project, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)


class ProjectDetailView(ApiView):
    """One project; its managers (and site admins) change its settings and thresholds."""

    queryset = Project.objects.none()  # types the path's `key` in the schema

    serializer_class = ProjectSerializer

    @extend_schema(
        operation_id="projects_retrieve", responses={200: ProjectSerializer, **errors(404)}
    )
    def get(self, request, key: str):
        project = selectors.project_get(user=request.user, key=key)
        return Response(ProjectSerializer(project, context=self.get_serializer_context()).data)

    @extend_schema(
        operation_id="projects_partial_update",
        request=ProjectUpdateSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={200: ProjectSerializer, **errors(400, 403, 404)},
    )
    def patch(self, request, key: str):
        project = selectors.project_get(user=request.user, key=key, action="manage")
        data = self.get_validated(ProjectUpdateSerializer)
        project = services.project_update(user=request.user, project=project, data=dict(data))
        return Response(ProjectSerializer(project, context=self.get_serializer_context()).data)


class MemberListView(ApiView):
    """A project's members (every member sees them); managers add members or change roles."""

    queryset = Project.objects.none()  # types the path's `key` in the schema

    serializer_class = MemberSerializer

    @extend_schema(
        operation_id="project_members_list",
        responses={200: MemberSerializer(many=True), **errors(404)},
    )
    def get(self, request, key: str):
        project = selectors.project_get(user=request.user, key=key)
        return self.paginated(selectors.member_list(user=request.user, project=project),
                              MemberSerializer)  # fmt: skip

    @extend_schema(
        operation_id="project_members_set",
        request=MemberWriteSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={
            201: OpenApiResponse(MemberSerializer, description=gettext_lazy("Added.")),
            200: OpenApiResponse(MemberSerializer, description=gettext_lazy("Role changed.")),
            **errors(400, 403, 404, 422),
        },
    )
    def post(self, request, key: str):
        project = selectors.project_get(user=request.user, key=key, action="manage")
        data = self.get_validated(MemberWriteSerializer)
        existed = selectors.member_list(user=request.user, project=project).filter(
            user__username=data["username"]
        )
        created = not existed.exists()
        membership = services.membership_set(user=request.user, project=project, **data)
        return Response(
            MemberSerializer(membership).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class MemberDetailView(ApiView):
    queryset = Project.objects.none()  # types the path's `key` in the schema

    @extend_schema(
        operation_id="project_members_destroy",
        parameters=[
            IDEMPOTENCY_PARAM,
            OpenApiParameter("username", str, OpenApiParameter.PATH),
        ],
        responses={204: None, **errors(403, 404, 422)},
    )
    def delete(self, request, key: str, username: str):
        project = selectors.project_get(user=request.user, key=key, action="manage")
        services.membership_remove(user=request.user, project=project, username=username)
        return Response(status=status.HTTP_204_NO_CONTENT)
