"""Minutes (Markdown and PDF) and calendars (.ics) of meetings.

The minutes are built once as plain data (``minutes_data``) and rendered twice, so the
Markdown and the PDF always say the same. The PDF uses ReportLab's built-in CID font
STSong-Light, which renders Chinese with no font file to ship.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any
from xml.sax.saxutils import escape

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from icalendar import Calendar, Event, vRecur

from changeflow.accounts.models import Role, User
from changeflow.changes.models import VoteDecision, VotePurpose
from changeflow.changes.workflow import State
from changeflow.core.access import sees_internal

from . import recurrence, selectors
from .models import AttendanceStatus, Kind, Meeting, Occurrence, OccurrenceState, Outcome

PRODID = "-//changeflow//meetings//EN"
CID_FONT = "STSong-Light"


def _label(choices, value: str) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return value or ""


def _local(at: dt.datetime | None, tz_name: str) -> str:
    if at is None:
        return ""
    return at.astimezone(recurrence.zone(tz_name)).strftime("%Y-%m-%d %H:%M")


def _person(user: User) -> str:
    return str(user)


# ------------------------------------------------------------------ minutes data


def _void_note(vote) -> str:
    """Empty for a vote that counts; for one a material change reset, what the minutes say
    instead of letting it pass for a valid vote (it stays listed: it was cast in the meeting)."""
    if vote.voided_at is None:
        return ""
    return _("void, does not count: %(reason)s") % {"reason": vote.void_reason}


def _vote_text(v: dict[str, Any]) -> str:
    return f"{v['decision']} ({v['void']})" if v["void"] else v["decision"]


def minutes_data(occurrence: Occurrence, *, user: User) -> dict[str, Any]:
    """Everything the minutes list, as plain text values in the active language."""
    meeting = occurrence.meeting
    tz = meeting.timezone
    internal = sees_internal(user, meeting.project)
    items = []
    for n, entry in enumerate(selectors.agenda(occurrence), start=1):
        item = entry.item
        snap = entry.snapshot
        items.append(
            {
                "number": n,
                "title": entry.title,
                "cr": entry.cr_key,
                "state": _label(State, snap.get("state", "")) if snap else "",
                "purpose": _label(VotePurpose, snap.get("purpose", "")) if snap else "",
                "notes": item.notes if item else "",
                "outcome": _label(Outcome, item.outcome) if item and item.outcome else "",
                "rationale": item.rationale if item else "",
                "conditions": item.conditions if item else "",
                "votes": [
                    {
                        "member": _person(v.voter),
                        "username": v.voter.username,
                        "role": _label(Role, v.role),
                        "decision": _label(VoteDecision, v.decision),
                        "signed_at": _local(v.signed_at, tz),
                        "signature": _("signed with the password re-entered: %(d)s, %(p)s")
                        % {
                            "d": _label(VoteDecision, v.decision),
                            "p": _label(VotePurpose, v.purpose),
                        },
                        "comment": v.comment,
                        "void": _void_note(v),
                    }
                    for v in entry.votes
                ],
            }
        )
    return {
        "title": meeting.title,
        "kind": _label(Kind, meeting.kind),
        "project": f"{meeting.project.key} — {meeting.project.name}",
        "location": meeting.location,
        "timezone": tz,
        "starts_at": _local(occurrence.starts_at, tz),
        "ends_at": _local(
            occurrence.starts_at + dt.timedelta(minutes=meeting.duration_minutes), tz
        ),
        "state": _label(OccurrenceState, occurrence.state),
        "held_at": _local(occurrence.held_at, tz),
        "closed_at": _local(occurrence.closed_at, tz),
        "attendance": [
            {
                "person": _person(r["user"]),
                "username": r["user"].username,
                "status": _label(AttendanceStatus, r["status"])
                if r["status"]
                else _("not recorded"),
            }
            for r in selectors.attendance_rows(occurrence)
        ],
        "items": items,
        "actions": [
            {
                "title": a.title,
                "owner": _person(a.owner),
                "due_date": a.due_date.isoformat(),
                "cr": a.change_request.key if a.change_request else "",
                "done": a.done,
            }
            for a in selectors.action_items(occurrence)
        ],
        "minutes": occurrence.minutes,
        "internal_notes": occurrence.internal_notes if internal else "",
        "generated_at": _local(timezone.now(), tz),
    }


def filename(occurrence: Occurrence, ext: str) -> str:
    meeting = occurrence.meeting
    return f"{meeting.key}-{recurrence.occurrence_key(occurrence.starts_at)}-minutes.{ext}"


# ------------------------------------------------------------------ Markdown


def _md(text: str) -> str:
    """User text on one Markdown line (no heading or list syntax sneaks in)."""
    return " ".join((text or "").split()).replace("|", "\\|")


def minutes_markdown(data: dict[str, Any]) -> str:
    lines = [
        f"# {_md(data['title'])}",
        "",
        f"- **{_('Kind')}:** {data['kind']}",
        f"- **{_('Project')}:** {_md(data['project'])}",
        f"- **{_('When')}:** {data['starts_at']} – {data['ends_at']} ({data['timezone']})",
    ]
    if data["location"]:
        lines.append(f"- **{_('Location')}:** {_md(data['location'])}")
    lines.append(f"- **{_('State')}:** {data['state']}")
    if data["held_at"]:
        lines.append(f"- **{_('Began at')}:** {data['held_at']}")
    if data["closed_at"]:
        lines.append(f"- **{_('Minutes closed at')}:** {data['closed_at']}")
    lines += ["", f"## {_('Attendance')}", ""]
    lines += [f"- {_md(a['person'])} ({a['username']}): {a['status']}" for a in data["attendance"]]
    if not data["attendance"]:
        lines.append(f"- {_('Nobody was invited.')}")
    lines += ["", f"## {_('Agenda')}", ""]
    if not data["items"]:
        lines.append(_("The agenda is empty."))
    for item in data["items"]:
        head = f"### {item['number']}. "
        head += f"{item['cr']} {_md(item['title'])}" if item["cr"] else _md(item["title"])
        lines += [head, ""]
        if item["cr"]:
            lines.append(f"- **{_('State when listed')}:** {item['state']}")
            if item["purpose"]:
                lines.append(f"- **{_('Voting on')}:** {item['purpose']}")
        if item["notes"]:
            lines.append(f"- **{_('Notes')}:** {_md(item['notes'])}")
        if item["outcome"]:
            lines.append(f"- **{_('Decision')}:** {item['outcome']}")
        if item["rationale"]:
            lines.append(f"- **{_('Rationale')}:** {_md(item['rationale'])}")
        if item["conditions"]:
            lines.append(f"- **{_('Conditions')}:** {_md(item['conditions'])}")
        if item["votes"]:
            lines += [
                "",
                f"| {_('Member')} | {_('Role')} | {_('Vote')} | {_('Signed at')} | "
                f"{_('Signature')} | {_('Comment')} |",
                "|---|---|---|---|---|---|",
            ]
            for v in item["votes"]:
                lines.append(
                    f"| {_md(v['member'])} ({v['username']}) | {v['role']} | "
                    f"{_md(_vote_text(v))} | {v['signed_at']} | {_md(v['signature'])} | "
                    f"{_md(v['comment'])} |"
                )
        lines.append("")
    lines += [f"## {_('Action items')}", ""]
    if not data["actions"]:
        lines.append(_("No action items."))
    for a in data["actions"]:
        mark = "x" if a["done"] else " "
        about = f" ({a['cr']})" if a["cr"] else ""
        lines.append(
            f"- [{mark}] {_md(a['title'])}{about} — {_('owner')}: {_md(a['owner'])}, "
            f"{_('due')}: {a['due_date']}"
        )
    if data["minutes"]:
        lines += ["", f"## {_('Minutes')}", "", data["minutes"].strip()]
    if data["internal_notes"]:
        lines += ["", f"## {_('Internal notes')}", "", data["internal_notes"].strip()]
    lines += ["", f"_{_('Generated at %s') % data['generated_at']}_", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------ PDF


def _pdf_styles():
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if CID_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CID_FONT))
    base = getSampleStyleSheet()
    # CJK text breaks between any two characters ("wordWrap='CJK'").
    body = ParagraphStyle("body", parent=base["BodyText"], fontName=CID_FONT, fontSize=10,
                          leading=14, wordWrap="CJK")  # fmt: skip
    return {
        "title": ParagraphStyle("t", parent=body, fontSize=17, leading=22, spaceAfter=6),
        "h2": ParagraphStyle(
            "h2", parent=body, fontSize=13, leading=18, spaceBefore=10, spaceAfter=4
        ),  # fmt: skip
        "h3": ParagraphStyle("h3", parent=body, fontSize=11, leading=15, spaceBefore=8),
        "body": body,
        "small": ParagraphStyle("s", parent=body, fontSize=8.5, leading=11),
    }


def pdf_document(out: io.BytesIO, title: str):
    """An A4 document with the exports' margins, and the table style of their grids."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate, TableStyle

    doc = SimpleDocTemplate(
        out, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
        bottomMargin=16 * mm, title=title, author="changeflow",
    )  # fmt: skip
    grid = TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#b8c0cc")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f7")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ])  # fmt: skip
    return doc, grid


