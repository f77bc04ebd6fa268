"""REST routes of process review: metrics, review reports, improvement actions."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
