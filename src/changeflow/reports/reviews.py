"""Periodic review reports (PRODUCT §9, "weekly/monthly, generated on schedule, as HTML/PDF
with charts"): a project's schedule, the generation of a report, and the periodic job.

- **Schedule**: off (default), weekly or monthly; set by a project manager (or a site admin),
  audited as ``review_schedule.updated``.
- **Periods**: weekly is a Monday–Sunday week, monthly a calendar month, both in the site's time
  zone (``settings.TIME_ZONE``: ``timezone.localdate``); the job generates the last *complete*
  one. On demand: any [from, to) that ``metrics.parse_period`` accepts.
- **A report is immutable**: the figures (``metrics.project_metrics`` for the delivery team, plus
  the improvement actions open at the end of the period and those done within it) and the HTML
  and PDF files rendered from them, stored once under ``review-reports/<project id>/`` with
  their SHA-256. One per (project, kind, period): the unique constraint decides between
  concurrent generators; a second generation is a 409 (``Conflict``) and changes nothing.
- **Failure leaves nothing**: the files are rendered before any write, saved inside the
  transaction that inserts the row, and deleted again when that transaction does not commit.
- **Notifications**: the generation's audit event ``review_report.generated`` names the
  project managers, tech leads and QA of the project (``notify``); the notifications app turns
  it into the kind ``report.ready`` once per recipient (the generator excepted).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from changeflow.accounts.models import Membership, Project, Role, User
from changeflow.core import audit
from changeflow.core.access import role_in
from changeflow.core.errors import Conflict, PermissionDenied
from changeflow.core.validation import invalid

from . import exports, metrics
from .metrics import Period
from .models import (
    ActionStatus,
    ImprovementAction,
    ReportKind,
    ReviewFrequency,
    ReviewReport,
    ReviewSchedule,
)

logger = logging.getLogger(__name__)

# Who is told that a report is ready: the people who run the process review.
AUDIENCE = (Role.PROJECT_MANAGER, Role.TECH_LEAD, Role.QA)
FOLDER = "review-reports"


# ------------------------------------------------------------------ periods (pure)


def week_of(day: dt.date) -> Period:
    """The Monday–Sunday week containing ``day``, as [Monday, next Monday)."""
    monday = day - dt.timedelta(days=day.weekday())
    return Period(start=monday, end=monday + dt.timedelta(days=7))


def month_of(day: dt.date) -> Period:
    """The calendar month containing ``day``, as [the 1st, the 1st of the next month)."""
    first = day.replace(day=1)
    following = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return Period(start=first, end=following)


def period_of(kind: str, day: dt.date) -> Period:
    return week_of(day) if kind == ReportKind.WEEKLY else month_of(day)


def last_complete(kind: str, today: dt.date) -> Period:
    """The last week or month that ended before ``today`` began."""
    current = period_of(kind, today)
    return period_of(kind, current.start - dt.timedelta(days=1))


def local_today(now: dt.datetime | None = None) -> dt.date:
    """Today in the site's time zone."""
    return timezone.localdate(now) if now is not None else timezone.localdate()


def _parse_day(name: str, value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value or "").strip())
    except ValueError:
        raise invalid(name, _("A date such as 2026-01-31 is required.")) from None


def requested_period(
    kind: Any, *, date: Any = None, start: Any = None, end: Any = None, today: dt.date | None = None
) -> tuple[str, Period]:
    """The kind and period a user asks for: ``weekly``/``monthly`` with a ``date`` inside a
    complete period, or ``on_demand`` with ``from`` and ``to`` (``metrics.parse_period``'s
    rules). A ValidationError names the field at fault."""
    if kind not in ReportKind.values:
        raise invalid("kind", _("One of: %s") % ", ".join(ReportKind.values))
    if kind == ReportKind.ON_DEMAND:
        if date not in (None, ""):
            raise invalid("date", _("An on-demand report takes from and to, not a date."))
        for name, value in (("from", start), ("to", end)):
            if value in (None, ""):
                raise invalid(name, _("This field is required."))
        return kind, metrics.parse_period(start, end)
    if start not in (None, "") or end not in (None, ""):
        raise invalid("date", _("A weekly or monthly report takes a date, not from and to."))
    if date in (None, ""):
        raise invalid("date", _("This field is required."))
    try:
        period = period_of(kind, _parse_day("date", date))
    except (ValueError, OverflowError):  # a week or month past the calendar's end (9999)
        raise invalid("date", _("A date such as 2026-01-31 is required.")) from None
    if period.end > (today or local_today()):
        raise invalid("date", _("That period is not over yet."))
    return kind, period


