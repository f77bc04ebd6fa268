"""Reads of meetings, permission-filtered through ``core.access``.

Who sees and who runs a meeting (decided here, documented in the README):

- **See** a customer meeting: every member of the project (and site admins).
- **See** a CCB meeting: members who see internal notes (``access.sees_internal``: everyone but
  the customer roles), plus anyone invited to it (a customer representative who sits on the
  board). Customer roles never see a meeting's internal notes.
- **Run** a meeting (create, edit, hold, agenda, attendance, decisions, action items,
  minutes): for a CCB meeting the project manager and the board's chair; for a customer
  meeting the project manager and the customer representative. Site admins may do all.
- **Vote** in a meeting: a board member marked present, through the e-signature vote service.
"""

from __future__ import annotations

import calendar as pycalendar
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from changeflow.accounts.models import Membership, Project, Role, User
from changeflow.ccb import selectors as ccb
from changeflow.ccb.models import FreezeWindow
from changeflow.changes.models import ChangeRequest, Ratification, Vote
from changeflow.changes.workflow import FINAL_STATES, State
from changeflow.core.access import CUSTOMER_ROLES, restrict, role_in
from changeflow.core.errors import NotFound

from . import recurrence
from .models import (
    ActionItem,
    AgendaItem,
    Attendance,
    Kind,
    Meeting,
    MeetingVote,
    Occurrence,
    OccurrenceState,
)

# ------------------------------------------------------------------ permissions


def may_run(user: User, project: Project, kind: str) -> bool:
    """Whether ``user`` may create and run meetings of ``kind`` in ``project``."""
    if user.is_superuser:
        return True
    role = role_in(user, project)
    if role == Role.PROJECT_MANAGER:
        return True
    if kind == Kind.CUSTOMER:
        return role == Role.CUSTOMER_REP
    board = ccb.board_of(project)
    return role is not None and board is not None and board.chair_id == user.pk


def may_run_any(user: User, project: Project) -> bool:
    return any(may_run(user, project, k) for k in Kind.values)


def _visible(qs: QuerySet[Meeting], user: User) -> QuerySet[Meeting]:
    qs = restrict(qs, user)
    if user.is_superuser:
        return qs
    customer_projects = Membership.objects.filter(user=user, role__in=CUSTOMER_ROLES).values(
        "project_id"
    )
    hidden = Q(kind=Kind.CCB, project_id__in=customer_projects) & ~Q(
        pk__in=Meeting.invitees.through.objects.filter(user_id=user.pk).values("meeting_id")
    )
    return qs.exclude(hidden)


def meeting_list(*, user: User, project: Project, kind: str | None = None) -> QuerySet[Meeting]:
    """The project's meetings ``user`` may see, by first start."""
    qs = _visible(Meeting.objects.filter(project_id=project.pk), user)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.select_related("project", "created_by").prefetch_related("invitees")


def meeting_get(*, user: User, project: Project, pk: Any) -> Meeting:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound(_("No such meeting.")) from None
    meeting = meeting_list(user=user, project=project).filter(pk=pk).first()
    if meeting is None:
        raise NotFound(_("No such meeting."))
    return meeting


def schedule(meeting: Meeting) -> recurrence.Schedule:
    return recurrence.Schedule(meeting.starts_at, meeting.timezone, meeting.rrule)


# ------------------------------------------------------------------ occurrences


def occurrence_get(*, meeting: Meeting, key: str) -> Occurrence:
    """The occurrence ``key`` of a meeting the caller may see: the stored row, or an unsaved
    one when nothing has happened to it yet. 404 when the series has no such meeting."""
    at = recurrence.parse_key(key)
    if at is None:
        raise NotFound(_("No such occurrence."))
    stored = (
        Occurrence.objects.filter(meeting=meeting, starts_at=at).select_related("meeting").first()
    )
    if stored is not None:
        return stored
    if not recurrence.is_occurrence(schedule(meeting), at):
        raise NotFound(_("No such occurrence."))
    return Occurrence(meeting=meeting, starts_at=at, state=OccurrenceState.SCHEDULED)


