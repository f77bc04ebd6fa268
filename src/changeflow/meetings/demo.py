"""Demo meetings: a weekly CCB meeting whose latest occurrence decided the CRs the board voted
on during the demo build (its minutes list each vote), and a weekly customer meeting whose
agenda is the project's open CRs. Built through the services only, from the CRs the demo made.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from changeflow.accounts.models import Project, User
from changeflow.changes.models import ChangeRequest, Ratification
from changeflow.changes.workflow import State

from . import recurrence, selectors, services
from .models import Outcome

TZ = "Asia/Shanghai"
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_OUTCOMES = {
    State.APPROVED: (Outcome.APPROVED, "收益明确、影响可控，委员会投票通过。"),
    State.IMPLEMENTING: (Outcome.APPROVED, "委员会投票通过，已进入实施。"),
    State.VERIFYING: (Outcome.APPROVED, "委员会投票通过。"),
    State.CLOSED: (Outcome.APPROVED, "委员会投票通过。"),
    State.REJECTED: (Outcome.REJECTED, "超出合同范围，委员会否决。"),
    State.DEFERRED: (Outcome.DEFERRED, "本季度资源不足，下季度重新评估。"),
}


def load_demo(project: Project, users: dict[str, User], crs: list[ChangeRequest]) -> None:
    pm, rep = users["wang.lei"], users["li.na"]
    now = timezone.now().astimezone(recurrence.zone(TZ))
    # The CCB meets weekly at this time of day; its latest meeting began 20 minutes ago, just
    # before the board's votes of the demo were signed.
    began = (now - dt.timedelta(minutes=20)).replace(second=0, microsecond=0)
    began = began.replace(minute=began.minute - began.minute % 5)
    ccb = services.meeting_create(
        user=pm, project=project, kind="ccb", title="CCB 变更评审周会 / Weekly CCB review",
        starts_at=began - dt.timedelta(weeks=4), timezone=TZ,
        rrule=f"FREQ=WEEKLY;BYDAY={DAYS[began.weekday()]}", duration_minutes=60,
        location="3 号会议室 / Room 3", remind_minutes_before=60,
        description="评审待决的变更请求和待追认的紧急变更。",
    )  # fmt: skip
    occ = selectors.occurrence_get(meeting=ccb, key=recurrence.occurrence_key(began))
    occ = services.occurrence_hold(user=pm, occurrence=occ, held_at=began)
    services.attendance_set(
        user=pm, occurrence=occ,
        entries=[{"username": u.username, "status": "present"} for u in ccb.invitees.all()],
    )  # fmt: skip
    for entry in selectors.agenda(occ):
        item, cr = entry.item, entry.cr
        if item is None or cr is None:
            continue
        cr.refresh_from_db()
        if cr.ratification == Ratification.PENDING:
            outcome, why = Outcome.CONTINUED, "紧急变更已实施，等待委员会追认投票。"
        elif cr.ratification == Ratification.RATIFIED:
            outcome, why = Outcome.RATIFIED, "紧急处理合理，委员会追认。"
        elif cr.state in _OUTCOMES:
            outcome, why = _OUTCOMES[State(cr.state)]
        else:
            outcome, why = Outcome.CONTINUED, "投票未完成，下次会议继续。"
        conditions = "上线前完成回归测试。" if outcome == Outcome.APPROVED else ""
        services.agenda_item_decide(
            user=pm, item=item, outcome=outcome, rationale=why, conditions=conditions
        )
    services.action_item_add(
        user=pm, occurrence=occ, title="更新需求基线并通知客户", owner="chen.jing",
        due_date=(now + dt.timedelta(days=7)).date(),
    )  # fmt: skip
    services.occurrence_minutes(
        user=pm, occurrence=occ,
        minutes="本次会议按议程逐项评审，投票结果见各议程项。\n\n"
        "The board reviewed each item; the signed votes are listed under each item.",
        internal_notes="客户对成本较敏感，报价时注意分阶段。",
    )  # fmt: skip
    services.occurrence_close(user=pm, occurrence=occ)

    # The customer meeting: weekly on Thursday 15:00 Shanghai time, run by the customer rep.
    first = now.replace(hour=15, minute=0, second=0, microsecond=0) - dt.timedelta(weeks=3)
    first += dt.timedelta(days=(3 - first.weekday()) % 7)
    customer = services.meeting_create(
        user=rep, project=project, kind="customer", title="客户沟通周会 / Weekly customer sync",
        starts_at=first, timezone=TZ, rrule="FREQ=WEEKLY;BYDAY=TH", duration_minutes=45,
        location="腾讯会议 / video call", remind_minutes_before=120,
        description="与华东零售集团同步变更请求的进展。",
    )  # fmt: skip
    last = recurrence.last_before(selectors.schedule(customer), timezone.now())
    if last is None:  # pragma: no cover - the series began three weeks ago
        return
    past = selectors.occurrence_get(meeting=customer, key=recurrence.occurrence_key(last))
    past = services.occurrence_hold(user=rep, occurrence=past, held_at=last)
    services.attendance_set(
        user=rep, occurrence=past,
        entries=[{"username": u.username, "status": "present" if u.username != "zhou.jie"
                  else "excused"} for u in customer.invitees.all()],
    )  # fmt: skip
    services.action_item_add(
        user=rep, occurrence=past, title="客户确认积分抵扣运费的上限", owner="zhou.jie",
        due_date=(now + dt.timedelta(days=3)).date(),
    )  # fmt: skip
    services.occurrence_minutes(
        user=rep, occurrence=past,
        minutes="逐项同步了未结变更请求的状态；客户将确认积分规则。",
    )  # fmt: skip
    services.occurrence_close(user=rep, occurrence=past)
