"""Writes of meetings. Each runs in one transaction and writes its audit event last.

Votes are never written here: a vote given in a meeting goes through
``changes.services.vote_cast`` (the voter's password re-entered, the e-signature), and the
meeting only links the signed vote to its agenda item.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from changeflow.accounts.models import Membership, Project, Role, User
from changeflow.ccb import selectors as ccb
from changeflow.changes import services as change_services
from changeflow.changes.models import ChangeRequest, Ratification, Vote, VotePurpose
from changeflow.changes.workflow import State
from changeflow.core import audit
from changeflow.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    ValidationError,
)
from changeflow.core.validation import clean_text, invalid

from . import recurrence, selectors
from .models import (
    MAX_REMINDER_MINUTES,
    ActionItem,
    AgendaItem,
    Attendance,
    AttendanceStatus,
    CalendarToken,
    Kind,
    Meeting,
    MeetingVote,
    Occurrence,
    OccurrenceState,
    Outcome,
)

EDITABLE = (
    "title", "location", "description", "timezone", "starts_at", "duration_minutes", "rrule",
    "remind_minutes_before", "invitees",
)  # fmt: skip
# A meeting may begin (be recorded as begun) at most this long before its scheduled start.
EARLIEST_BEGIN = dt.timedelta(hours=12)
TEXT_LIMITS = {"title": 200, "location": 200, "description": 100_000}
MAX_INVITEES = 200
# Customer meetings invite these roles by default; CCB meetings invite the board.
CUSTOMER_MEETING_ROLES = (
    Role.PROJECT_MANAGER, Role.TECH_LEAD, Role.CUSTOMER_REP, Role.CUSTOMER,
)  # fmt: skip


def require_runner(user: User, project: Project, kind: str | None = None) -> None:
    """403 unless ``user`` runs meetings of ``kind`` in ``project`` (of some kind, when None).
    The services check it, and the views before they read the body."""
    if kind is None:
        if not selectors.may_run_any(user, project):
            raise PermissionDenied(
                _(
                    "Only the project manager, the board's chair and the customer "
                    "representative schedule meetings."
                )
            )
        return
    if not selectors.may_run(user, project, kind):
        if kind == Kind.CCB:
            message = _("Only the project manager and the board's chair run CCB meetings.")
        else:
            message = _(
                "Only the project manager and the customer representative run customer meetings."
            )
        raise PermissionDenied(message)


def require_action_editor(user: User, action: ActionItem) -> None:
    """403 unless ``user`` owns the action item or runs its meeting (who marks it done)."""
    if action.owner_id != user.pk:
        meeting = action.occurrence.meeting
        require_runner(user, meeting.project, meeting.kind)


def _event_key(meeting: Meeting, occurrence: Occurrence | None = None) -> str:
    if occurrence is None:
        return meeting.key
    return f"{meeting.key}@{recurrence.occurrence_key(occurrence.starts_at)}"


def _record(
    user: User | str, action: str, meeting: Meeting, occurrence: Occurrence | None = None,
    *, before: dict | None = None, after: dict | None = None, internal: bool | None = None,
) -> None:  # fmt: skip
    audit.record(
        actor=user, action=action, object_type="meeting",
        object_key=_event_key(meeting, occurrence), project=meeting.project.key,
        before=before, after=after,
        internal=meeting.kind == Kind.CCB if internal is None else internal,
    )  # fmt: skip


# ------------------------------------------------------------------ series


def _text(data: dict, name: str, *, required: bool = False) -> str:
    return clean_text(name, data.get(name), TEXT_LIMITS[name], required=required)


def _int(data: dict, name: str, low: int, high: int) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise invalid(name, _("A whole number is required."))
    try:
        number = int(value)
    except ValueError:
        raise invalid(name, _("A whole number is required.")) from None
    if not low <= number <= high:
        raise invalid(name, _("From %(low)d to %(high)d.") % {"low": low, "high": high})
    return number


def _start(value: Any, tz_name: str) -> dt.datetime:
    if isinstance(value, str):
        value = parse_datetime(value.strip()) if value.strip() else None
    if not isinstance(value, dt.datetime):
        raise invalid("starts_at", _("A date and time is required, e.g. 2026-12-01T10:00."))
    if timezone.is_naive(value):  # a wall-clock time in the meeting's own zone
        value = value.replace(tzinfo=recurrence.zone(tz_name))
    if not 2000 <= value.year <= 2200:
        raise invalid("starts_at", _("The year must be from 2000 to 2200."))
    return value.astimezone(dt.UTC).replace(microsecond=0)


def _invitees(project: Project, kind: str, value: Any) -> list[User]:
    if value is None:
        return _default_invitees(project, kind)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise invalid("invitees", _("A list of usernames."))
    if len(value) > MAX_INVITEES:
        raise invalid("invitees", _("At most %d invitees.") % MAX_INVITEES)
    names = set(value)
    found = {
        m.user.username: m.user
        for m in Membership.objects.filter(
            project=project, user__is_active=True, user__username__in=names
        ).select_related("user")
    }
    unknown = sorted(names - set(found))
    if unknown:
        raise invalid("invitees", _("Not members of this project: %s") % ", ".join(unknown))
    return [found[n] for n in sorted(found)]


def _default_invitees(project: Project, kind: str) -> list[User]:
    if kind == Kind.CCB:
        board = ccb.board_of(project)
        names = {m["username"] for m in ccb.board_spec(project, board).members}
        if board is not None and board.chair is not None:
            names.add(board.chair.username)
        qs = Membership.objects.filter(project=project, user__username__in=names)
    else:
        qs = Membership.objects.filter(project=project, role__in=CUSTOMER_MEETING_ROLES)
    return [m.user for m in qs.filter(user__is_active=True).select_related("user")]


def _clean(project: Project, kind: str, data: dict, current: Meeting | None) -> dict[str, Any]:
    """The validated fields of ``data`` (all of them on create, those given on update)."""
    unknown = sorted(set(data) - set(EDITABLE) - {"kind"})
    if unknown:
        raise ValidationError(
            _("Some fields are invalid."), fields={k: [_("Unknown field.")] for k in unknown}
        )
    out: dict[str, Any] = {}
    creating = current is None
    if creating or "title" in data:
        out["title"] = _text(data, "title", required=True)
    for name in ("location", "description"):
        if creating or name in data:
            out[name] = _text(data, name)
    tz_name = data.get("timezone") if "timezone" in data else None
    if creating and not tz_name:
        tz_name = timezone.get_default_timezone_name()
    if tz_name is not None:
        if not isinstance(tz_name, str):
            raise invalid("timezone", _("A time zone name is required."))
        try:
            recurrence.zone(tz_name)
        except recurrence.RuleError as exc:
            raise invalid("timezone", exc) from None
        out["timezone"] = tz_name
    zone_name = out.get("timezone") or (current.timezone if current else "UTC")
    if creating or "starts_at" in data:
        if data.get("starts_at") in (None, ""):
            raise invalid("starts_at", _("This field is required."))
        out["starts_at"] = _start(data["starts_at"], zone_name)
    if creating or "duration_minutes" in data:
        out["duration_minutes"] = _int(
            {"duration_minutes": data.get("duration_minutes", 60)}, "duration_minutes", 5, 1440
        )
    if creating or "remind_minutes_before" in data:
        out["remind_minutes_before"] = _int(
            {"remind_minutes_before": data.get("remind_minutes_before", 60)},
            "remind_minutes_before", 0, MAX_REMINDER_MINUTES,
        )  # fmt: skip
    if creating or {"rrule", "starts_at", "timezone"} & set(data):
        rule = data.get("rrule", current.rrule if current else "")
        if rule is None:
            rule = ""
        if not isinstance(rule, str):
            raise invalid("rrule", _("A text is required."))
        starts = out.get("starts_at") or current.starts_at  # type: ignore[union-attr]
        try:
            out["rrule"] = recurrence.check(rule, starts_at=starts, timezone=zone_name)
        except recurrence.RuleError as exc:
            raise PreconditionFailed(
                _("The recurrence rule cannot be used: %s") % exc, code="invalid_rrule",
                fields={"rrule": [str(exc)]},
            ) from None  # fmt: skip
    if creating or "invitees" in data:
        out["invitees"] = _invitees(project, kind, data.get("invitees"))
    return out


def _summary(meeting: Meeting) -> dict[str, Any]:
    return {
        "kind": meeting.kind,
        "title": meeting.title,
        "starts_at": meeting.starts_at,
        "timezone": meeting.timezone,
        "rrule": meeting.rrule,
        "duration_minutes": meeting.duration_minutes,
        "location": meeting.location,
        "invitees": sorted(u.username for u in meeting.invitees.all()),
    }


def meeting_create(*, user: User, project: Project, kind: str, **data: Any) -> Meeting:
    """Schedule a CCB or customer meeting (one-off, or recurring by ``rrule``)."""
    if kind not in Kind.values:
        raise invalid("kind", _("One of: %s") % ", ".join(Kind.values))
    require_runner(user, project, kind)
    fields = _clean(project, kind, data, None)
    invitees = fields.pop("invitees")
    with transaction.atomic():
        meeting = Meeting.objects.create(project=project, kind=kind, created_by=user, **fields)
        meeting.invitees.set(invitees)
        _record(user, "meeting.created", meeting, after=_summary(meeting))
    return meeting


def meeting_update(*, user: User, meeting: Meeting, data: dict[str, Any]) -> Meeting:
    """Change a series. Occurrences already stored (held, cancelled) keep their times."""
    require_runner(user, meeting.project, meeting.kind)
    fields = _clean(meeting.project, meeting.kind, data, meeting)
    with transaction.atomic():
        fresh = Meeting.objects.select_for_update().select_related("project").get(pk=meeting.pk)
        before = _summary(fresh)
        invitees = fields.pop("invitees", None)
        for name, value in fields.items():
            setattr(fresh, name, value)
        fresh.sequence += 1
        fresh.save(update_fields=[*fields, "sequence", "updated_at"])
        if invitees is not None:
            fresh.invitees.set(invitees)
        after = _summary(fresh)
        changed = {k: v for k, v in after.items() if before[k] != v}
        _record(
            user, "meeting.updated", fresh,
            before={k: before[k] for k in changed}, after=changed,
        )  # fmt: skip
    return fresh


# ------------------------------------------------------------------ occurrences


def _materialise(meeting: Meeting, starts_at: dt.datetime) -> Occurrence:
    """The stored row of an occurrence (created when it is first needed). Race-safe: two
    writers creating the same occurrence end with one row."""
    occ = Occurrence.objects.filter(meeting=meeting, starts_at=starts_at).first()
    if occ is not None:
        occ.meeting = meeting
        return occ
    if not recurrence.is_occurrence(selectors.schedule(meeting), starts_at):
        raise NotFound(_("No such occurrence."))
    try:
        with transaction.atomic():
            occ = Occurrence.objects.create(meeting=meeting, starts_at=starts_at)
    except IntegrityError:
        occ = Occurrence.objects.get(meeting=meeting, starts_at=starts_at)
    occ.meeting = meeting
    return occ


def _locked(user: User, occurrence: Occurrence, *, states: tuple[str, ...]) -> Occurrence:
    """The occurrence's row, locked, after checking the caller runs the meeting and that it
    is in one of ``states`` (else 409)."""
    meeting = occurrence.meeting
    require_runner(user, meeting.project, meeting.kind)
    stored = _materialise(meeting, occurrence.starts_at)
    fresh = Occurrence.objects.select_for_update().get(pk=stored.pk)
    fresh.meeting = meeting
    if fresh.state not in states:
        raise Conflict(_state_message(fresh.state))
    return fresh


def _state_message(state: str) -> str:
    messages: dict[str, str] = {
        OccurrenceState.SCHEDULED: _("The meeting has not begun yet."),
        OccurrenceState.HELD: _("The meeting is in progress."),
        OccurrenceState.CLOSED: _("The minutes of this meeting are closed."),
        OccurrenceState.CANCELLED: _("This meeting was cancelled."),
    }
    return messages[state]


def occurrence_cancel(*, user: User, occurrence: Occurrence) -> Occurrence:
    with transaction.atomic():
        occ = _locked(user, occurrence, states=(OccurrenceState.SCHEDULED,))
        occ.state = OccurrenceState.CANCELLED
        occ.save(update_fields=["state"])
        _record(user, "meeting.cancelled", occ.meeting, occ, after={"starts_at": occ.starts_at})
    return occ


def _snapshot(occ: Occurrence, held_at: dt.datetime) -> list[tuple[ChangeRequest, dict]]:
    """The CRs the agenda keeps when the meeting begins, with what it keeps of each: those
    the agenda lists now, plus, for a CCB meeting recorded after the fact, those voted on
    since it began (kept as they were when voted on: in review, or awaiting ratification)."""
    meeting = occ.meeting
    crs = [(c, selectors.cr_snapshot(c)) for c in selectors.agenda_change_requests(meeting)]
    if meeting.kind == Kind.CCB:
        seen = {c.pk for c, _snap in crs}
        purposes = dict(
            Vote.objects.filter(
                change_request__project_id=meeting.project_id, signed_at__gte=held_at
            )
            .exclude(change_request_id__in=seen)
            .values_list("change_request_id", "purpose")
        )
        voted = ChangeRequest.objects.filter(pk__in=list(purposes)).select_related("project")
        for cr in voted.order_by("number"):
            snap = selectors.cr_snapshot(cr)
            if purposes[cr.pk] == VotePurpose.DECISION:
                snap.update(state=State.IN_REVIEW, purpose="decision")
            else:
                snap.update(ratification=Ratification.PENDING, purpose="ratification")
            crs.append((cr, snap))
    return crs


def occurrence_hold(
    *, user: User, occurrence: Occurrence, held_at: dt.datetime | None = None
) -> Occurrence:
    """Begin the meeting: the agenda's CRs are kept as they are now (a snapshot), and
    attendance, decisions and votes can be recorded. ``held_at`` (default now) is when it
    began, for minutes written after the fact."""
    now = timezone.now()
    if held_at is None:
        held_at = now
    if timezone.is_naive(held_at):
        raise invalid("held_at", _("Give a time with its offset."))
    if held_at > now + dt.timedelta(minutes=1):
        raise invalid("held_at", _("A meeting cannot begin in the future."))
    if held_at < occurrence.starts_at - EARLIEST_BEGIN:
        raise invalid("held_at", _("At most 12 hours before the scheduled start."))
    with transaction.atomic():
        occ = _locked(user, occurrence, states=(OccurrenceState.SCHEDULED,))
        existing = set(occ.items.filter(change_request__isnull=False).values_list(
            "change_request_id", flat=True
        ))  # fmt: skip
        crs = [(c, snap) for c, snap in _snapshot(occ, held_at) if c.pk not in existing]
        AgendaItem.objects.bulk_create(
            AgendaItem(occurrence=occ, position=i, change_request=cr, title=cr.title, snapshot=snap)
            for i, (cr, snap) in enumerate(crs, start=1)
        )
        updated = Occurrence.objects.filter(pk=occ.pk, state=OccurrenceState.SCHEDULED).update(
            state=OccurrenceState.HELD, held_at=held_at
        )
        if not updated:  # pragma: no cover - the row is locked
            raise Conflict(_("Someone else changed this meeting first."))
        occ.state, occ.held_at = OccurrenceState.HELD, held_at
        _record(
            user, "meeting.held", occ.meeting, occ,
            after={"held_at": held_at, "agenda": [c.key for c, _snap in crs]},
        )  # fmt: skip
    return occ


def occurrence_close(*, user: User, occurrence: Occurrence) -> Occurrence:
    """Close the minutes: the votes signed on the agenda's CRs since the meeting began are
    linked to their items for good, and nothing more can be recorded."""
    with transaction.atomic():
        occ = _locked(user, occurrence, states=(OccurrenceState.HELD,))
        now = timezone.now()
        items = {i.change_request_id: i for i in occ.items.filter(change_request__isnull=False)}
        linked = set(
            MeetingVote.objects.filter(item__occurrence=occ).values_list("vote_id", flat=True)
        )
        new = [
            MeetingVote(item=items[v.change_request_id], vote=v)
            for v in selectors.votes_in_window(list(items), occ.held_at, now)  # type: ignore[arg-type]
            if v.pk not in linked
        ]
        MeetingVote.objects.bulk_create(new)
        occ.state, occ.closed_at = OccurrenceState.CLOSED, now
        occ.save(update_fields=["state", "closed_at"])
        _record(
            user, "meeting.closed", occ.meeting, occ,
            after={"closed_at": now, "votes_linked": sorted(m.vote_id for m in new)},
        )  # fmt: skip
    return occ


def occurrence_minutes(
    *, user: User, occurrence: Occurrence, minutes: str | None = None,
    internal_notes: str | None = None,
) -> Occurrence:  # fmt: skip
    """Write the minutes' text (and the internal notes, hidden from customer roles)."""
    changes: dict[str, str] = {}
    for name, value in (("minutes", minutes), ("internal_notes", internal_notes)):
        if value is None:
            continue
        changes[name] = clean_text(name, value, 100_000, strip=False)
    with transaction.atomic():
        occ = _locked(user, occurrence, states=(OccurrenceState.SCHEDULED, OccurrenceState.HELD))
        before = {k: getattr(occ, k) for k in changes}
        for k, v in changes.items():
            setattr(occ, k, v)
        occ.save(update_fields=list(changes))
        _record(
            user, "meeting.minutes", occ.meeting, occ, before=before, after=changes,
            internal=occ.meeting.kind == Kind.CCB or "internal_notes" in changes,
        )  # fmt: skip
    return occ


