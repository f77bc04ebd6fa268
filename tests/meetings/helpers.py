"""Shared set-up of the meeting tests."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from changeflow.meetings import recurrence, services

WEEKLY = "FREQ=WEEKLY;BYDAY=TU"


def week_ago_start() -> dt.datetime:
    """A start a few weeks back whose weekly series has an occurrence 10 minutes ago."""
    now = timezone.now().replace(second=0, microsecond=0)
    return now - dt.timedelta(weeks=3, minutes=10)


def weekly_rule(start: dt.datetime, tz: str = "UTC") -> str:
    day = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[
        start.astimezone(recurrence.zone(tz)).weekday()
    ]
    return f"FREQ=WEEKLY;BYDAY={day}"


def make_meeting(p, kind="ccb", by=None, **data):
    start = data.pop("starts_at", None) or week_ago_start()
    data.setdefault("title", "CCB 周会" if kind == "ccb" else "客户沟通会")
    data.setdefault("timezone", "UTC")
    data.setdefault("rrule", weekly_rule(start, data["timezone"]))
    return services.meeting_create(
        user=by or p.pm, project=p.project, kind=kind, starts_at=start, **data
    )


def latest_key(meeting) -> str:
    from changeflow.meetings import selectors

    at = recurrence.last_before(selectors.schedule(meeting), timezone.now())
    return recurrence.occurrence_key(at)
