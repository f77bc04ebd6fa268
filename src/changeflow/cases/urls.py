"""Pages of the case library and outcome ratings (included from ``changeflow.web_urls``)."""

from django.urls import path

from . import views

urlpatterns = [
    path("cases/", views.case_library, name="case-library"),
    path("cases/compare/", views.case_compare, name="case-compare"),
    path("projects/<str:key>/cases/", views.case_library, name="case-list"),
    path("changes/<str:key>/case/", views.case_edit, name="case-edit"),
    path("changes/<str:key>/rating/", views.cr_rate, name="cr-rating"),
]
