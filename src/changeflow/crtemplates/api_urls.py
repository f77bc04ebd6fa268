"""REST routes of CR form templates."""

from django.urls import path

from . import api

P = "projects/<str:key>/cr-templates/"

urlpatterns = [
    path(P, api.CRTemplateListView.as_view(), name="api-crtemplate-list"),
    path(P + "<int:id>/", api.CRTemplateDetailView.as_view(), name="api-crtemplate-detail"),
]
