"""Pages of notifications and webhooks (included from ``changeflow.web_urls``)."""

from django.urls import path

from . import views

urlpatterns = [
    path("notifications/", views.inbox, name="notification-inbox"),
    path("notifications/read/", views.mark_read, name="notification-read"),
    path("notifications/<int:pk>/", views.open_notification, name="notification-open"),
    path("notifications/preferences/", views.preferences, name="notification-preferences"),
    path("changes/<str:key>/watch/", views.watch, name="cr-watch"),
    path("projects/<str:key>/webhooks/", views.webhook_list, name="webhook-list"),
    path("projects/<str:key>/webhooks/<int:pk>/", views.webhook_detail, name="webhook-detail"),
    path("projects/<str:key>/webhooks/<int:pk>/test/", views.webhook_test, name="webhook-test"),
    path(
        "projects/<str:key>/webhooks/<int:pk>/delete/",
        views.webhook_delete,
        name="webhook-delete",
    ),
]
