"""The quantitative side of a case, computed from plain values (no ORM): tested without a
database, and fed by one annotated query per list (``selectors.case_list``).

Relative errors are ``(actual - estimate) / estimate``: +0.25 means the work took a quarter
more than estimated, -0.10 a tenth less. None wherever a value is missing or the estimate is 0
(no ratio to speak of).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


def relative_error(estimate: Decimal | None, actual: Decimal | None) -> Decimal | None:
    """``(actual - estimate) / estimate`` to four places, or None."""
    if estimate is None or actual is None or estimate == 0:
        return None
    return ((actual - estimate) / estimate).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def cycle_days(start: dt.datetime | None, end: dt.datetime | None) -> Decimal | None:
    """Days from ``start`` to ``end`` to one place, or None."""
    if start is None or end is None or end < start:
        return None
    seconds = Decimal((end - start).total_seconds())
    return (seconds / 86_400).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass(frozen=True)
class Figures:
    """What a case measured: the estimate (the CR's current assessment) against the actuals."""

    estimated_effort_hours: Decimal | None
    actual_effort_hours: Decimal | None
    estimated_schedule_days: Decimal | None
    actual_schedule_days: Decimal | None
    estimated_cost: Decimal | None
    actual_cost: Decimal | None
    currency: str
    submitted_at: dt.datetime | None
    ended_at: dt.datetime | None
    rating_average: Decimal | None
    rating_count: int

    @property
    def effort_error(self) -> Decimal | None:
        return relative_error(self.estimated_effort_hours, self.actual_effort_hours)

    @property
    def schedule_error(self) -> Decimal | None:
        return relative_error(self.estimated_schedule_days, self.actual_schedule_days)

    @property
    def cost_error(self) -> Decimal | None:
        return relative_error(self.estimated_cost, self.actual_cost)

    @property
    def cost_overrun(self) -> Decimal | None:
        """The actual cost beyond the estimate, in ``currency`` (negative: under budget)."""
        if self.estimated_cost is None or self.actual_cost is None:
            return None
        return self.actual_cost - self.estimated_cost

    @property
    def cycle_time_days(self) -> Decimal | None:
        """From submission to the final state (closed, rejected or withdrawn)."""
        return cycle_days(self.submitted_at, self.ended_at)

    def as_dict(self) -> dict:
        return {
            "estimated_effort_hours": self.estimated_effort_hours,
            "actual_effort_hours": self.actual_effort_hours,
            "effort_error": self.effort_error,
            "estimated_schedule_days": self.estimated_schedule_days,
            "actual_schedule_days": self.actual_schedule_days,
            "schedule_error": self.schedule_error,
            "estimated_cost": self.estimated_cost,
            "actual_cost": self.actual_cost,
            "cost_error": self.cost_error,
            "cost_overrun": self.cost_overrun,
            "currency": self.currency,
            "submitted_at": self.submitted_at,
            "ended_at": self.ended_at,
            "cycle_time_days": self.cycle_time_days,
            "rating_average": self.rating_average,
            "rating_count": self.rating_count,
        }
