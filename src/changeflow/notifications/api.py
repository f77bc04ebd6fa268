"""API endpoints: the inbox, preferences, watching a CR, and a project's webhooks.

Webhooks are project settings: its managers (and site admins) manage them; other members get
403, outsiders 404.
"""

from __future__ import annotations

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from changeflow.accounts.models import Project
from changeflow.changes import selectors as change_selectors
from changeflow.changes.models import ChangeRequest
from changeflow.core.api_views import IDEMPOTENCY_PARAM, ApiView, errors, query_flag

from . import selectors, services
from .models import Notification
from .serializers import (
    MarkReadResultSerializer,
    MarkReadSerializer,
    NotificationSerializer,
    PreferencesSerializer,
    WatchSerializer,
    WebhookDeliverySerializer,
    WebhookSerializer,
    WebhookWriteSerializer,
)

ID_PARAM = OpenApiParameter("id", int, OpenApiParameter.PATH)
UNREAD_PARAM = OpenApiParameter(
    "unread", OpenApiTypes.BOOL, required=False,
    description=gettext_lazy("Only unread notifications."),
)  # fmt: skip


class NotificationListView(ApiView):
    """Your in-app notifications, newest first."""

    queryset = Notification.objects.none()
    serializer_class = NotificationSerializer

    @extend_schema(
        operation_id="notifications_list",
        parameters=[UNREAD_PARAM],
        responses={200: NotificationSerializer(many=True), **errors(400)},
    )
    def get(self, request):
        unread = query_flag(request, "unread")
        return self.paginated(selectors.inbox(user=request.user, unread_only=unread),
                              NotificationSerializer)  # fmt: skip


class NotificationReadView(ApiView):
    """Mark some (``ids``) or all (``all``) of your notifications read."""

    @extend_schema(
        operation_id="notifications_mark_read",
        request=MarkReadSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={200: MarkReadResultSerializer, **errors(400)},
    )
    def post(self, request):
        data = self.get_validated(MarkReadSerializer)
        ids = None if data.get("all") else data["ids"]
        marked = services.mark_read(user=request.user, ids=ids)
        return Response({"marked": marked, "unread": selectors.unread_count(request.user)})


class PreferencesView(ApiView):
    """Your channel per kind of event, and the language of your e-mails."""

    serializer_class = PreferencesSerializer

    def _body(self, user):
        return {"channels": selectors.preferences(user), "language": services.language_of(user)}

    @extend_schema(operation_id="notification_preferences_retrieve",
                   responses={200: PreferencesSerializer, **errors()})  # fmt: skip
    def get(self, request):
        return Response(self._body(request.user))

    @extend_schema(
        operation_id="notification_preferences_update",
        request=PreferencesSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={200: PreferencesSerializer, **errors(400)},
    )
    def put(self, request):
        data = self.get_validated(PreferencesSerializer)
        services.preferences_set(
            user=request.user, channels=dict(data["channels"]), language=data.get("language")
        )
        return Response(self._body(request.user))


class WatchView(ApiView):
    """Whether you watch the CR: watchers hear of its state changes, assessments, comments
    and decisions."""

    queryset = ChangeRequest.objects.none()
    serializer_class = WatchSerializer

    @extend_schema(operation_id="change_requests_watch_retrieve",
                   responses={200: WatchSerializer, **errors(404)})  # fmt: skip
    def get(self, request, key: str):
        cr = change_selectors.change_request_get(user=request.user, key=key)
        return Response({"watching": selectors.is_watching(user=request.user, cr=cr)})

    @extend_schema(operation_id="change_requests_watch_create", request=None,
                   parameters=[IDEMPOTENCY_PARAM],
                   responses={200: WatchSerializer, **errors(404)})  # fmt: skip
    def post(self, request, key: str):
        cr = change_selectors.change_request_get(user=request.user, key=key)
        return Response({"watching": services.watch_set(user=request.user, cr=cr, watching=True)})

    @extend_schema(operation_id="change_requests_watch_destroy",
                   responses={200: WatchSerializer, **errors(404)})  # fmt: skip
    def delete(self, request, key: str):
        cr = change_selectors.change_request_get(user=request.user, key=key)
        services.watch_set(user=request.user, cr=cr, watching=False)
        return Response({"watching": False})


