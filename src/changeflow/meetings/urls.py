"""Pages of meetings (included from ``changeflow.web_urls``)."""

from django.urls import path

from . import views

M = "projects/<str:key>/meetings/<int:id>/"
OCC = M + "<str:occ>/"

urlpatterns = [
    path("projects/<str:key>/meetings/", views.meeting_list, name="meeting-list"),
    path("projects/<str:key>/meetings/new/", views.meeting_create, name="meeting-create"),
    path("projects/<str:key>/calendar/", views.project_calendar, name="project-calendar"),
    path(M, views.meeting_detail, name="meeting-detail"),
    path(M + "edit/", views.meeting_edit, name="meeting-edit"),
    path(M + "calendar.ics", views.meeting_ics, name="meeting-ics"),
    path(OCC, views.occurrence_detail, name="meeting-occurrence"),
    path(OCC + "do/", views.occurrence_post, name="meeting-occurrence-post"),
    path(OCC + "minutes.<str:fmt>", views.minutes_export, name="meeting-minutes"),
    path("account/calendar/", views.calendar_feed, name="calendar-feed-settings"),
    path("calendar/feed/<str:token>.ics", views.feed, name="calendar-feed"),
    path("calendar/feed/<str:token>/<str:key>.ics", views.project_feed, name="project-feed"),
]
