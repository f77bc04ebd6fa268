"""Change requests with known figures, for the case tests."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from changeflow.changes import services
from changeflow.changes.models import ChangeRequest, StateChange
from tests.factories import advance, fresh, make_cr


def closed_cr(
    p: SimpleNamespace,
    *,
    title: str = "登录页面支持短信验证码",
    days: float = 3.5,
    effort: str = "50",
    cost: str = "15000",
    schedule: str = "4",
) -> ChangeRequest:
    """A CR assessed at 40 h, 5 days and 12,000 CNY (``complete_assessment``), closed with the
    actuals given, ``days`` after it was submitted (closed_at set by hand after the stage
    history's submission)."""
    cr = make_cr(p.project, by=p.customer, title=title, type="feature", priority="P2")
    cr = advance(cr, p, "verifying")
    services.change_request_update(
        user=p.developer, cr=fresh(cr, p.developer),
        data={"actual_effort_hours": effort, "actual_cost": cost, "actual_schedule_days": schedule},
    )  # fmt: skip
    cr = services.change_request_transition(user=p.qa, cr=fresh(cr, p.qa), action="verify")
    submitted = StateChange.objects.get(change_request=cr, to_state="submitted").at
    ChangeRequest.objects.filter(pk=cr.pk).update(closed_at=submitted + dt.timedelta(days=days))
    return fresh(cr, p.pm)