# ------------------------------------------------------------------ agenda and decisions


def agenda_item_add(
    *, user: User, occurrence: Occurrence, title: str = "", notes: str = "",
    change_request: str | None = None,
) -> AgendaItem:  # fmt: skip
    """Add a manual item (optionally about one of the project's CRs) to an agenda."""
    meeting = occurrence.meeting
    cr = None
    if change_request:
        cr = ChangeRequest.objects.filter(project_id=meeting.project_id, key=change_request).first()
        if cr is None:
            raise invalid("change_request", _("No such change request in this project."))
        title = title or cr.title
    title = _text({"title": title}, "title", required=True)
    if not isinstance(notes, str) or len(notes) > 100_000:
        raise invalid("notes", _("At most %(n)d characters.") % {"n": 100_000})
    with transaction.atomic():
        occ = _locked(user, occurrence, states=(OccurrenceState.SCHEDULED, OccurrenceState.HELD))
        if cr is not None and occ.items.filter(change_request=cr).exists():
            raise Conflict(_("%s is on the agenda already.") % cr.key)
        position = 1000 + occ.items.filter(change_request__isnull=True).count()
        item = AgendaItem.objects.create(
            occurrence=occ, position=position, title=title, notes=notes, change_request=cr,
            snapshot=selectors.cr_snapshot(cr) if cr else {},
        )  # fmt: skip
        _record(
            user, "meeting.agenda_item_added", meeting, occ,
            after={"item": item.pk, "title": title, "change_request": cr.key if cr else None},
        )  # fmt: skip
    return item


