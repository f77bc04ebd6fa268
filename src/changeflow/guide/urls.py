from django.urls import path

from . import views

urlpatterns = [
    path("guide/", views.index, name="guide"),
    path("guide/<slug:slug>/", views.topic, name="guide-topic"),
]