def _p(text: str, style) -> Any:
    from reportlab.platypus import Paragraph

    return Paragraph(escape(text or "").replace("\n", "<br/>"), style)


def minutes_pdf(data: dict[str, Any]) -> bytes:
    from reportlab.platypus import Spacer, Table

    st = _pdf_styles()
    out = io.BytesIO()
    doc, grid = pdf_document(out, data["title"])
    width = doc.width
    story: list[Any] = [_p(data["title"], st["title"])]
    facts = [
        (_("Kind"), data["kind"]),
        (_("Project"), data["project"]),
        (_("When"), f"{data['starts_at']} – {data['ends_at']} ({data['timezone']})"),
        (_("Location"), data["location"]),
        (_("State"), data["state"]),
        (_("Began at"), data["held_at"]),
        (_("Minutes closed at"), data["closed_at"]),
    ]
    for label, value in facts:
        if value:
            story.append(_p(f"{label}: {value}", st["body"]))
    story += [_p(_("Attendance"), st["h2"])]
    rows = [[_p(_("Person"), st["small"]), _p(_("Attendance"), st["small"])]]
    rows += [
        [_p(f"{a['person']} ({a['username']})", st["small"]), _p(a["status"], st["small"])]
        for a in data["attendance"]
    ]
    story.append(Table(rows, colWidths=[width * 0.65, width * 0.35], style=grid))
    story.append(_p(_("Agenda"), st["h2"]))
    if not data["items"]:
        story.append(_p(_("The agenda is empty."), st["body"]))
    for item in data["items"]:
        head = f"{item['number']}. " + (
            f"{item['cr']} {item['title']}" if item["cr"] else item["title"]
        )
        story.append(_p(head, st["h3"]))
        for label, value in (
            (_("State when listed"), item["state"]),
            (_("Voting on"), item["purpose"]),
            (_("Notes"), item["notes"]),
            (pgettext("meeting outcome", "Decision"), item["outcome"]),
            (_("Rationale"), item["rationale"]),
            (_("Conditions"), item["conditions"]),
        ):
            if value:
                story.append(_p(f"{label}: {value}", st["body"]))
        if item["votes"]:
            head_row = [_("Member"), _("Role"), _("Vote"), _("Signed at"), _("Signature"),
                        pgettext("vote", "Comment")]  # fmt: skip
            vrows = [[_p(h, st["small"]) for h in head_row]]
            for v in item["votes"]:
                vrows.append([
                    _p(f"{v['member']} ({v['username']})", st["small"]), _p(v["role"], st["small"]),
                    _p(_vote_text(v), st["small"]), _p(v["signed_at"], st["small"]),
                    _p(v["signature"], st["small"]), _p(v["comment"], st["small"]),
                ])  # fmt: skip
            story += [
                Spacer(1, 3),
                Table(
                    vrows,
                    colWidths=[width * f for f in (0.2, 0.13, 0.1, 0.15, 0.22, 0.2)],
                    style=grid, repeatRows=1,
                ),
            ]  # fmt: skip
    story.append(_p(_("Action items"), st["h2"]))
    if data["actions"]:
        arows = [[_p(h, st["small"]) for h in (_("Action"), _("Owner"), _("Due date"),
                                                  _("Change request"), _("Done"))]]  # fmt: skip
        for a in data["actions"]:
            arows.append([
                _p(a["title"], st["small"]), _p(a["owner"], st["small"]),
                _p(a["due_date"], st["small"]), _p(a["cr"], st["small"]),
                _p(_("yes") if a["done"] else _("no"), st["small"]),
            ])  # fmt: skip
        story.append(
            Table(arows, colWidths=[width * f for f in (0.4, 0.2, 0.14, 0.14, 0.12)], style=grid)
        )
    else:
        story.append(_p(_("No action items."), st["body"]))
    if data["minutes"]:
        story += [_p(_("Minutes"), st["h2"]), _p(data["minutes"], st["body"])]
    if data["internal_notes"]:
        story += [_p(_("Internal notes"), st["h2"]), _p(data["internal_notes"], st["body"])]
    story += [Spacer(1, 8), _p(_("Generated at %s") % data["generated_at"], st["small"])]
    doc.build(story)
    return out.getvalue()