def agenda_item_decide(
    *, user: User, item: AgendaItem, outcome: str = "", rationale: str = "",
    conditions: str = "", notes: str | None = None,
) -> AgendaItem:  # fmt: skip
    """Record what the meeting decided on an item, why, and on what conditions."""
    if outcome not in Outcome.values:
        raise invalid("outcome", _("One of: %s") % ", ".join(v for v in Outcome.values if v))
    for name, value in (("rationale", rationale), ("conditions", conditions), ("notes", notes)):
        if value is not None and (not isinstance(value, str) or len(value) > 100_000):
            raise invalid(name, _("At most %(n)d characters.") % {"n": 100_000})
    if outcome and not (rationale or "").strip():
        raise invalid("rationale", _("Say why the meeting decided so."))
    occurrence = item.occurrence
    with transaction.atomic():
        _locked(user, occurrence, states=(OccurrenceState.HELD,))
        fresh = AgendaItem.objects.select_for_update().get(pk=item.pk)
        before = {"outcome": fresh.outcome, "rationale": fresh.rationale,
                  "conditions": fresh.conditions}  # fmt: skip
        fresh.outcome, fresh.rationale, fresh.conditions = (
            outcome,
            rationale or "",
            conditions or "",
        )
        fields = ["outcome", "rationale", "conditions"]
        if notes is not None:
            fresh.notes = notes
            fields.append("notes")
        fresh.save(update_fields=fields)
        _record(
            user, "meeting.decision", occurrence.meeting, occurrence, before=before,
            after={"item": fresh.pk, "change_request": fresh.snapshot.get("key"),
                   "outcome": outcome, "rationale": fresh.rationale,
                   "conditions": fresh.conditions},
        )  # fmt: skip
    return fresh


