"""API routes of the case library and outcome ratings (included from ``changeflow.api_urls``)."""

from django.urls import path

from . import api

CR = "change-requests/<str:key>/"

urlpatterns = [
    path("projects/<str:key>/cases/", api.CaseListView.as_view(), name="api-case-list"),
    path(CR + "case/", api.CaseView.as_view(), name="api-cr-case"),
    path(CR + "ratings/", api.RatingListView.as_view(), name="api-cr-ratings"),
]
