"""Web pages of CR form templates (under the project settings)."""

from django.urls import path

from . import views

P = "projects/<str:key>/settings/cr-templates/"

urlpatterns = [
    path(P, views.template_list, name="crtemplate-list"),
    path(P + "new/", views.template_create, name="crtemplate-create"),
    path(P + "<int:pk>/", views.template_edit, name="crtemplate-edit"),
    path(P + "<int:pk>/archive/", views.template_archive, name="crtemplate-archive"),
    path(P + "<int:pk>/move/", views.template_move, name="crtemplate-move"),
]