# ------------------------------------------------------------------ attendance and votes


def attendance_set(*, user: User, occurrence: Occurrence, entries: list[dict]) -> Occurrence:
    """Record who was present, absent or excused (invitees, or other project members)."""
    if not isinstance(entries, list) or not entries:
        raise invalid("attendance", _("A list of {username, status}."))
    wanted: dict[str, str] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or set(entry) - {"username", "status"}:
            raise invalid(f"attendance.{i}", _("An object with username and status."))
        status = entry.get("status")
        if status not in AttendanceStatus.values:
            raise invalid(
                f"attendance.{i}.status", _("One of: %s") % ", ".join(AttendanceStatus.values)
            )
        wanted[str(entry.get("username"))] = status
    meeting = occurrence.meeting
    members = {
        m.user.username: m.user
        for m in Membership.objects.filter(
            project_id=meeting.project_id, user__username__in=list(wanted)
        ).select_related("user")
    }
    unknown = sorted(set(wanted) - set(members))
    if unknown:
        raise invalid("attendance", _("Not members of this project: %s") % ", ".join(unknown))
    with transaction.atomic():
        occ = _locked(user, occurrence, states=(OccurrenceState.HELD,))
        current = {a.user_id: a for a in occ.attendance.all()}
        before, after = {}, {}
        for name, status in wanted.items():
            person = members[name]
            row = current.get(person.pk)
            if row is None:
                Attendance.objects.create(occurrence=occ, user=person, status=status)
            elif row.status != status:
                before[name] = row.status
                row.status = status
                row.save(update_fields=["status", "recorded_at"])
            else:
                continue
            after[name] = status
        if after:
            _record(user, "meeting.attendance", meeting, occ, before=before, after=after)
    return occ


