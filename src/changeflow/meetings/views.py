"""Meeting pages: the list, the new-meeting form, a series, one occurrence (agenda,
attendance, votes, decisions, action items, minutes), the project calendar, the calendar feed.

Thin: selectors read (404 for what the user may not see), one service writes, and an
``ApplicationError`` is shown on the page with its own status.
"""

from __future__ import annotations

import calendar as pycalendar
import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from changeflow.accounts import selectors as account_selectors
from changeflow.changes import services as change_services
from changeflow.core.access import sees_internal
from changeflow.core.errors import ApplicationError, ValidationError
from changeflow.core.http import AuthenticatedHttpRequest
from changeflow.core.middleware import client_ip
from changeflow.web import add_errors, error_page, form_status, or_404

from . import exports, recurrence, selectors, services
from .api import parse_month
from .forms import (
    ATTENDANCE_CHOICES,
    ActionItemForm,
    AgendaItemForm,
    DecisionForm,
    MeetingForm,
    MeetingVoteForm,
    MinutesForm,
)
from .models import (
    ActionItem,
    AgendaItem,
    CalendarToken,
    Kind,
    Meeting,
    Occurrence,
    OccurrenceState,
)


def _project(request, key):
    return or_404(account_selectors.project_get, user=request.user, key=key)


def _meeting(request, key, id) -> Meeting:
    project = _project(request, key)
    return or_404(selectors.meeting_get, user=request.user, project=project, pk=id)


def _occurrence(request, key, id, occ) -> Occurrence:
    meeting = _meeting(request, key, id)
    return or_404(selectors.occurrence_get, meeting=meeting, key=occ)


def occurrence_url(occ: Occurrence) -> str:
    m = occ.meeting
    return reverse(
        "meeting-occurrence", args=[m.project.key, m.pk, recurrence.occurrence_key(occ.starts_at)]
    )


# ------------------------------------------------------------------ list and create


