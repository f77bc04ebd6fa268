"""Web pages of process templates: a project's process under its settings, and the site-wide
templates."""

from django.urls import path

from . import views

P = "projects/<str:key>/settings/process/"
T = "process-templates/"

urlpatterns = [
    path(P, views.project_process, name="process-settings"),
    path(P + "apply/", views.process_apply, name="process-apply"),
    path(P + "save/", views.process_save, name="process-save"),
    path(T, views.template_list, name="process-template-list"),
    path(T + "new/", views.template_create, name="process-template-create"),
    path(T + "<int:pk>/", views.template_detail, name="process-template-detail"),
    path(T + "<int:pk>/archive/", views.template_archive, name="process-template-archive"),
]
