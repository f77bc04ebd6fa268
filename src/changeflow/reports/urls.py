"""Web pages of process review: metrics, review reports, improvement actions."""

from django.urls import path

from . import views

IA = "projects/<str:key>/improvements/"
RR = "projects/<str:key>/reports/"

urlpatterns = [
    path("projects/<str:key>/metrics/", views.metrics_page, name="reports-metrics"),
    path(
        "projects/<str:key>/metrics/chart.<str:fmt>",
        views.metrics_chart,
        name="reports-metrics-chart",
    ),
    path(IA, views.improvement_list, name="improvement-list"),
    path(IA + "new/", views.improvement_create, name="improvement-create"),
    path(IA + "<str:akey>/", views.improvement_detail, name="improvement-detail"),
    path(IA + "<str:akey>/edit/", views.improvement_edit, name="improvement-edit"),
    path(IA + "<str:akey>/progress/", views.improvement_progress, name="improvement-progress"),
    path(
        IA + "<str:akey>/transition/",
        views.improvement_transition,
        name="improvement-transition",
    ),  # fmt: skip
    path(RR, views.review_report_list, name="review-report-list"),
    path(RR + "generate/", views.review_report_generate, name="review-report-generate"),
    path(RR + "settings/", views.review_schedule, name="review-schedule"),
    path(RR + "<int:number>/", views.review_report_detail, name="review-report-detail"),
    path(
        RR + "<int:number>/download.<str:fmt>",
        views.review_report_download,
        name="review-report-download",
    ),  # fmt: skip
]