# ------------------------------------------------------------------ permissions


def may_generate(user: User, project: Project) -> bool:
    """Project managers (and site admins) set the schedule and generate reports."""
    return user.is_superuser or role_in(user, project) == Role.PROJECT_MANAGER


def require_project_manager(user: User, project: Project) -> None:
    if not may_generate(user, project):
        raise PermissionDenied(
            _("Only project managers set the review schedule and generate review reports.")
        )


# ------------------------------------------------------------------ the schedule


def schedule_of(project: Project) -> str:
    """The project's frequency (``off`` without a schedule row)."""
    row = ReviewSchedule.objects.filter(project_id=project.pk).values_list("frequency", flat=True)
    return row.first() or ReviewFrequency.OFF


def schedule_set(*, user: User, project: Project, frequency: Any) -> ReviewSchedule:
    """Set the project's review schedule; audited when it changes."""
    require_project_manager(user, project)
    if frequency not in ReviewFrequency.values:
        raise invalid("frequency", _("One of: %s") % ", ".join(ReviewFrequency.values))
    with transaction.atomic():
        Project.objects.select_for_update().only("id").get(pk=project.pk)
        schedule, _created = ReviewSchedule.objects.get_or_create(project=project)
        old = schedule.frequency
        if old == frequency:
            return schedule
        schedule.frequency = frequency
        schedule.updated_by = user
        schedule.save(update_fields=["frequency", "updated_by", "updated_at"])
        audit.record(
            actor=user, action="review_schedule.updated", object_type="project",
            object_key=project.key, project=project.key, before={"frequency": old},
            after={"frequency": frequency}, internal=True,
        )  # fmt: skip
    return schedule


# ------------------------------------------------------------------ content


def _action_row(action: ImprovementAction, period: Period) -> dict[str, Any]:
    return {
        "key": action.key,
        "title": action.title,
        "owner": action.owner.username,
        "due_date": action.due_date.isoformat(),
        "status": action.status,
        "progress": action.progress,
        "overdue": action.due_date < period.end,
        "closed_at": action.closed_at.isoformat() if action.closed_at else None,
    }


def improvement_figures(project: Project, period: Period) -> dict[str, list[dict[str, Any]]]:
    """The improvement actions open at the end of the period (made before it, not closed by
    it), and those done within it. ``overdue``: due before the period's end."""
    qs = ImprovementAction.objects.filter(project_id=project.pk).select_related("owner")
    open_at_end = qs.filter(created_at__lt=period.end_at).filter(
        Q(closed_at__isnull=True, status__in=(ActionStatus.OPEN, ActionStatus.IN_PROGRESS))
        | Q(closed_at__gte=period.end_at)
    )
    done = qs.filter(
        status=ActionStatus.DONE, closed_at__gte=period.start_at, closed_at__lt=period.end_at
    )
    return {
        "open_at_end": [_action_row(a, period) for a in open_at_end.order_by("due_date", "number")],
        "done_in_period": [
            {**_action_row(a, period), "overdue": False}
            for a in done.order_by("closed_at", "number")
        ],
    }


def summary_of(figures: dict[str, Any], actions: dict[str, list]) -> dict[str, int]:
    d = figures["decisions"]
    return {
        "submitted": figures["submitted"]["total"],
        "decided": d["approved"] + d["rejected"] + d["deferred"],
        "sla_breaches": figures["sla_breaches"]["total"],
        "actions_open": len(actions["open_at_end"]),
        "actions_overdue": sum(1 for a in actions["open_at_end"] if a["overdue"]),
        "actions_done": len(actions["done_in_period"]),
    }


def _exists(project: Project, kind: str, period: Period) -> bool:
    return ReviewReport.objects.filter(
        project_id=project.pk, kind=kind, period_start=period.start, period_end=period.end
    ).exists()


def _duplicate(project: Project, kind: str, period: Period) -> Conflict:
    return Conflict(
        _("A %(kind)s review report of %(project)s for %(start)s to %(end)s exists already.")
        % {"kind": ReportKind(kind).label, "project": project.key, "start": period.start,
           "end": period.end},
        code="duplicate_report",
    )  # fmt: skip


def _audience(project: Project) -> list[str]:
    return sorted(
        Membership.objects.filter(
            project_id=project.pk, role__in=AUDIENCE, user__is_active=True
        ).values_list("user__username", flat=True)
    )


