"""API of meetings: ``/api/v1/projects/{key}/meetings/...`` and the calendar feed URL.

Thin: fetch through selectors (404 for what the caller may not see), call one service, render.
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from changeflow.accounts import selectors as account_selectors
from changeflow.accounts.models import Project
from changeflow.changes import services as change_services
from changeflow.core.access import sees_internal
from changeflow.core.api_views import IDEMPOTENCY_PARAM, ApiView, errors
from changeflow.core.errors import NotFound, ValidationError
from changeflow.core.middleware import client_ip
from changeflow.core.validation import in_utc

from . import exports, recurrence, selectors, services
from .models import ActionItem, AgendaItem, Kind, Meeting, Occurrence
from .serializers import (
    ActionItemCreateSerializer,
    ActionItemSerializer,
    ActionItemUpdateSerializer,
    AgendaItemCreateSerializer,
    AttendanceWriteSerializer,
    CalendarEntrySerializer,
    CalendarFeedSerializer,
    DecisionSerializer,
    HoldSerializer,
    MeetingCreateSerializer,
    MeetingSerializer,
    MeetingVoteSerializer,
    MeetingWriteSerializer,
    OccurrenceSerializer,
    OccurrenceUpdateSerializer,
    occurrence_brief,
)

ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Meeting id.")
OCC = OpenApiParameter(
    "occ", str, OpenApiParameter.PATH, description="Occurrence key: its start in UTC."
)
KIND = OpenApiParameter("kind", str, OpenApiParameter.QUERY, enum=Kind.values, required=False)


def _meeting(request, key: str, id: int) -> Meeting:
    project = account_selectors.project_get(user=request.user, key=key)
    return selectors.meeting_get(user=request.user, project=project, pk=id)


def _occurrence(request, key: str, id: int, occ: str) -> Occurrence:
    meeting = _meeting(request, key, id)
    return selectors.occurrence_get(meeting=meeting, key=occ)


def _run(request, key: str, id: int, occ: str) -> Occurrence:
    """The occurrence, once its caller is known to run the meeting (403 before the body is
    read)."""
    occurrence = _occurrence(request, key, id, occ)
    meeting = occurrence.meeting
    services.require_runner(request.user, meeting.project, meeting.kind)
    return occurrence


def occurrence_body(occ: Occurrence, user) -> dict:
    body = occurrence_brief(occ)
    if sees_internal(user, occ.meeting.project):
        body["internal_notes"] = occ.internal_notes
    body["agenda"] = [
        {
            "id": e.item.pk if e.item else None,
            "title": e.title,
            "change_request": e.cr_key,
            "snapshot": e.snapshot,
            "notes": e.item.notes if e.item else "",
            "outcome": e.item.outcome if e.item else "",
            "rationale": e.item.rationale if e.item else "",
            "conditions": e.item.conditions if e.item else "",
            "votes": e.votes,
        }
        for e in selectors.agenda(occ)
    ]
    body["attendance"] = [
        {"username": r["user"].username, "status": r["status"]}
        for r in selectors.attendance_rows(occ)
    ]
    body["actions"] = selectors.action_items(occ)
    return OccurrenceSerializer(body).data


def _ok(occ: Occurrence, request, code: int = 200) -> Response:
    occ.refresh_from_db()
    return Response(occurrence_body(occ, request.user), status=code)


class MeetingListView(ApiView):
    """A project's meetings (CCB meetings hidden from customer roles unless invited)."""

    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_meetings_list", parameters=[KIND],
        responses={200: MeetingSerializer(many=True), **errors(400, 404)},
    )  # fmt: skip
    def get(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        kind = request.query_params.get("kind") or None
        if kind and kind not in Kind.values:
            raise ValidationError(
                _("Some filters are invalid."), fields={"kind": [", ".join(Kind.values)]}
            )
        qs = selectors.meeting_list(user=request.user, project=project, kind=kind)
        return self.paginated(qs, MeetingSerializer)

    @extend_schema(
        operation_id="project_meetings_create", request=MeetingCreateSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: MeetingSerializer, **errors(400, 403, 404, 422)},
    )  # fmt: skip
    def post(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        services.require_runner(request.user, project)
        data = dict(self.get_validated(MeetingCreateSerializer))
        kind = data.pop("kind")
        meeting = services.meeting_create(user=request.user, project=project, kind=kind, **data)
        return Response(MeetingSerializer(meeting).data, status=status.HTTP_201_CREATED)


class MeetingDetailView(ApiView):
    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_meetings_retrieve", parameters=[ID],
        responses={200: MeetingSerializer, **errors(404)},
    )  # fmt: skip
    def get(self, request, key: str, id: int):
        return Response(MeetingSerializer(_meeting(request, key, id)).data)

    @extend_schema(
        operation_id="project_meetings_update", parameters=[ID, IDEMPOTENCY_PARAM],
        request=MeetingWriteSerializer,
        responses={200: MeetingSerializer, **errors(400, 403, 404, 422)},
    )  # fmt: skip
    def patch(self, request, key: str, id: int):
        meeting = _meeting(request, key, id)
        services.require_runner(request.user, meeting.project, meeting.kind)
        data = dict(self.get_validated(MeetingWriteSerializer, partial=True))
        if "kind" in data and data.pop("kind") != meeting.kind:
            raise ValidationError(
                _("Some fields are invalid."), fields={"kind": [_("A meeting's kind is fixed.")]}
            )
        meeting = services.meeting_update(user=request.user, meeting=meeting, data=data)
        return Response(MeetingSerializer(meeting).data)


