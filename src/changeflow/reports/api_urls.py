"""REST routes of process review: metrics, review reports, improvement actions."""

from django.urls import path

from . import api

IA = "projects/<str:key>/improvement-actions/"

urlpatterns = [
    path("projects/<str:key>/metrics/", api.MetricsView.as_view(), name="api-reports-metrics"),
    path(IA, api.ImprovementListView.as_view(), name="api-improvement-list"),
    path(IA + "<str:akey>/", api.ImprovementDetailView.as_view(), name="api-improvement-detail"),
    path(
        IA + "<str:akey>/transitions/",
        api.ImprovementTransitionView.as_view(),
        name="api-improvement-transitions",
    ),  # fmt: skip
]