def occurrences_between(
    meeting: Meeting, start: dt.datetime, end: dt.datetime, *, stored: dict | None = None
) -> list[Occurrence]:
    """The meeting's occurrences starting in ``[start, end)``: stored rows where there are,
    unsaved ones elsewhere. ``stored`` maps (meeting id, start) to rows already loaded."""
    if stored is None:
        rows = Occurrence.objects.filter(meeting=meeting, starts_at__gte=start, starts_at__lt=end)
        stored = {(o.meeting_id, o.starts_at): o for o in rows}
    out = []
    for at in recurrence.between(schedule(meeting), start, end):
        occ = stored.get((meeting.pk, at))
        if occ is None:
            occ = Occurrence(meeting=meeting, starts_at=at, state=OccurrenceState.SCHEDULED)
        occ.meeting = meeting
        out.append(occ)
    return out


def upcoming(meeting: Meeting, now: dt.datetime, *, count: int = 5) -> list[Occurrence]:
    """The next ``count`` occurrences (and the one in progress, if any)."""
    sched = schedule(meeting)
    found: list[dt.datetime] = []
    at = now - dt.timedelta(minutes=meeting.duration_minutes)
    while len(found) < count:
        nxt = recurrence.next_after(sched, at)
        if nxt is None:
            break
        found.append(nxt)
        at = nxt + dt.timedelta(seconds=1)
    stored = {
        o.starts_at: o for o in Occurrence.objects.filter(meeting=meeting, starts_at__in=found)
    }
    return [
        stored.get(a) or Occurrence(meeting=meeting, starts_at=a, state=OccurrenceState.SCHEDULED)
        for a in found
    ]


def next_occurrences(
    meetings: QuerySet[Meeting], now: dt.datetime
) -> list[tuple[Meeting, Occurrence | None]]:
    """Each meeting with its next occurrence (or the one in progress); one query for the
    stored occurrences of them all."""
    listed = list(meetings)
    starts: dict[int, dt.datetime | None] = {
        m.pk: recurrence.next_after(schedule(m), now - dt.timedelta(minutes=m.duration_minutes))
        for m in listed
    }
    wanted = [a for a in starts.values() if a is not None]
    stored = {
        (o.meeting_id, o.starts_at): o
        for o in Occurrence.objects.filter(meeting__in=listed, starts_at__in=wanted)
    }
    out: list[tuple[Meeting, Occurrence | None]] = []
    for m in listed:
        at = starts[m.pk]
        occ = None
        if at is not None:
            occ = stored.get((m.pk, at)) or Occurrence(
                meeting=m, starts_at=at, state=OccurrenceState.SCHEDULED
            )
        out.append((m, occ))
    return out


def past(meeting: Meeting, *, count: int = 10) -> list[Occurrence]:
    """Stored occurrences that were held or closed, latest first."""
    return list(
        Occurrence.objects.filter(
            meeting=meeting, state__in=[OccurrenceState.HELD, OccurrenceState.CLOSED]
        ).order_by("-starts_at")[:count]
    )


# ------------------------------------------------------------------ agenda


def agenda_change_requests(meeting: Meeting) -> QuerySet[ChangeRequest]:
    """The CRs a meeting's agenda lists: for a CCB meeting those in review and those whose
    emergency approval awaits ratification; for a customer meeting every open CR (submitted
    and not final)."""
    qs = ChangeRequest.objects.filter(project_id=meeting.project_id).select_related("project")
    if meeting.kind == Kind.CCB:
        qs = qs.filter(Q(state=State.IN_REVIEW) | Q(ratification=Ratification.PENDING))
    else:
        qs = qs.exclude(state__in=[*FINAL_STATES, State.DRAFT])
    return qs.order_by("priority", "number")