class OccurrenceListView(ApiView):
    """Occurrences in ``[from, to)`` (default: the next ten weeks)."""

    # A whole, bounded list in one answer: documented as an array, without page parameters.
    pagination_class = None
    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_meetings_occurrences_list",
        parameters=[
            ID,
            OpenApiParameter("from", OpenApiTypes.DATETIME, required=False),
            OpenApiParameter("to", OpenApiTypes.DATETIME, required=False),
        ],
        responses={200: OccurrenceSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, key: str, id: int):
        meeting = _meeting(request, key, id)
        start = _when(request, "from", timezone.now() - dt.timedelta(days=1))
        end = _when(request, "to", start + dt.timedelta(weeks=10))
        if end <= start or end - start > dt.timedelta(days=800):
            raise ValidationError(
                _("Some filters are invalid."),
                fields={"to": [_("After `from`, and at most 800 days later.")]},
            )
        occs = selectors.occurrences_between(meeting, start, end)[:500]
        return Response(OccurrenceSerializer([occurrence_brief(o) for o in occs], many=True).data)


def _when(request, name: str, default: dt.datetime) -> dt.datetime:
    from django.utils.dateparse import parse_datetime

    raw = request.query_params.get(name)
    if not raw:
        return default
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None:
        raise ValidationError(
            _("Some filters are invalid."), fields={name: [_("An ISO 8601 date and time.")]}
        )
    if timezone.is_naive(value):
        value = value.replace(tzinfo=dt.UTC)
    value = in_utc(value)
    if value is None:
        raise ValidationError(_("Some filters are invalid."), fields={name: [_("Out of range.")]})
    return value


class OccurrenceDetailView(ApiView):
    """One occurrence with its agenda (live until held, then the snapshot), attendance,
    votes, decisions and action items."""

    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_meetings_occurrences_retrieve", parameters=[ID, OCC],
        responses={200: OccurrenceSerializer, **errors(404)},
    )  # fmt: skip
    def get(self, request, key: str, id: int, occ: str):
        return Response(occurrence_body(_occurrence(request, key, id, occ), request.user))

    @extend_schema(
        operation_id="project_meetings_occurrences_update", parameters=[ID, OCC, IDEMPOTENCY_PARAM],
        request=OccurrenceUpdateSerializer,
        responses={200: OccurrenceSerializer, **errors(400, 403, 404, 409)},
    )  # fmt: skip
    def patch(self, request, key: str, id: int, occ: str):
        occurrence = _run(request, key, id, occ)
        data = self.get_validated(OccurrenceUpdateSerializer)
        occurrence = services.occurrence_minutes(user=request.user, occurrence=occurrence, **data)
        return _ok(occurrence, request)


def _step(name: str, doc: str, service, request_serializer=None):
    """A POST that moves an occurrence on (hold, close, cancel)."""

    class StepView(ApiView):
        queryset = Project.objects.none()

        @extend_schema(
            operation_id=f"project_meetings_occurrences_{name}", description=doc,
            parameters=[ID, OCC, IDEMPOTENCY_PARAM], request=request_serializer,
            responses={200: OccurrenceSerializer, **errors(400, 403, 404, 409)},
        )  # fmt: skip
        def post(self, request, key: str, id: int, occ: str):
            occurrence = _run(request, key, id, occ)
            data = self.get_validated(request_serializer) if request_serializer else {}
            return _ok(service(user=request.user, occurrence=occurrence, **data), request)

    StepView.__name__ = f"Occurrence{name.title()}View"
    StepView.__doc__ = doc
    return StepView


OccurrenceHoldView = _step(
    "hold", "Begin the meeting: the agenda's CRs are kept as a snapshot.",
    services.occurrence_hold, HoldSerializer,
)  # fmt: skip
OccurrenceCloseView = _step(
    "close", "Close the minutes; votes signed on agenda CRs during the meeting are linked.",
    services.occurrence_close,
)  # fmt: skip
OccurrenceCancelView = _step("cancel", "Cancel one occurrence.", services.occurrence_cancel)