def meeting_vote(
    *, user: User, item: AgendaItem, decision: str, password: str, comment: str = "",
    ip: str = "",
) -> tuple[Vote, Any]:  # fmt: skip
    """A present board member's vote on an agenda CR, signed with their password through the
    vote service (which checks board membership, the requester rule and what is being voted
    on), and linked to the item. One transaction: a refused vote links nothing."""
    occurrence = item.occurrence
    # vote_cast's own check of the voter's role, first: a viewer is refused (403) whatever the
    # meeting's state, not told to come back when it is held (409).
    change_services.require_member(user, occurrence.meeting.project)
    if occurrence.state != OccurrenceState.HELD:
        raise Conflict(_state_message(occurrence.state))
    if item.change_request_id is None:
        raise PreconditionFailed(_("This agenda item is not a change request."))
    present = Attendance.objects.filter(
        occurrence=occurrence, user=user, status=AttendanceStatus.PRESENT
    ).exists()
    if not present:
        raise PreconditionFailed(
            _("Only members marked present vote in the meeting."), code="not_present"
        )
    cr = ChangeRequest.objects.select_related("project", "requested_by").get(
        pk=item.change_request_id
    )
    with transaction.atomic():
        vote, tally = change_services.vote_cast(
            user=user, cr=cr, decision=decision, password=password, comment=comment, ip=ip
        )
        MeetingVote.objects.get_or_create(item=item, vote=vote)
        _record(
            user, "meeting.vote", occurrence.meeting, occurrence,
            after={"item": item.pk, "change_request": cr.key, "vote": vote.pk,
                   "decision": vote.decision, "signed_at": vote.signed_at},
        )  # fmt: skip
    return vote, tally


