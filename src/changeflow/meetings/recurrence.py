"""RFC 5545 recurrence rules, checked and expanded (pure: no ORM).

Rules are expanded with python-dateutil from the first start expressed in the meeting's own
time zone, so the wall-clock time stays put across daylight-saving changes ("10:00 Berlin" is
09:00 UTC in winter and 08:00 UTC in summer). Every datetime that leaves this module is aware
and in UTC.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass

from dateutil.rrule import rrule, rrulestr
from django.utils.translation import gettext as _

# Meetings are no more frequent than daily; finer rules are mistakes (or abuse).
FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
PARTS = {
    "FREQ", "UNTIL", "COUNT", "INTERVAL", "BYSECOND", "BYMINUTE", "BYHOUR", "BYDAY",
    "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYMONTH", "BYSETPOS", "WKST",
}  # fmt: skip
MAX_COUNT = 1000
MAX_INTERVAL = 366
# A rule must give a meeting within this horizon of its first start, or it is refused.
HORIZON = dt.timedelta(days=5 * 366)
KEY_FORMAT = "%Y%m%dT%H%M%SZ"
_KEY = re.compile(r"^\d{8}T\d{6}Z\Z")


class RuleError(ValueError):
    """A rule that cannot be used, with a message naming the problem (translated)."""


@dataclass(frozen=True)
class Schedule:
    """What expanding needs: the first start (aware), its zone, the rule ('' = one-off)."""

    starts_at: dt.datetime
    timezone: str
    rule: str = ""


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA time zone ``name``; ``RuleError`` when there is none such."""
    try:
        if not name or name != name.strip() or len(name) > 64:
            raise zoneinfo.ZoneInfoNotFoundError(name)
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise RuleError(
            _("Unknown time zone %r (use an IANA name such as Asia/Shanghai).") % name
        ) from None


def normalise(text: str) -> str:
    """The rule as stored: upper case, no ``RRULE:`` prefix, no spaces."""
    value = (text or "").strip()
    if value.upper().startswith("RRULE:"):
        value = value[6:]
    return value.replace(" ", "").upper()


def check(text: str, *, starts_at: dt.datetime, timezone: str) -> str:
    """The normalised rule, or ``RuleError`` saying what is wrong with it."""
    value = normalise(text)
    if not value:
        return ""
    if len(value) > 500:
        raise RuleError(_("The rule is too long (at most 500 characters)."))
    if "\n" in value or "\r" in value or "DTSTART" in value:
        raise RuleError(
            _("Give only the RRULE value (e.g. FREQ=WEEKLY;BYDAY=TU); the start is separate.")
        )
    parts: dict[str, str] = {}
    for part in value.split(";"):
        name, sep, arg = part.partition("=")
        if not sep or not arg:
            raise RuleError(_("%r is not NAME=VALUE.") % part)
        if name not in PARTS:
            raise RuleError(_("Unknown rule part %s.") % name)
        if name in parts:
            raise RuleError(_("%s is given twice.") % name)
        parts[name] = arg
    if "FREQ" not in parts:
        raise RuleError(_("FREQ is required (DAILY, WEEKLY, MONTHLY or YEARLY)."))
    if parts["FREQ"] not in FREQUENCIES:
        raise RuleError(
            _("FREQ=%s is not allowed: meetings recur DAILY, WEEKLY, MONTHLY or YEARLY.")
            % parts["FREQ"]
        )
    if "COUNT" in parts and "UNTIL" in parts:
        raise RuleError(_("COUNT and UNTIL cannot both be given (RFC 5545)."))
    for name, limit in (("COUNT", MAX_COUNT), ("INTERVAL", MAX_INTERVAL)):
        if name in parts:
            arg = parts[name]
            if not arg.isdigit() or not 1 <= int(arg) <= limit:
                raise RuleError(
                    _("%(name)s must be a whole number from 1 to %(max)d.")
                    % {"name": name, "max": limit}
                )
    if "UNTIL" in parts and not parts["UNTIL"].endswith("Z"):
        raise RuleError(_("UNTIL must be in UTC, e.g. UNTIL=20271231T235959Z."))
    rule = _build(value, starts_at, timezone)
    local = starts_at.astimezone(zone(timezone))
    if rule.after(local, inc=True) is None or not rule.between(local, local + HORIZON, inc=True):
        raise RuleError(_("The rule gives no meeting within five years of the first one."))
    return value


def _build(value: str, starts_at: dt.datetime, timezone: str) -> rrule:
    local = starts_at.astimezone(zone(timezone))
    try:
        rule = rrulestr("RRULE:" + value, dtstart=local)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise RuleError(_("The rule is invalid: %s.") % str(exc).rstrip(".")) from None
    assert isinstance(rule, rrule)
    return rule


def between(schedule: Schedule, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The occurrence starts in ``[start, end)``, in UTC, earliest first."""
    if not schedule.rule:
        first = schedule.starts_at.astimezone(dt.UTC)
        return [first] if start <= first < end else []
    tz = zone(schedule.timezone)
    rule = _build(schedule.rule, schedule.starts_at, schedule.timezone)
    found = rule.between(start.astimezone(tz), end.astimezone(tz), inc=True)
    return [d.astimezone(dt.UTC) for d in found if d.astimezone(dt.UTC) < end]


def is_occurrence(schedule: Schedule, at: dt.datetime) -> bool:
    """Whether the series has a meeting starting exactly at ``at``."""
    return bool(between(schedule, at, at + dt.timedelta(seconds=1)))


def next_after(schedule: Schedule, at: dt.datetime) -> dt.datetime | None:
    """The first occurrence starting at or after ``at`` (UTC), or None."""
    if not schedule.rule:
        first = schedule.starts_at.astimezone(dt.UTC)
        return first if first >= at else None
    tz = zone(schedule.timezone)
    rule = _build(schedule.rule, schedule.starts_at, schedule.timezone)
    found = rule.after(at.astimezone(tz), inc=True)
    return found.astimezone(dt.UTC) if found else None


def last_before(schedule: Schedule, at: dt.datetime) -> dt.datetime | None:
    """The last occurrence starting before ``at`` (UTC), or None."""
    if not schedule.rule:
        first = schedule.starts_at.astimezone(dt.UTC)
        return first if first < at else None
    tz = zone(schedule.timezone)
    rule = _build(schedule.rule, schedule.starts_at, schedule.timezone)
    found = rule.before(at.astimezone(tz), inc=False)
    return found.astimezone(dt.UTC) if found else None


def occurrence_key(at: dt.datetime) -> str:
    """``20261201T020000Z``: an occurrence's address (its iCalendar RECURRENCE-ID in UTC)."""
    return at.astimezone(dt.UTC).strftime(KEY_FORMAT)


def parse_key(key: str) -> dt.datetime | None:
    """The UTC start an occurrence key names, or None when it is not one."""
    if not _KEY.match(key or ""):
        return None
    try:
        return dt.datetime.strptime(key, KEY_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def describe(rule: str) -> dict[str, str]:
    """The parts of a normalised rule (for the recurrence picker and the meeting page)."""
    return dict(p.split("=", 1) for p in rule.split(";")) if rule else {}
