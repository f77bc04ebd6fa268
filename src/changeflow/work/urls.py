"""The "My work" page (included from ``changeflow.web_urls``)."""

from django.urls import path

from . import views

urlpatterns = [path("my-work/", views.my_work, name="my-work")]
