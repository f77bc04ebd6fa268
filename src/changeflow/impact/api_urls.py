"""API routes of the impact app (included from ``changeflow.api_urls``)."""

from django.urls import path

from . import api

CR = "change-requests/<str:key>/"

urlpatterns = [
    path(CR + "estimates/", api.EstimateListView.as_view(), name="api-cr-estimates"),
    path(
        CR + "estimates/close-round/",
        api.RoundCloseView.as_view(),
        name="api-cr-estimates-close-round",
    ),
    path(CR + "analogy/", api.AnalogyView.as_view(), name="api-cr-analogy"),
    path(CR + "similar/", api.SimilarView.as_view(), name="api-cr-similar"),
    path(
        "projects/<str:key>/similar/", api.ProjectSimilarView.as_view(), name="api-project-similar"
    ),
    path("estimation/backtest/", api.BacktestView.as_view(), name="api-estimation-backtest"),
    path(
        "projects/<str:key>/calibration/",
        api.CalibrationView.as_view(),
        name="api-project-calibration",
    ),
]