def _render(project: Project, kind: str, period: Period, user: User | None) -> dict[str, Any]:
    figures = metrics.project_metrics(user=None, project=project, period=period)
    actions = improvement_figures(project, period)
    content: dict[str, Any] = {
        "figures": {**figures, "improvement_actions": actions},
        "summary": summary_of(figures, actions),
    }
    context = {"project": project, "kind": kind, "period": period, "generated_by": user,
               **content}  # fmt: skip
    content["html"] = exports.review_html(context)
    content["pdf"] = exports.review_pdf(context)
    return content


def review_report_generate(
    *,
    user: User | None,
    project: Project,
    kind: str,
    period: Period,
    language: str | None = None,
) -> ReviewReport:
    """Generate and store the report of ``project`` of ``kind`` over ``period``. ``user``
    None: the schedule's (no role check). In ``language`` (default: the active one for a user,
    the site's for the schedule). A report of that kind and period existing: Conflict (409)."""
    if user is not None:
        require_project_manager(user, project)
    if _exists(project, kind, period):
        raise _duplicate(project, kind, period)
    language = (
        language
        or (translation.get_language() if user is not None else None)
        or settings.LANGUAGE_CODE
    )
    with translation.override(language):
        content = _render(project, kind, period, user)
        title = exports.review_title(project, kind, period)
    saved: list[str] = []
    try:
        with transaction.atomic():
            # The project row is the numbering lock, as for improvement actions.
            Project.objects.select_for_update().only("id").get(pk=project.pk)
            if _exists(project, kind, period):
                raise _duplicate(project, kind, period)
            last = ReviewReport.objects.filter(project_id=project.pk).aggregate(n=Max("number"))
            number = (last["n"] or 0) + 1
            key = f"{project.key}-R{number}"
            report = ReviewReport(
                project=project, number=number, key=key, kind=kind,
                period_start=period.start, period_end=period.end, generated_at=timezone.now(),
                generated_by=user, language=language, figures=content["figures"],
                summary=content["summary"],
            )  # fmt: skip
            stem = f"{FOLDER}/{project.pk}/{key}-{kind}-{period.start.isoformat()}"
            for ext in ("html", "pdf"):
                data: bytes = content[ext]
                name = default_storage.save(f"{stem}.{ext}", ContentFile(data))
                saved.append(name)
                getattr(report, f"{ext}_file").name = name
                setattr(report, f"{ext}_sha256", hashlib.sha256(data).hexdigest())
            report.save()
            audit.record(
                actor=user or "system", action="review_report.generated",
                object_type="review_report", object_key=key, project=project.key, internal=True,
                after={"kind": kind, "from": period.start, "to": period.end, "title": title,
                       "number": number, "html_sha256": report.html_sha256,
                       "pdf_sha256": report.pdf_sha256, "summary": content["summary"],
                       "notify": _audience(project)},
            )  # fmt: skip
    except BaseException as exc:
        for name in saved:
            default_storage.delete(name)
        if isinstance(exc, IntegrityError):
            # Another generator won the race between our check and our insert.
            raise _duplicate(project, kind, period) from None
        raise
    return report


def review_report_request(
    *,
    user: User,
    project: Project,
    kind: Any,
    date: Any = None,
    start: Any = None,
    end: Any = None,
) -> ReviewReport:
    """A report ``user`` asks for (the page, the API, the CLI): the period as
    ``requested_period`` reads it, then ``review_report_generate``."""
    kind, period = requested_period(kind, date=date, start=start, end=end)
    return review_report_generate(user=user, project=project, kind=kind, period=period)


# ------------------------------------------------------------------ the periodic job


def generate_due(now: dt.datetime | None = None) -> int:
    """For every project whose schedule is on, generate the report of the last complete period
    when it is missing. Idempotent; a project that fails is logged and the others go on.
    Returns how many reports were generated."""
    today = local_today(now)
    made = 0
    schedules = (
        ReviewSchedule.objects.exclude(frequency=ReviewFrequency.OFF)
        .select_related("project")
        .order_by("project__key")
    )
    for schedule in schedules:
        project, kind = schedule.project, schedule.frequency
        period = last_complete(kind, today)
        if _exists(project, kind, period):
            continue
        try:
            review_report_generate(user=None, project=project, kind=kind, period=period)
        except Conflict:
            continue  # another worker made it meanwhile
        except Exception:
            logger.exception("review report of %s for %s failed", project.key, period)
            continue
        made += 1
    return made
