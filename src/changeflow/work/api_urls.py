"""REST route of "My work" (included from ``changeflow.api_urls``)."""

from django.urls import path

from . import api

urlpatterns = [path("me/work/", api.MyWorkView.as_view(), name="api-my-work")]