def cr_snapshot(cr: ChangeRequest) -> dict[str, Any]:
    """What an agenda keeps of a CR: it reads the same after the CR moves on."""
    purpose = ""
    if cr.state == State.IN_REVIEW:
        purpose = "decision"
    elif cr.ratification == Ratification.PENDING:
        purpose = "ratification"
    return {
        "key": cr.key,
        "title": cr.title,
        "state": cr.state,
        "priority": cr.priority,
        "emergency": cr.emergency,
        "ratification": cr.ratification,
        "purpose": purpose,
        "desired_date": cr.desired_date.isoformat() if cr.desired_date else None,
    }


@dataclass
class AgendaEntry:
    """One line of an agenda as pages and exports show it."""

    title: str
    cr: ChangeRequest | None = None
    snapshot: dict[str, Any] = field(default_factory=dict)
    item: AgendaItem | None = None
    votes: list[Vote] = field(default_factory=list)

    @property
    def cr_key(self) -> str:
        return self.snapshot.get("key") or (self.cr.key if self.cr else "")


def agenda(occurrence: Occurrence) -> list[AgendaEntry]:
    """The occurrence's agenda. Before the meeting is held: the CRs of the moment (live) and
    the manual items; once held: the stored snapshot, with the votes given in the meeting."""
    stored: list[AgendaItem] = []
    if occurrence.pk:
        stored = list(
            occurrence.items.select_related("change_request__project").prefetch_related(
                Prefetch(
                    "meeting_votes",
                    queryset=MeetingVote.objects.select_related("vote__voter").order_by(
                        "vote__signed_at", "vote_id"
                    ),
                )
            )
        )
    entries: list[AgendaEntry] = []
    if occurrence.state in (OccurrenceState.SCHEDULED, OccurrenceState.CANCELLED):
        listed = {i.change_request_id for i in stored if i.change_request_id}
        for cr in agenda_change_requests(occurrence.meeting):
            if cr.pk not in listed:
                entries.append(AgendaEntry(title=cr.title, cr=cr, snapshot=cr_snapshot(cr)))
    pending = _votes_in_progress(occurrence, stored)
    for item in stored:
        votes = [mv.vote for mv in item.meeting_votes.all()]
        linked = {v.pk for v in votes}
        if item.change_request_id is not None:
            votes += [v for v in pending.get(item.change_request_id, []) if v.pk not in linked]
        votes.sort(key=lambda v: (v.signed_at, v.pk))
        entries.append(
            AgendaEntry(
                title=item.title, cr=item.change_request, snapshot=item.snapshot, item=item,
                votes=votes,
            )
        )  # fmt: skip
    return entries


def _votes_in_progress(occurrence: Occurrence, items: list[AgendaItem]) -> dict[int, list[Vote]]:
    """While a meeting is in progress, the votes signed since it began on its agenda's CRs
    (closing the minutes links them for good)."""
    if occurrence.state != OccurrenceState.HELD or occurrence.held_at is None:
        return {}
    crs = [i.change_request_id for i in items if i.change_request_id]
    out: dict[int, list[Vote]] = {}
    for vote in votes_in_window(crs, occurrence.held_at, None):
        out.setdefault(vote.change_request_id, []).append(vote)
    return out


def votes_in_window(
    cr_ids: list[int], start: dt.datetime, end: dt.datetime | None
) -> QuerySet[Vote]:
    qs = Vote.objects.filter(change_request_id__in=cr_ids, signed_at__gte=start)
    if end is not None:
        qs = qs.filter(signed_at__lte=end)
    return qs.select_related("voter").order_by("signed_at", "id")


# ------------------------------------------------------------------ minutes


def attendance_rows(occurrence: Occurrence) -> list[dict[str, Any]]:
    """Each invitee with their attendance (None while not recorded), then anyone else
    recorded (a guest added later)."""
    recorded: dict[int, Attendance] = {}
    if occurrence.pk:
        recorded = {a.user_id: a for a in occurrence.attendance.select_related("user")}
    rows: list[dict[str, Any]] = []
    for user in occurrence.meeting.invitees.all():
        rows.append({"user": user, "status": getattr(recorded.pop(user.pk, None), "status", "")})
    rows += [{"user": a.user, "status": a.status} for a in recorded.values()]
    rows.sort(key=lambda r: r["user"].username)
    return rows


