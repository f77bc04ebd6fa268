"""REST routes of process review: metrics, review reports, improvement actions."""

from django.urls import path

from . import api

IA = "projects/<str:key>/improvement-actions/"
RR = "projects/<str:key>/review-reports/"

urlpatterns = [
    path("projects/<str:key>/metrics/", api.MetricsView.as_view(), name="api-reports-metrics"),
    path(IA, api.ImprovementListView.as_view(), name="api-improvement-list"),
    path(IA + "<str:akey>/", api.ImprovementDetailView.as_view(), name="api-improvement-detail"),
    path(
        IA + "<str:akey>/transitions/",
        api.ImprovementTransitionView.as_view(),
        name="api-improvement-transitions",
    ),  # fmt: skip
    path(RR, api.ReviewReportListView.as_view(), name="api-review-report-list"),
    path(
        RR + "<int:number>/",
        api.ReviewReportDetailView.as_view(),
        name="api-review-report-detail",
    ),  # fmt: skip
    path(
        RR + "<int:number>/html", api.ReviewReportHtmlView.as_view(), name="api-review-report-html"
    ),
    path(RR + "<int:number>/pdf", api.ReviewReportPdfView.as_view(), name="api-review-report-pdf"),
    path(
        "projects/<str:key>/review-schedule/",
        api.ReviewScheduleView.as_view(),
        name="api-review-schedule",
    ),  # fmt: skip
]