@login_required
@require_GET
def meeting_list(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = _project(request, key)
    rows = [
        {"meeting": meeting, "next": occ, "rule": recurrence.describe(meeting.rrule)}
        for meeting, occ in selectors.next_occurrences(
            selectors.meeting_list(user=request.user, project=project), timezone.now()
        )
    ]
    return render(
        request,
        "meetings/meeting_list.html",
        {
            "project": project,
            "rows": rows,
            "can_create": selectors.may_run_any(request.user, project),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def meeting_create(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = _project(request, key)
    try:
        services.require_runner(request.user, project)
    except ApplicationError as exc:
        return error_page(request, exc)
    kinds = [k for k in Kind.values if selectors.may_run(request.user, project, k)]
    members = account_selectors.member_list(user=request.user, project=project)
    initial = {"kind": request.GET.get("kind") if request.GET.get("kind") in kinds else kinds[0]}
    form = MeetingForm(request.POST or None, kinds=kinds, members=members, initial=initial)
    status = form_status(form) if request.method == "POST" else 200
    if request.method == "POST" and form.is_valid():
        try:
            meeting = services.meeting_create(
                user=request.user, project=project, kind=form.cleaned_data["kind"],
                **form.service_data(),
            )  # fmt: skip
        except ApplicationError as exc:
            add_errors(form, exc)
            status = exc.status
        else:
            messages.success(request, _("The meeting was scheduled."))
            return redirect("meeting-detail", key=project.key, id=meeting.pk)
    return render(
        request, "meetings/meeting_form.html", {"project": project, "form": form}, status=status
    )


@login_required
@require_http_methods(["GET", "POST"])
def meeting_edit(request: AuthenticatedHttpRequest, key: str, id: int) -> HttpResponse:
    """Change a series (its kind stays); occurrences already held keep their times."""
    meeting = _meeting(request, key, id)
    project = meeting.project
    if not selectors.may_run(request.user, project, meeting.kind):
        return render(
            request, "error.html",
            {"message": _("Only who runs this meeting may change it.")}, status=403,
        )  # fmt: skip
    members = account_selectors.member_list(user=request.user, project=project)
    local = meeting.starts_at.astimezone(recurrence.zone(meeting.timezone))
    initial = {
        "kind": meeting.kind, "title": meeting.title, "location": meeting.location,
        "description": meeting.description, "timezone": meeting.timezone,
        "starts_at": local.replace(tzinfo=None), "duration_minutes": meeting.duration_minutes,
        "rrule": meeting.rrule, "remind_minutes_before": meeting.remind_minutes_before,
        "invitees": [u.username for u in meeting.invitees.all()],
    }  # fmt: skip
    form = MeetingForm(request.POST or None, kinds=[meeting.kind], members=members, initial=initial)
    status = form_status(form) if request.method == "POST" else 200
    if request.method == "POST" and form.is_valid():
        try:
            services.meeting_update(user=request.user, meeting=meeting, data=form.service_data())
        except ApplicationError as exc:
            add_errors(form, exc)
            status = exc.status
        else:
            messages.success(request, _("The meeting was changed."))
            return redirect("meeting-detail", key=project.key, id=meeting.pk)
    return render(
        request, "meetings/meeting_form.html",
        {"project": project, "form": form, "meeting": meeting}, status=status,
    )  # fmt: skip


@login_required
@require_GET
def meeting_detail(request: AuthenticatedHttpRequest, key: str, id: int) -> HttpResponse:
    meeting = _meeting(request, key, id)
    now = timezone.now()
    return render(
        request,
        "meetings/meeting_detail.html",
        {
            "project": meeting.project,
            "meeting": meeting,
            "upcoming": selectors.upcoming(meeting, now, count=8),
            "past": selectors.past(meeting),
            "open_actions": selectors.open_action_items(meeting),
            "can_run": selectors.may_run(request.user, meeting.project, meeting.kind),
            "invitees": sorted(meeting.invitees.all(), key=lambda u: u.username),
            "rule": recurrence.describe(meeting.rrule),
        },
    )


@login_required
@require_GET
def meeting_ics(request: AuthenticatedHttpRequest, key: str, id: int) -> HttpResponse:
    meeting = _meeting(request, key, id)
    return _ics(exports.meetings_ics([meeting], name=meeting.title), f"{meeting.key}.ics")


def _ics(body: bytes, name: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# ------------------------------------------------------------------ one occurrence


def _occurrence_context(request, occ: Occurrence, **forms: Any) -> dict[str, Any]:
    meeting = occ.meeting
    project = meeting.project
    can_run = selectors.may_run(request.user, project, meeting.kind)
    members = list(account_selectors.member_list(user=request.user, project=project))
    agenda = selectors.agenda(occ)
    attendance = selectors.attendance_rows(occ)
    present = {r["user"].pk for r in attendance if r["status"] == "present"}
    held = occ.state == OccurrenceState.HELD
    for entry in agenda:
        entry.decision_form = (  # type: ignore[attr-defined]
            DecisionForm(
                initial={
                    "item": entry.item.pk,
                    "outcome": entry.item.outcome,
                    "rationale": entry.item.rationale,
                    "conditions": entry.item.conditions,
                }
            )  # fmt: skip
            if entry.item and held and can_run
            else None
        )
        entry.vote_form = (  # type: ignore[attr-defined]
            MeetingVoteForm(initial={"item": entry.item.pk})
            if entry.item and entry.cr and held and request.user.pk in present
            else None
        )
    bad_vote = forms.get("vote_form")
    if bad_vote is not None:
        for entry in agenda:
            if entry.item and str(entry.item.pk) == str(bad_vote.data.get("item")):
                entry.vote_form = bad_vote  # type: ignore[attr-defined]
    return {
        "project": project,
        "meeting": meeting,
        "occ": occ,
        "occ_key": recurrence.occurrence_key(occ.starts_at),
        "ends_at": occ.starts_at + dt.timedelta(minutes=meeting.duration_minutes),
        "agenda": agenda,
        "attendance": attendance,
        "attendance_choices": ATTENDANCE_CHOICES,
        "actions": selectors.action_items(occ),
        "can_run": can_run,
        "held": held,
        "can_begin": timezone.now() >= occ.starts_at - services.EARLIEST_BEGIN,
        "editable": occ.state in (OccurrenceState.SCHEDULED, OccurrenceState.HELD),
        "internal": sees_internal(request.user, project),
        "minutes_form": forms.get("minutes_form")
        or MinutesForm(initial={"minutes": occ.minutes, "internal_notes": occ.internal_notes}),
        "agenda_form": forms.get("agenda_form") or AgendaItemForm(),
        "action_form": forms.get("action_form") or ActionItemForm(members=members),
        "error": forms.get("error"),
    }


@login_required
@require_GET
def occurrence_detail(
    request: AuthenticatedHttpRequest, key: str, id: int, occ: str
) -> HttpResponse:
    occurrence = _occurrence(request, key, id, occ)
    return render(request, "meetings/occurrence.html", _occurrence_context(request, occurrence))


@login_required
@require_POST
def occurrence_post(request: AuthenticatedHttpRequest, key: str, id: int, occ: str) -> HttpResponse:
    """Every action of the occurrence page (``op`` says which); errors re-render the page."""
    occurrence = _occurrence(request, key, id, occ)
    meeting = occurrence.meeting
    op = request.POST.get("op", "")
    handler = _OPS.get(op)
    try:  # the caller's role before the form: a viewer does nothing here
        change_services.require_member(request.user, meeting.project)
        if handler is None:
            raise ValidationError(_("Unknown action."))
    except ApplicationError as exc:
        return error_page(request, exc)
    forms: dict[str, Any] = {}
    try:
        if op not in _ANYONE_OPS:  # the rest is for whoever runs the meeting
            services.require_runner(request.user, meeting.project, meeting.kind)
        message = handler(request, occurrence, forms)
    except ApplicationError as exc:
        form = next(iter(forms.values()), None)
        if form is not None:
            add_errors(form, exc)
        else:
            forms["error"] = exc.message
        context = _occurrence_context(request, occurrence, **forms)
        return render(request, "meetings/occurrence.html", context, status=exc.status)
    if message:
        messages.success(request, message)
    return redirect(occurrence_url(occurrence))


def _invalid(form) -> ValidationError:
    return ValidationError(_("Some fields are invalid."))


def _op_hold(request, occ, forms):
    services.occurrence_hold(user=request.user, occurrence=occ)
    return _("The meeting has begun; its agenda is kept as it is now.")


def _op_close(request, occ, forms):
    services.occurrence_close(user=request.user, occurrence=occ)
    return _("The minutes are closed.")


def _op_cancel(request, occ, forms):
    services.occurrence_cancel(user=request.user, occurrence=occ)
    return _("This meeting was cancelled.")


def _op_minutes(request, occ, forms):
    form = forms["minutes_form"] = MinutesForm(request.POST)
    if not form.is_valid():
        raise _invalid(form)
    data = dict(form.cleaned_data)
    if not sees_internal(request.user, occ.meeting.project):
        data.pop("internal_notes")
    services.occurrence_minutes(user=request.user, occurrence=occ, **data)
    return _("The minutes were saved.")


def _op_agenda(request, occ, forms):
    form = forms["agenda_form"] = AgendaItemForm(request.POST)
    if not form.is_valid():
        raise _invalid(form)
    services.agenda_item_add(user=request.user, occurrence=occ, **form.cleaned_data)
    return _("The item was added to the agenda.")


def _item(occ: Occurrence, pk) -> AgendaItem:
    item = AgendaItem.objects.filter(occurrence_id=occ.pk, pk=pk).first() if occ.pk else None
    if item is None:
        raise Http404()
    item.occurrence = occ
    return item


def _op_decide(request, occ, forms):
    form = DecisionForm(request.POST)
    if not form.is_valid():
        raise ValidationError(_("Some fields are invalid."))
    data = dict(form.cleaned_data)
    item = _item(occ, data.pop("item"))
    services.agenda_item_decide(user=request.user, item=item, **data)
    return _("The decision was recorded.")


def _op_vote(request, occ, forms):
    form = forms["vote_form"] = MeetingVoteForm(request.POST)
    if not form.is_valid():
        raise _invalid(form)
    data = dict(form.cleaned_data)
    item = _item(occ, data.pop("item"))
    _vote, tally = services.meeting_vote(
        user=request.user, item=item, ip=client_ip(request), **data
    )
    if tally.verdict:
        return _("Your vote was signed and recorded; the board reached a verdict.")
    return _("Your vote was signed and recorded.")


def _op_attendance(request, occ, forms):
    entries = []
    for row in selectors.attendance_rows(occ):
        status = request.POST.get(f"att-{row['user'].username}", "")
        if status:
            entries.append({"username": row["user"].username, "status": status})
    if not entries:
        raise ValidationError(_("Mark at least one person present, absent or excused."))
    services.attendance_set(user=request.user, occurrence=occ, entries=entries)
    return _("Attendance was recorded.")


def _op_action(request, occ, forms):
    members = account_selectors.member_list(user=request.user, project=occ.meeting.project)
    form = forms["action_form"] = ActionItemForm(request.POST, members=members)
    if not form.is_valid():
        raise _invalid(form)
    services.action_item_add(user=request.user, occurrence=occ, **form.cleaned_data)
    return _("The action item was added.")


def _op_action_done(request, occ, forms):
    action = (
        ActionItem.objects.filter(occurrence_id=occ.pk, pk=request.POST.get("action") or 0)
        .select_related("owner")
        .first()
        if occ.pk and (request.POST.get("action") or "").isdigit()
        else None
    )
    if action is None:
        raise Http404()
    action.occurrence = occ
    done = request.POST.get("done") == "1"
    services.action_item_done(user=request.user, action=action, done=done)
    return _("The action item was updated.")


# Operations whose service decides who may (a board member votes; the owner marks done).
_ANYONE_OPS = {"vote", "action_done"}
_OPS = {
    "hold": _op_hold, "close": _op_close, "cancel": _op_cancel, "minutes": _op_minutes,
    "agenda": _op_agenda, "decide": _op_decide, "vote": _op_vote,
    "attendance": _op_attendance, "action": _op_action, "action_done": _op_action_done,
}  # fmt: skip


@login_required
@require_GET
def minutes_export(
    request: AuthenticatedHttpRequest, key: str, id: int, occ: str, fmt: str
) -> HttpResponse:
    occurrence = _occurrence(request, key, id, occ)
    data = exports.minutes_data(occurrence, user=request.user)
    if fmt == "pdf":
        response = HttpResponse(exports.minutes_pdf(data), content_type="application/pdf")
    else:
        response = HttpResponse(
            exports.minutes_markdown(data), content_type="text/markdown; charset=utf-8"
        )
    response["Content-Disposition"] = f'attachment; filename="{exports.filename(occurrence, fmt)}"'
    return response


# ------------------------------------------------------------------ calendar


@login_required
@require_GET
def project_calendar(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    """A month of the project: meetings, freeze windows, desired dates, action items due."""
    project = _project(request, key)
    try:
        year, month = parse_month(request.GET.get("month"))
    except ApplicationError as exc:
        return error_page(request, exc)
    tz = timezone.get_current_timezone()
    start, end = selectors.month_bounds(year, month, tz)
    entries = selectors.project_calendar(user=request.user, project=project, start=start, end=end)
    by_day: dict[dt.date, list] = {}
    for e in entries:
        if e.kind == "meeting" and e.starts_at is not None:  # on its day in its own time zone
            local = e.starts_at.astimezone(recurrence.zone(e.obj.meeting.timezone))
            by_day.setdefault(local.date(), []).append(e)
        elif e.starts_at is not None:
            first = max(e.starts_at, start).astimezone(tz).date()
            last = min(e.ends_at or e.starts_at, end - dt.timedelta(seconds=1)).astimezone(tz)
            day = first
            while day <= last.date():
                by_day.setdefault(day, []).append(e)
                day += dt.timedelta(days=1)
        elif e.date is not None:
            by_day.setdefault(e.date, []).append(e)
    weeks = [
        [{"date": d, "in_month": d.month == month, "entries": by_day.get(d, [])} for d in week]
        for week in pycalendar.Calendar(firstweekday=0).monthdatescalendar(year, month)
    ]
    prev_month = (start - dt.timedelta(days=1)).strftime("%Y-%m")
    next_month = end.strftime("%Y-%m")
    for e in entries:
        if e.kind == "meeting":
            e.url = occurrence_url(e.obj)  # type: ignore[attr-defined]
    return render(
        request,
        "meetings/calendar.html",
        {
            "project": project, "weeks": weeks, "entries": entries,
            "month_start": start, "prev_month": prev_month, "next_month": next_month,
            "today": timezone.localdate(),
        },
    )  # fmt: skip


@login_required
@require_http_methods(["GET", "POST"])
def calendar_feed(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Create (or replace) and revoke one's calendar feed URL."""
    url = None
    if request.method == "POST":
        if request.POST.get("op") == "revoke":
            services.calendar_token_revoke(user=request.user)
            messages.success(request, _("Your calendar feed URL was revoked."))
            return redirect("calendar-feed-settings")
        token = services.calendar_token_create(user=request.user)
        url = request.build_absolute_uri(reverse("calendar-feed", args=[token]))
    has_feed = CalendarToken.objects.filter(user=request.user).exists()
    memberships = account_selectors.my_memberships(user=request.user)
    return render(
        request,
        "meetings/feed.html",
        {"url": url, "has_feed": has_feed, "memberships": memberships},
    )


def _feed_user(token: str):
    user = services.calendar_user(token)
    if user is None:
        raise Http404()
    return user


@require_GET
def feed(request: HttpRequest, token: str) -> HttpResponse:
    """The meetings the token's owner is invited to (no sign-in: the URL is the secret)."""
    user = _feed_user(token)
    meetings = list(selectors.feed_meetings(user))
    return _ics(exports.meetings_ics(meetings, name=_("My meetings")), "meetings.ics")


@require_GET
def project_feed(request: HttpRequest, token: str, key: str) -> HttpResponse:
    """The project calendar as a feed: meetings, freeze windows, desired dates, actions due
    from a month back to a year ahead."""
    user = _feed_user(token)
    project = or_404(account_selectors.project_get, user=user, key=key)
    now = timezone.now()
    start, end = now - dt.timedelta(days=31), now + dt.timedelta(days=366)
    entries = selectors.project_calendar(user=user, project=project, start=start, end=end)
    meetings = list(selectors.meeting_list(user=user, project=project))
    body = exports.project_ics(meetings, entries, name=f"{project.key} {project.name}")
    return _ics(body, f"{project.key}.ics")
