"""REST API of change orders (``/api/v1/projects/{key}/change-orders/...``).

Thin: the project through ``accounts.selectors`` and the order through ``orders.selectors``
(outsiders 404; customer roles see issued orders only), the role through the services'
``require_*`` before the body is read, one service, render. Edits of a draft and its issue
honour ``If-Match`` (stale: 412) and ``version`` in the body (stale: 409).
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status

from changeflow.accounts import selectors as account_selectors
from changeflow.changes import selectors as cr_selectors
from changeflow.core.api_views import (
    IDEMPOTENCY_PARAM,
    IF_MATCH_PARAM,
    ApiView,
    errors,
    etag_header,
    expected_version,
    versioned,
)
from changeflow.core.errors import NotFound, ValidationError
from changeflow.core.middleware import client_ip

from . import documents, selectors, services
from .models import ChangeOrder, OrderState
from .serializers import (
    ChangeOrderCreateSerializer,
    ChangeOrderDetailSerializer,
    ChangeOrderSerializer,
    ChangeOrderUpdateSerializer,
    DeclineSerializer,
    IssueSerializer,
    ReasonSerializer,
    SignSerializer,
)

NUMBER = OpenApiParameter(
    "number", int, OpenApiParameter.PATH, description=gettext_lazy("The order's number (CO<n>).")
)
REVISION = OpenApiParameter(
    "revision", int, OpenApiParameter.QUERY, required=False,
    description=gettext_lazy("A revision (default: the latest you may see)."),
)  # fmt: skip
STATE = OpenApiParameter(
    "state", str, OpenApiParameter.QUERY, required=False, enum=OrderState.values,
    description=gettext_lazy("Only orders in this state."),
)  # fmt: skip
ETAG_HEADER = etag_header(gettext_lazy('The order\'s version, e.g. "3"; send it back in If-Match.'))


def _revision(request) -> int | None:
    raw = request.query_params.get("revision", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 32768:
        raise ValidationError(
            _("Some fields are invalid."), fields={"revision": [_("A revision number.")]}
        )
    return int(raw)


def _order(request, key: str, number: int, revision: int | None = None) -> ChangeOrder:
    project = account_selectors.project_get(user=request.user, key=key)
    return selectors.order_get(user=request.user, project=project, number=number, revision=revision)


def _detail(request, order: ChangeOrder, code: int = status.HTTP_200_OK):
    context = {
        "revisions": selectors.revisions_of(user=request.user, order=order),
        "available_actions": services.available_actions(user=request.user, order=order),
    }
    fresh = _order(request, order.project.key, order.number, order.revision)
    return versioned(ChangeOrderDetailSerializer(fresh, context=context).data, fresh.version, code)


def _expected(request, order: ChangeOrder, data: dict) -> int | None:
    header = expected_version(
        request, order.version,
        _("The change order was changed since you read it (If-Match does not match)."),
    )  # fmt: skip
    body = data.pop("version", None)
    return body if body is not None else header


class OrderListView(ApiView):
    """A project's change orders, newest first (customer roles: issued ones); create one for a
    CR (project managers): its price and schedule are prefilled from the CR's assessment."""

    queryset = ChangeOrder.objects.none()

    @extend_schema(
        operation_id="project_change_orders_list",
        parameters=[STATE],
        responses={200: ChangeOrderSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        state = request.query_params.get("state") or None
        if state is not None and state not in OrderState.values:
            raise ValidationError(
                _("Some fields are invalid."),
                fields={"state": [_("One of: %s") % ", ".join(OrderState.values)]},
            )
        qs = selectors.order_list(user=request.user, project=project, state=state).select_related(
            "issued_by", "signed_by", "declined_by"
        )
        return self.paginated(qs, ChangeOrderSerializer)

    @extend_schema(
        operation_id="project_change_orders_create",
        request=ChangeOrderCreateSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: ChangeOrderDetailSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        services.require_manager(request.user, project)
        data = dict(self.get_validated(ChangeOrderCreateSerializer))
        cr_key = data.pop("change_request")
        try:
            cr = cr_selectors.change_request_get(user=request.user, key=cr_key)
        except NotFound:
            cr = None
        if cr is None or cr.project_id != project.pk:
            raise ValidationError(
                _("Some fields are invalid."),
                fields={"change_request": [_("No such change request in this project.")]},
            )
        order = services.change_order_create(user=request.user, cr=cr, data=data)
        return _detail(request, order, status.HTTP_201_CREATED)


class OrderDetailView(ApiView):
    """One change order (its latest revision, or ``?revision=``), ETag = its version; PATCH
    edits a draft (If-Match / ``version``)."""

    queryset = ChangeOrder.objects.none()

    @extend_schema(
        operation_id="project_change_orders_retrieve",
        parameters=[NUMBER, REVISION, ETAG_HEADER],
        responses={200: ChangeOrderDetailSerializer, **errors(400, 404)},
    )
    def get(self, request, key: str, number: int):
        return _detail(request, _order(request, key, number, _revision(request)))

    @extend_schema(
        operation_id="project_change_orders_partial_update",
        request=ChangeOrderUpdateSerializer,
        parameters=[NUMBER, IDEMPOTENCY_PARAM, IF_MATCH_PARAM, ETAG_HEADER],
        responses={200: ChangeOrderDetailSerializer, **errors(400, 403, 404, 409, 412)},
    )
    def patch(self, request, key: str, number: int):
        order = _order(request, key, number)
        services.require_manager(request.user, order.project)
        data = dict(self.get_validated(ChangeOrderUpdateSerializer, partial=True))
        expected = _expected(request, order, data)
        order = services.change_order_update(
            user=request.user, order=order, data=data, expected_version=expected
        )
        return _detail(request, order)


class OrderIssueView(ApiView):
    """Issue a draft: its HTML and PDF are rendered once (in your language) and the customer's
    people are told. The CR must be in review, approved, implementing or verifying (422)."""

    queryset = ChangeOrder.objects.none()

    @extend_schema(
        operation_id="project_change_orders_issue",
        request=IssueSerializer,
        parameters=[NUMBER, IDEMPOTENCY_PARAM, IF_MATCH_PARAM, ETAG_HEADER],
        responses={200: ChangeOrderDetailSerializer, **errors(400, 403, 404, 409, 412, 422)},
    )
    def post(self, request, key: str, number: int):
        order = _order(request, key, number)
        services.require_manager(request.user, order.project)
        data = dict(self.get_validated(IssueSerializer))
        expected = _expected(request, order, data)
        order = services.change_order_issue(
            user=request.user, order=order, expected_version=expected
        )
        return _detail(request, order)


class OrderReviseView(ApiView):
    """A new revision (a draft) of an issued or declined order, which it supersedes."""

    queryset = ChangeOrder.objects.none()

    @extend_schema(
        operation_id="project_change_orders_revise",
        request=None,
        parameters=[NUMBER, IDEMPOTENCY_PARAM],
        responses={201: ChangeOrderDetailSerializer, **errors(403, 404, 409)},
    )
    def post(self, request, key: str, number: int):
        order = _order(request, key, number)
        services.require_manager(request.user, order.project)
        new = services.change_order_revise(user=request.user, order=order)
        return _detail(request, new, status.HTTP_201_CREATED)


class OrderWithdrawView(ApiView):
    """Withdraw a draft, issued or declined order (a signed one stays)."""

    queryset = ChangeOrder.objects.none()

    @extend_schema(
        operation_id="project_change_orders_withdraw",
        request=ReasonSerializer,
        parameters=[NUMBER, IDEMPOTENCY_PARAM],
        responses={200: ChangeOrderDetailSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request, key: str, number: int):
        order = _order(request, key, number)
        services.require_manager(request.user, order.project)
        data = self.get_validated(ReasonSerializer)
        order = services.change_order_withdraw(
            user=request.user, order=order, reason=data.get("reason", "")
        )
        return _detail(request, order)


class OrderSignView(ApiView):
    """Sign an issued order (customer roles): your password re-entered (wrong: 403, nothing
    recorded) and your name; the signature keeps the statement and the PDF's SHA-256."""

    queryset = ChangeOrder.objects.none()

    @extend_schema(
        operation_id="project_change_orders_sign",
        request=SignSerializer,
        parameters=[NUMBER, IDEMPOTENCY_PARAM],
        responses={200: ChangeOrderDetailSerializer, **errors(400, 403, 404, 409, 422, 429)},
    )
    def post(self, request, key: str, number: int):
        order = _order(request, key, number)
        services.require_customer(request.user, order.project)
        data = self.get_validated(SignSerializer)
        order = services.change_order_sign(
            user=request.user, order=order, password=data["password"],
            signer_name=data["signer_name"], ip=client_ip(request),
        )  # fmt: skip
        return _detail(request, order)


class OrderDeclineView(ApiView):
    """Decline an issued order, saying why (customer roles)."""

    queryset = ChangeOrder.objects.none()

    @extend_schema(
        operation_id="project_change_orders_decline",
        request=DeclineSerializer,
        parameters=[NUMBER, IDEMPOTENCY_PARAM],
        responses={200: ChangeOrderDetailSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request, key: str, number: int):
        order = _order(request, key, number)
        services.require_customer(request.user, order.project)
        data = self.get_validated(DeclineSerializer)
        order = services.change_order_decline(user=request.user, order=order, reason=data["reason"])
        return _detail(request, order)


class _FileView(ApiView):
    queryset = ChangeOrder.objects.none()
    fmt = "html"

    def get(self, request, key: str, number: int):
        order = _order(request, key, number, _revision(request))
        if self.fmt == "certificate":
            if order.signed_at is None:
                raise NotFound(_("This change order is not signed."))
            return selectors.file_response(
                order, "pdf", documents.certificate_pdf(order), "-signature"
            )
        return selectors.file_response(order, self.fmt, selectors.order_file(order, self.fmt))


@extend_schema_view(
    get=extend_schema(
        operation_id="project_change_orders_html",
        parameters=[NUMBER, REVISION],
        responses={(200, "text/html"): OpenApiResponse(OpenApiTypes.STR), **errors(400, 404, 409)},
        description=gettext_lazy("The order's standalone HTML file, as issued."),
    )
)
class OrderHtmlView(_FileView):
    fmt = "html"


@extend_schema_view(
    get=extend_schema(
        operation_id="project_change_orders_pdf",
        parameters=[NUMBER, REVISION],
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY),
            **errors(400, 404, 409),
        },
        description=gettext_lazy("The order's PDF file, as issued (and as signed)."),
    )
)
class OrderPdfView(_FileView):
    fmt = "pdf"


@extend_schema_view(
    get=extend_schema(
        operation_id="project_change_orders_certificate",
        parameters=[NUMBER, REVISION],
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY),
            **errors(400, 404),
        },
        description=gettext_lazy(
            "The signature certificate of a signed order (PDF): signer, time, address, "
            "statement and the SHA-256 of the PDF signed."
        ),
    )
)
class OrderCertificateView(_FileView):
    fmt = "certificate"
