"""API endpoints of the communication app. Thin: parse, select (404 for outsiders), one
service, render."""

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

from . import selectors, services, sla
from .serializers import (
    CommunicationCreateSerializer,
    CommunicationSerializer,
    MailboxSerializer,
    MailboxStatusSerializer,
    QuarantinedMailSerializer,
    SlaBreachSerializer,
    SlaTargetsSerializer,
    SlaTargetsUpdateSerializer,
)

ID_PARAM = OpenApiParameter("id", int, OpenApiParameter.PATH)


class MailboxView(ApiView):
    """The project's IMAP mailbox, for its managers (the password is never shown back)."""

    queryset = Project.objects.none()
    serializer_class = MailboxSerializer

    @extend_schema(
        operation_id="project_mailbox_retrieve",
        responses={200: MailboxStatusSerializer, **errors(403, 404)},
    )
    def get(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key, action="manage")
        mailbox = selectors.mailbox_get(user=request.user, project=project)
        if mailbox is None:
            raise NotFound(_("The project has no mailbox."))
        return Response(MailboxStatusSerializer(mailbox).data)

    @extend_schema(
        operation_id="project_mailbox_update",
        request=MailboxSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={200: MailboxStatusSerializer, **errors(400, 403, 404)},
    )
    def put(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key, action="manage")
        data = self.get_validated(MailboxSerializer)
        mailbox = services.mailbox_set(user=request.user, project=project, data=dict(data))
        return Response(MailboxStatusSerializer(mailbox).data)


class QuarantineListView(ApiView):
    """Mail of the project that could not be taken in as it is, with the reason."""

    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_quarantine_list",
        parameters=[OpenApiParameter("all", bool, description=_("Include resolved mail."))],
        responses={200: QuarantinedMailSerializer(many=True), **errors(400, 403, 404)},
    )
    def get(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key, action="manage")
        items = selectors.quarantine_list(
            user=request.user, project=project,
            include_resolved=query_flag(request, "all"),
        )  # fmt: skip
        return self.paginated(items, QuarantinedMailSerializer)


class QuarantineResolveView(ApiView):
    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_quarantine_resolve",
        request=None,
        parameters=[ID_PARAM, IDEMPOTENCY_PARAM],
        responses={200: QuarantinedMailSerializer, **errors(403, 404)},
    )
    def post(self, request, key: str, id: int):
        project = account_selectors.project_get(user=request.user, key=key, action="manage")
        item = selectors.quarantine_get(user=request.user, pk=id)
        if item.project_id != project.pk:
            raise NotFound(_("No such quarantined mail."))
        item = services.quarantine_resolve(user=request.user, item=item)
        return Response(QuarantinedMailSerializer(item).data)


class CommunicationListView(ApiView):
    """The project's communication log: members read it; members but viewers add to it."""

    queryset = Project.objects.none()
    serializer_class = CommunicationCreateSerializer

    @extend_schema(
        operation_id="project_communications_list",
        responses={200: CommunicationSerializer(many=True), **errors(404)},
    )
    def get(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        entries = selectors.communication_list(user=request.user, project=project)
        return self.paginated(entries, CommunicationSerializer)

    @extend_schema(
        operation_id="project_communications_create",
        request=CommunicationCreateSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: CommunicationSerializer, **errors(400, 403, 404)},
    )
    def post(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        services.require_logger(request.user, project)
        data = self.get_validated(CommunicationCreateSerializer)
        entry = services.communication_create(user=request.user, project=project, **data)
        return Response(CommunicationSerializer(entry).data, status=status.HTTP_201_CREATED)


class CrCommunicationListView(ApiView):
    """The communication log entries linked to one CR."""

    queryset = ChangeRequest.objects.none()

    @extend_schema(
        operation_id="change_requests_communications_list",
        responses={200: CommunicationSerializer(many=True), **errors(404)},
    )
    def get(self, request, key: str):
        cr = change_selectors.change_request_get(user=request.user, key=key)
        entries = selectors.communications_for_cr(user=request.user, cr=cr)
        return self.paginated(entries.prefetch_related("change_requests"), CommunicationSerializer)


class SlaView(ApiView):
    """The project's service-level targets (hours per stage and priority)."""

    queryset = Project.objects.none()
    serializer_class = SlaTargetsUpdateSerializer

    @extend_schema(
        operation_id="project_sla_retrieve", responses={200: SlaTargetsSerializer, **errors(404)}
    )
    def get(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        return Response({"targets": sla.targets(project)})

    @extend_schema(
        operation_id="project_sla_update",
        request=SlaTargetsUpdateSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={200: SlaTargetsSerializer, **errors(400, 403, 404)},
    )
    def put(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key, action="manage")
        data = self.get_validated(SlaTargetsUpdateSerializer)
        table = sla.sla_targets_set(
            user=request.user, project=project, rows=[dict(r) for r in data["targets"]]
        )
        return Response({"targets": table})


class SlaBreachListView(ApiView):
    """The project's SLA breaches, newest first (``current``: still in that stage)."""

    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_sla_breaches_list",
        responses={200: SlaBreachSerializer(many=True), **errors(404)},
    )
    def get(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        return self.paginated(
            sla.breach_list(user=request.user, project=project), SlaBreachSerializer
        )