class AgendaListView(ApiView):
    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_meetings_agenda_create", parameters=[ID, OCC, IDEMPOTENCY_PARAM],
        request=AgendaItemCreateSerializer,
        responses={201: OccurrenceSerializer, **errors(400, 403, 404, 409)},
    )  # fmt: skip
    def post(self, request, key: str, id: int, occ: str):
        occurrence = _run(request, key, id, occ)
        data = self.get_validated(AgendaItemCreateSerializer)
        item = services.agenda_item_add(user=request.user, occurrence=occurrence, **data)
        return _ok(item.occurrence, request, 201)


def _item(occurrence: Occurrence, pk: int) -> AgendaItem:
    item = (
        AgendaItem.objects.filter(occurrence_id=occurrence.pk, pk=pk).first()
        if occurrence.pk
        else None
    )
    if item is None:
        raise NotFound(_("No such agenda item."))
    item.occurrence = occurrence
    return item


class AgendaItemView(ApiView):
    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_meetings_agenda_decide",
        parameters=[ID, OCC, OpenApiParameter("item", int, OpenApiParameter.PATH),
                    IDEMPOTENCY_PARAM],
        request=DecisionSerializer,
        responses={200: OccurrenceSerializer, **errors(400, 403, 404, 409)},
    )  # fmt: skip
    def patch(self, request, key: str, id: int, occ: str, item: int):
        occurrence = _run(request, key, id, occ)
        data = self.get_validated(DecisionSerializer)
        services.agenda_item_decide(user=request.user, item=_item(occurrence, item), **data)
        return _ok(occurrence, request)


class AttendanceView(ApiView):
    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_meetings_attendance_update",
        parameters=[ID, OCC, IDEMPOTENCY_PARAM], request=AttendanceWriteSerializer,
        responses={200: OccurrenceSerializer, **errors(400, 403, 404, 409)},
    )  # fmt: skip
    def put(self, request, key: str, id: int, occ: str):
        occurrence = _run(request, key, id, occ)
        data = self.get_validated(AttendanceWriteSerializer)
        entries = [dict(e) for e in data["attendance"]]
        services.attendance_set(user=request.user, occurrence=occurrence, entries=entries)
        return _ok(occurrence, request)


class VoteView(ApiView):
    """Vote on an agenda CR in the meeting: a present board member, signed with the password
    through the vote service (the same checks and audit as the CR's own vote endpoint)."""

    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_meetings_votes_create", parameters=[ID, OCC, IDEMPOTENCY_PARAM],
        request=MeetingVoteSerializer,
        responses={201: OccurrenceSerializer, **errors(400, 403, 404, 409, 422, 429)},
    )  # fmt: skip
    def post(self, request, key: str, id: int, occ: str):
        occurrence = _occurrence(request, key, id, occ)
        # Who may vote depends on the item's CR (its board); a viewer may not, whatever it is.
        change_services.require_member(request.user, occurrence.meeting.project)
        data = dict(self.get_validated(MeetingVoteSerializer))
        item = _item(occurrence, data.pop("item"))
        services.meeting_vote(user=request.user, item=item, ip=client_ip(request), **data)
        return _ok(occurrence, request, 201)


class ActionListView(ApiView):
    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_meetings_actions_create", parameters=[ID, OCC, IDEMPOTENCY_PARAM],
        request=ActionItemCreateSerializer,
        responses={201: ActionItemSerializer, **errors(400, 403, 404, 409)},
    )  # fmt: skip
    def post(self, request, key: str, id: int, occ: str):
        occurrence = _run(request, key, id, occ)
        data = self.get_validated(ActionItemCreateSerializer)
        action = services.action_item_add(user=request.user, occurrence=occurrence, **data)
        return Response(ActionItemSerializer(action).data, status=201)


class ActionDetailView(ApiView):
    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_meetings_actions_update",
        parameters=[ID, OCC, OpenApiParameter("action", int, OpenApiParameter.PATH),
                    IDEMPOTENCY_PARAM],
        request=ActionItemUpdateSerializer,
        responses={200: ActionItemSerializer, **errors(400, 403, 404)},
    )  # fmt: skip
    def patch(self, request, key: str, id: int, occ: str, action: int):
        occurrence = _occurrence(request, key, id, occ)
        row = (
            ActionItem.objects.filter(occurrence_id=occurrence.pk, pk=action)
            .select_related("owner", "change_request")
            .first()
            if occurrence.pk
            else None
        )
        if row is None:
            raise NotFound(_("No such action item."))
        row.occurrence = occurrence
        services.require_action_editor(request.user, row)
        data = self.get_validated(ActionItemUpdateSerializer)
        row = services.action_item_done(user=request.user, action=row, done=data["done"])
        return Response(ActionItemSerializer(row).data)


