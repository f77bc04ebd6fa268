"""API routes of notifications and webhooks (included from ``changeflow.api_urls``)."""

from django.urls import path

from . import api

P = "projects/<str:key>/webhooks/"

urlpatterns = [
    path("notifications/", api.NotificationListView.as_view(), name="api-notifications"),
    path("notifications/read/", api.NotificationReadView.as_view(), name="api-notifications-read"),
    path(
        "notifications/preferences/",
        api.PreferencesView.as_view(),
        name="api-notification-preferences",
    ),
    path("change-requests/<str:key>/watch/", api.WatchView.as_view(), name="api-cr-watch"),
    path(P, api.WebhookListView.as_view(), name="api-webhook-list"),
    path(P + "<int:id>/", api.WebhookDetailView.as_view(), name="api-webhook-detail"),
    path(P + "<int:id>/test/", api.WebhookTestView.as_view(), name="api-webhook-test"),
    path(
        P + "<int:id>/deliveries/",
        api.WebhookDeliveryListView.as_view(),
        name="api-webhook-deliveries",
    ),
]
