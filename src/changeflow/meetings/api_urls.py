"""API routes of meetings (included from ``changeflow.api_urls``)."""

from django.urls import path

from . import api

M = "projects/<str:key>/meetings/<int:id>/"
OCC = M + "occurrences/<str:occ>/"

urlpatterns = [
    path("projects/<str:key>/meetings/", api.MeetingListView.as_view(), name="api-meeting-list"),
    path(M, api.MeetingDetailView.as_view(), name="api-meeting-detail"),
    path(M + "calendar.ics", api.MeetingIcsView.as_view(), name="api-meeting-ics"),
    path(M + "occurrences/", api.OccurrenceListView.as_view(), name="api-occurrence-list"),
    path(OCC, api.OccurrenceDetailView.as_view(), name="api-occurrence-detail"),
    path(OCC + "hold/", api.OccurrenceHoldView.as_view(), name="api-occurrence-hold"),
    path(OCC + "close/", api.OccurrenceCloseView.as_view(), name="api-occurrence-close"),
    path(OCC + "cancel/", api.OccurrenceCancelView.as_view(), name="api-occurrence-cancel"),
    path(OCC + "agenda/", api.AgendaListView.as_view(), name="api-agenda-list"),
    path(OCC + "agenda/<int:item>/", api.AgendaItemView.as_view(), name="api-agenda-item"),
    path(OCC + "attendance/", api.AttendanceView.as_view(), name="api-attendance"),
    path(OCC + "votes/", api.VoteView.as_view(), name="api-meeting-votes"),
    path(OCC + "actions/", api.ActionListView.as_view(), name="api-action-list"),
    path(OCC + "actions/<int:action>/", api.ActionDetailView.as_view(), name="api-action-detail"),
    path(OCC + "minutes.md", api.MinutesMarkdownView.as_view(), name="api-minutes-md"),
    path(OCC + "minutes.pdf", api.MinutesPdfView.as_view(), name="api-minutes-pdf"),
    path("projects/<str:key>/calendar/", api.ProjectCalendarView.as_view(), name="api-calendar"),
    path("me/calendar-feed/", api.CalendarFeedView.as_view(), name="api-calendar-feed"),
]