def action_items(occurrence: Occurrence) -> list[ActionItem]:
    if not occurrence.pk:
        return []
    return list(occurrence.actions.select_related("owner", "change_request"))


def open_action_items(meeting: Meeting) -> list[ActionItem]:
    """Action items of earlier occurrences still open (shown on every later meeting)."""
    return list(
        ActionItem.objects.filter(occurrence__meeting=meeting, done=False).select_related(
            "owner", "change_request", "occurrence"
        )
    )


def open_actions_of(*, user: User) -> QuerySet[ActionItem]:
    """The open action items ``user`` owns, of meetings they may still see, soonest due
    first."""
    meetings = _visible(Meeting.objects.all(), user)
    return (
        ActionItem.objects.filter(owner_id=user.pk, done=False, occurrence__meeting__in=meetings)
        .select_related("occurrence__meeting__project", "change_request")
        .order_by("due_date", "id")
    )


# ------------------------------------------------------------------ calendar


@dataclass
class CalendarEntry:
    kind: str  # "meeting" | "freeze" | "desired" | "action"
    title: str
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    date: dt.date | None = None
    url_args: dict[str, Any] = field(default_factory=dict)
    obj: Any = None


def month_bounds(year: int, month: int, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(year, month, 1, tzinfo=tz)
    days = pycalendar.monthrange(year, month)[1]
    return start, start + dt.timedelta(days=days)


def project_calendar(
    *, user: User, project: Project, start: dt.datetime, end: dt.datetime
) -> list[CalendarEntry]:
    """Meetings, freeze windows, CRs' desired dates and action items' due dates in
    ``[start, end)``, in time order. Internal things follow the same visibility rules."""
    entries: list[CalendarEntry] = []
    meetings = list(meeting_list(user=user, project=project))
    stored = {
        (o.meeting_id, o.starts_at): o
        for o in Occurrence.objects.filter(
            meeting__in=meetings, starts_at__gte=start, starts_at__lt=end
        )
    }
    for meeting in meetings:
        for occ in occurrences_between(meeting, start, end, stored=stored):
            entries.append(
                CalendarEntry(
                    "meeting", meeting.title, occ.starts_at,
                    occ.starts_at + dt.timedelta(minutes=meeting.duration_minutes), obj=occ,
                )
            )  # fmt: skip
    windows = restrict(FreezeWindow.objects, user).filter(
        project_id=project.pk, starts_at__lt=end, ends_at__gt=start
    )
    for w in windows:
        entries.append(CalendarEntry("freeze", w.name, w.starts_at, w.ends_at, obj=w))
    first, last = start.date(), (end - dt.timedelta(seconds=1)).date()
    crs = (
        restrict(ChangeRequest.objects, user)
        .filter(project_id=project.pk, desired_date__gte=first, desired_date__lte=last)
        .exclude(state__in=FINAL_STATES)
        .only("key", "title", "desired_date", "state", "project_id")
    )
    for cr in crs:
        entries.append(CalendarEntry("desired", cr.title, date=cr.desired_date, obj=cr))
    visible_meetings = [m.pk for m in meetings]
    actions = ActionItem.objects.filter(
        occurrence__meeting_id__in=visible_meetings,
        due_date__gte=first,
        due_date__lte=last,
        done=False,
    ).select_related("owner", "occurrence__meeting")
    for a in actions:
        entries.append(CalendarEntry("action", a.title, date=a.due_date, obj=a))
    tz = start.tzinfo or dt.UTC

    def when(e: CalendarEntry) -> dt.datetime:
        if e.starts_at is not None:
            return max(e.starts_at, start)
        return dt.datetime.combine(e.date, dt.time(), tzinfo=tz)  # type: ignore[arg-type]

    entries.sort(key=lambda e: (when(e), e.kind, e.title))
    return entries


def feed_meetings(user: User) -> QuerySet[Meeting]:
    """Every meeting ``user`` is invited to and may still see, for their calendar feed."""
    return (
        _visible(Meeting.objects.filter(invitees=user), user)
        .select_related("project")
        .prefetch_related("invitees")
        .distinct()
    )