# ------------------------------------------------------------------ iCalendar


def _calendar(name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    return cal


def _uid(meeting: Meeting) -> str:
    return f"{meeting.uid}@changeflow"


def meeting_event(meeting: Meeting, cancelled: list[dt.datetime] | None = None) -> Event:
    """The series as one VEVENT: its first start in its own zone, RRULE, EXDATE for the
    cancelled occurrences."""
    tz = recurrence.zone(meeting.timezone)
    start = meeting.starts_at.astimezone(tz)
    event = Event()
    event.add("uid", _uid(meeting))
    event.add("dtstamp", (meeting.updated_at or timezone.now()).astimezone(dt.UTC))
    event.add("sequence", meeting.sequence)
    event.add("summary", meeting.title)
    event.add("dtstart", start)
    event.add("dtend", start + dt.timedelta(minutes=meeting.duration_minutes))
    if meeting.location:
        event.add("location", meeting.location)
    description = meeting.description or ""
    event.add("description", f"{_label(Kind, meeting.kind)} · {meeting.project.key}\n{description}")
    event.add("categories", [_label(Kind, meeting.kind)])
    if meeting.rrule:
        event.add("rrule", vRecur.from_ical(meeting.rrule))
        if cancelled:
            event.add("exdate", [c.astimezone(tz) for c in cancelled])
    return event


def _cancelled(meetings: list[Meeting]) -> dict[int, list[dt.datetime]]:
    out: dict[int, list[dt.datetime]] = {}
    rows = Occurrence.objects.filter(
        meeting__in=meetings, state=OccurrenceState.CANCELLED
    ).values_list("meeting_id", "starts_at")
    for mid, at in rows:
        out.setdefault(mid, []).append(at)
    return out


def meetings_ics(meetings: list[Meeting], *, name: str) -> bytes:
    """A calendar of meeting series (each with its RRULE) and their VTIMEZONEs."""
    cal = _calendar(name)
    cancelled = _cancelled(meetings)
    for meeting in meetings:
        cal.add_component(meeting_event(meeting, cancelled.get(meeting.pk)))
    cal.add_missing_timezones()
    return cal.to_ical()


def project_ics(
    meetings: list[Meeting], entries: list[selectors.CalendarEntry], *, name: str
) -> bytes:
    """The project calendar: meeting series, freeze windows and CR desired dates."""
    cal = _calendar(name)
    cancelled = _cancelled(meetings)
    for meeting in meetings:
        cal.add_component(meeting_event(meeting, cancelled.get(meeting.pk)))
    stamp = timezone.now().astimezone(dt.UTC)
    for e in entries:
        if e.kind == "meeting":
            continue
        event = Event()
        event.add("dtstamp", stamp)
        if e.kind == "freeze":
            event.add("uid", f"freeze-{e.obj.pk}@changeflow")
            event.add("summary", _("Change freeze: %s") % e.title)
            event.add("dtstart", e.starts_at.astimezone(dt.UTC))  # type: ignore[union-attr]
            event.add("dtend", e.ends_at.astimezone(dt.UTC))  # type: ignore[union-attr]
        elif e.kind == "desired":
            event.add("uid", f"desired-{e.obj.key}@changeflow")
            event.add("summary", _("%(key)s desired: %(title)s") % {"key": e.obj.key,
                                                                     "title": e.title})  # fmt: skip
            event.add("dtstart", e.date)
            event.add("dtend", e.date + dt.timedelta(days=1))  # type: ignore[operator]
        else:
            event.add("uid", f"action-{e.obj.pk}@changeflow")
            event.add("summary", _("Action due: %s") % e.title)
            event.add("dtstart", e.date)
            event.add("dtend", e.date + dt.timedelta(days=1))  # type: ignore[operator]
        cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()
