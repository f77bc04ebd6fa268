"""REST routes of process templates and a project's process."""

from django.urls import path

from . import api

T = "process-templates/"
P = "projects/<str:key>/process/"

urlpatterns = [
    path(T, api.ProcessTemplateListView.as_view(), name="api-process-template-list"),
    path(T + "presets/", api.PresetListView.as_view(), name="api-process-preset-list"),
    path(T + "<int:id>/", api.ProcessTemplateDetailView.as_view(), name="api-process-template"),
    path(P, api.ProjectProcessView.as_view(), name="api-project-process"),
    path(P + "apply", api.ProjectProcessApplyView.as_view(), name="api-project-process-apply"),
]