def _file(body: bytes | str, content_type: str, name: str, *, inline: bool = False):
    response = HttpResponse(body, content_type=content_type)
    disposition = "inline" if inline else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="{name}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


class MinutesMarkdownView(ApiView):
    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_meetings_minutes_markdown", parameters=[ID, OCC],
        responses={(200, "text/markdown"): OpenApiResponse(OpenApiTypes.STR), **errors(404)},
    )  # fmt: skip
    def get(self, request, key: str, id: int, occ: str):
        occurrence = _occurrence(request, key, id, occ)
        data = exports.minutes_data(occurrence, user=request.user)
        return _file(
            exports.minutes_markdown(data), "text/markdown; charset=utf-8",
            exports.filename(occurrence, "md"),
        )  # fmt: skip


class MinutesPdfView(ApiView):
    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_meetings_minutes_pdf", parameters=[ID, OCC],
        responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY), **errors(404)},
    )  # fmt: skip
    def get(self, request, key: str, id: int, occ: str):
        occurrence = _occurrence(request, key, id, occ)
        data = exports.minutes_data(occurrence, user=request.user)
        return _file(
            exports.minutes_pdf(data), "application/pdf", exports.filename(occurrence, "pdf")
        )


class MeetingIcsView(ApiView):
    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_meetings_ics", parameters=[ID],
        responses={(200, "text/calendar"): OpenApiResponse(OpenApiTypes.STR), **errors(404)},
    )  # fmt: skip
    def get(self, request, key: str, id: int):
        meeting = _meeting(request, key, id)
        body = exports.meetings_ics([meeting], name=meeting.title)
        return _file(body, "text/calendar; charset=utf-8", f"{meeting.key}.ics")


class ProjectCalendarView(ApiView):
    """The project calendar of one month: meetings, freeze windows, CR desired dates and
    action items due."""

    # A whole, bounded list in one answer: documented as an array, without page parameters.
    pagination_class = None
    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_calendar_list",
        parameters=[OpenApiParameter("month", str, required=False, description="YYYY-MM")],
        responses={200: CalendarEntrySerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, key: str):
        project = account_selectors.project_get(user=request.user, key=key)
        year, month = parse_month(request.query_params.get("month"))
        start, end = selectors.month_bounds(year, month, timezone.get_current_timezone())
        entries = selectors.project_calendar(
            user=request.user, project=project, start=start, end=end
        )
        return Response(CalendarEntrySerializer([entry_body(e) for e in entries], many=True).data)


def parse_month(raw: str | None) -> tuple[int, int]:
    if not raw:
        now = timezone.localtime()
        return now.year, now.month
    try:
        year, month = (int(x) for x in raw.split("-"))
        if not (2000 <= year <= 2200 and 1 <= month <= 12) or len(raw) != 7:
            raise ValueError
    except ValueError:
        raise ValidationError(
            _("Some filters are invalid."), fields={"month": [_("A month as YYYY-MM.")]}
        ) from None
    return year, month


def entry_body(e: selectors.CalendarEntry) -> dict:
    if e.kind == "meeting":
        ref = f"{e.obj.meeting_id}/{recurrence.occurrence_key(e.obj.starts_at)}"
    elif e.kind == "desired":
        ref = e.obj.key
    else:
        ref = str(e.obj.pk)
    return {
        "kind": e.kind, "title": e.title, "starts_at": e.starts_at, "ends_at": e.ends_at,
        "date": e.date, "ref": ref,
    }  # fmt: skip


class CalendarFeedView(ApiView):
    """Your calendar feed URL (for calendar apps, which cannot sign in). A new one replaces
    the old; DELETE revokes it."""

    @extend_schema(
        operation_id="me_calendar_feed_create", request=None, parameters=[IDEMPOTENCY_PARAM],
        responses={201: CalendarFeedSerializer, **errors()},
    )  # fmt: skip
    def post(self, request):
        token = services.calendar_token_create(user=request.user)
        url = request.build_absolute_uri(reverse("calendar-feed", args=[token]))
        return Response({"url": url}, status=201)

    @extend_schema(
        operation_id="me_calendar_feed_destroy", parameters=[IDEMPOTENCY_PARAM],
        responses={204: None, **errors(404)},
    )  # fmt: skip
    def delete(self, request):
        if not services.calendar_token_revoke(user=request.user):
            raise NotFound(_("You have no calendar feed."))
        return Response(status=204)