# ------------------------------------------------------------------ action items


def action_item_add(
    *, user: User, occurrence: Occurrence, title: str, owner: str, due_date: Any,
    change_request: str | None = None,
) -> ActionItem:  # fmt: skip
    meeting = occurrence.meeting
    title = _text({"title": title}, "title", required=True)
    person = (
        Membership.objects.filter(
            project_id=meeting.project_id, user__username=owner, user__is_active=True
        )
        .select_related("user")
        .first()
    )
    if person is None:
        raise invalid("owner", _("Not a member of this project."))
    if isinstance(due_date, str):
        due_date = parse_date(due_date.strip()) if due_date.strip() else None
    if not isinstance(due_date, dt.date) or isinstance(due_date, dt.datetime):
        raise invalid("due_date", _("A date is required, e.g. 2026-12-01."))
    cr = None
    if change_request:
        cr = ChangeRequest.objects.filter(project_id=meeting.project_id, key=change_request).first()
        if cr is None:
            raise invalid("change_request", _("No such change request in this project."))
    with transaction.atomic():
        occ = _locked(user, occurrence, states=(OccurrenceState.SCHEDULED, OccurrenceState.HELD))
        action = ActionItem.objects.create(
            occurrence=occ, title=title, owner=person.user, due_date=due_date, change_request=cr
        )
        _record(
            user, "meeting.action_item", meeting, occ,
            after={"action": action.pk, "title": title, "owner": owner, "due_date": due_date,
                   "change_request": cr.key if cr else None, "notify": [owner]},
        )  # fmt: skip
    return action


