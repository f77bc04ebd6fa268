"""Pages of the impact app (included from ``changeflow.web_urls``)."""

from django.urls import path

from . import views

urlpatterns = [
    path("changes/<str:key>/estimates/", views.estimate_submit, name="cr-estimate"),
    path("changes/<str:key>/estimates/close-round/", views.round_close, name="cr-round-close"),
    path("projects/<str:key>/similar/", views.intake_similar, name="project-similar"),
    path("projects/<str:key>/calibration/", views.calibration, name="project-calibration"),
]