class WebhookListView(ApiView):
    """A project's webhooks (its managers only)."""

    queryset = Project.objects.none()
    serializer_class = WebhookSerializer

    @extend_schema(
        operation_id="project_webhooks_list",
        responses={200: WebhookSerializer(many=True), **errors(400, 403, 404)},
    )
    def get(self, request, key: str):
        project = selectors.webhook_project(user=request.user, key=key)
        return self.paginated(selectors.webhook_list(user=request.user, project=project),
                              WebhookSerializer)  # fmt: skip

    @extend_schema(
        operation_id="project_webhooks_create",
        request=WebhookWriteSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: WebhookSerializer, **errors(400, 403, 404, 422)},
        description=format_lazy(
            "{}\n\n{}",
            gettext_lazy(
                "A URL that is not http(s), or that points at this server or (unless allowed by "
                "the administrator) a loopback or private address, is refused with 422 "
                "`unsafe_url`; it is checked again before every call."
            ),
            gettext_lazy(
                "Every request carries `Idempotency-Key` and `X-Changeflow-Delivery` (the same on "
                "every retry of one delivery: drop repeats). `generic` also sends "
                "`X-Changeflow-Event`, `X-Changeflow-Timestamp` (Unix seconds) and, with a secret, "
                '`X-Changeflow-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">`; '
                "refuse timestamps more than 5 minutes old. `dingtalk` signs with `timestamp` and "
                "`sign` query parameters, `feishu` with `timestamp` and `sign` in the body, as "
                "those platforms document; `wecom` and `slack` are not signed."
            ),
        ),
    )
    def post(self, request, key: str):
        project = selectors.webhook_project(user=request.user, key=key)
        data = self.get_validated(WebhookWriteSerializer)
        hook = services.webhook_create(user=request.user, project=project, data=dict(data))
        return Response(WebhookSerializer(hook).data, status=status.HTTP_201_CREATED)


class _WebhookView(ApiView):
    queryset = Project.objects.none()  # types the path's `key` in the schema
    serializer_class = WebhookSerializer

    def _hook(self, request, key, id):
        project = selectors.webhook_project(user=request.user, key=key)
        return selectors.webhook_get(user=request.user, project=project, pk=id)


class WebhookDetailView(_WebhookView):
    """One webhook of the project: read, change (a new ``secret`` replaces the old), delete."""

    @extend_schema(operation_id="project_webhooks_retrieve", parameters=[ID_PARAM],
                   responses={200: WebhookSerializer, **errors(403, 404)})  # fmt: skip
    def get(self, request, key: str, id: int):
        return Response(WebhookSerializer(self._hook(request, key, id)).data)

    @extend_schema(
        operation_id="project_webhooks_partial_update",
        request=WebhookWriteSerializer(partial=True),
        parameters=[ID_PARAM, IDEMPOTENCY_PARAM],
        responses={200: WebhookSerializer, **errors(400, 403, 404, 422)},
    )
    def patch(self, request, key: str, id: int):
        hook = self._hook(request, key, id)
        data = self.get_validated(WebhookWriteSerializer, partial=True)
        hook = services.webhook_update(user=request.user, hook=hook, data=dict(data))
        return Response(WebhookSerializer(hook).data)

    @extend_schema(operation_id="project_webhooks_destroy",
                   parameters=[ID_PARAM, IDEMPOTENCY_PARAM],
                   responses={204: None, **errors(403, 404)})  # fmt: skip
    def delete(self, request, key: str, id: int):
        services.webhook_delete(user=request.user, hook=self._hook(request, key, id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookTestView(_WebhookView):
    """Send a test message to the webhook now; the outcome is in its delivery log."""

    @extend_schema(operation_id="project_webhooks_test", request=None,
                   parameters=[ID_PARAM, IDEMPOTENCY_PARAM],
                   responses={202: WebhookDeliverySerializer, **errors(403, 404)})  # fmt: skip
    def post(self, request, key: str, id: int):
        delivery = services.webhook_test(user=request.user, hook=self._hook(request, key, id))
        delivery.refresh_from_db()
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveryListView(_WebhookView):
    """The webhook's delivery log, newest first: request, answer, duration, attempts, error."""

    @extend_schema(operation_id="project_webhooks_deliveries_list", parameters=[ID_PARAM],
                   responses={200: WebhookDeliverySerializer(many=True),
                              **errors(400, 403, 404)})  # fmt: skip
    def get(self, request, key: str, id: int):
        hook = self._hook(request, key, id)
        return self.paginated(selectors.delivery_list(webhook=hook), WebhookDeliverySerializer)