def action_item_done(*, user: User, action: ActionItem, done: bool = True) -> ActionItem:
    """Mark an action item done (or open again): its owner or whoever runs the meeting."""
    meeting = action.occurrence.meeting
    require_action_editor(user, action)
    with transaction.atomic():
        updated = ActionItem.objects.filter(pk=action.pk, done=not done).update(done=done)
        if updated:
            _record(
                user, "meeting.action_done" if done else "meeting.action_reopened", meeting,
                action.occurrence, after={"action": action.pk, "title": action.title},
            )  # fmt: skip
    action.done = done
    return action


# ------------------------------------------------------------------ reminders


def _notify(meeting: Meeting) -> list[str]:
    return sorted(u.username for u in meeting.invitees.all() if u.is_active)


def send_due_reminders(now: dt.datetime | None = None) -> int:
    """Record ``meeting.reminder`` once for each occurrence starting within its meeting's
    reminder lead time. Safe to run often and from several processes at once: the
    occurrence's ``reminded_at`` is set by compare-and-set in the same transaction as the
    event, so exactly one run records it. Returns how many reminders were recorded."""
    now = now or timezone.now()
    horizon = now + dt.timedelta(minutes=MAX_REMINDER_MINUTES)
    candidates = (
        Meeting.objects.filter(starts_at__lte=horizon, remind_minutes_before__gt=0)
        .filter(~Q(rrule="") | Q(starts_at__gt=now))
        .select_related("project")
        .prefetch_related("invitees")
    )
    sent = 0
    for meeting in candidates:
        lead = dt.timedelta(minutes=meeting.remind_minutes_before)
        sched = selectors.schedule(meeting)
        for at in recurrence.between(sched, now + dt.timedelta(microseconds=1), now + lead):
            occ = _materialise(meeting, at)
            if occ.state == OccurrenceState.CANCELLED or occ.reminded_at is not None:
                continue
            with transaction.atomic():
                won = (
                    Occurrence.objects.filter(pk=occ.pk, reminded_at__isnull=True)
                    .exclude(state=OccurrenceState.CANCELLED)
                    .update(reminded_at=now)
                )
                if not won:
                    continue
                _record(
                    "system", "meeting.reminder", meeting, occ,
                    after={"notify": _notify(meeting), "starts_at": at,
                           "title": meeting.title, "kind": meeting.kind,
                           "timezone": meeting.timezone,
                           "occurrence": recurrence.occurrence_key(at)},
                    internal=False,
                )  # fmt: skip
            sent += 1
    return sent


# ------------------------------------------------------------------ calendar feed


def calendar_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def calendar_token_create(*, user: User) -> str:
    """A new secret for the user's calendar feed URL; the old URL stops working. Only the
    digest is kept, so the URL is shown once."""
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        CalendarToken.objects.update_or_create(
            user=user, defaults={"digest": calendar_digest(token)}
        )
        audit.record(
            actor=user, action="calendar.feed_created", object_type="user",
            object_key=user.username,
        )  # fmt: skip
    return token


def calendar_token_revoke(*, user: User) -> bool:
    with transaction.atomic():
        deleted, _rows = CalendarToken.objects.filter(user=user).delete()
        if deleted:
            audit.record(
                actor=user, action="calendar.feed_revoked", object_type="user",
                object_key=user.username,
            )  # fmt: skip
    return bool(deleted)


def calendar_user(token: str) -> User | None:
    """The active user whose feed ``token`` opens, or None."""
    if not token or len(token) > 100:
        return None
    row = (
        CalendarToken.objects.filter(digest=calendar_digest(token), user__is_active=True)
        .select_related("user")
        .first()
    )
    return row.user if row else None


__all__ = [
    "action_item_add", "action_item_done", "agenda_item_add", "agenda_item_decide",
    "attendance_set", "calendar_token_create", "calendar_token_revoke", "meeting_create",
    "meeting_update", "meeting_vote", "occurrence_cancel", "occurrence_close",
    "occurrence_hold", "occurrence_minutes", "send_due_reminders",
]  # fmt: skip
