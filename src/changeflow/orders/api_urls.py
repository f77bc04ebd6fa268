"""REST routes of change orders."""

from django.urls import path

from . import api

CO = "projects/<str:key>/change-orders/"
ONE = CO + "<int:number>/"

urlpatterns = [
    path(CO, api.OrderListView.as_view(), name="api-order-list"),
    path(ONE, api.OrderDetailView.as_view(), name="api-order-detail"),
    path(ONE + "issue", api.OrderIssueView.as_view(), name="api-order-issue"),
    path(ONE + "revise", api.OrderReviseView.as_view(), name="api-order-revise"),
    path(ONE + "withdraw", api.OrderWithdrawView.as_view(), name="api-order-withdraw"),
    path(ONE + "sign", api.OrderSignView.as_view(), name="api-order-sign"),
    path(ONE + "decline", api.OrderDeclineView.as_view(), name="api-order-decline"),
    path(ONE + "html", api.OrderHtmlView.as_view(), name="api-order-html"),
    path(ONE + "pdf", api.OrderPdfView.as_view(), name="api-order-pdf"),
    path(ONE + "certificate", api.OrderCertificateView.as_view(), name="api-order-certificate"),
]
