"""Demo improvement actions: what the ACME team decided to change in its change process after
reviewing the demo's change requests — one in progress, one overdue, one done with its
resolution, one cancelled. Built through the services only."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from changeflow.accounts.models import Project, User
from changeflow.changes.models import ChangeRequest
from changeflow.changes.workflow import State

from . import actions


def _keys(crs: list[ChangeRequest], *states: str) -> list[str]:
    return [cr.key for cr in crs if cr.state in states][:2]


def load_demo(project: Project, users: dict[str, User], crs: list[ChangeRequest]) -> None:
    pm, tl = users["wang.lei"], users["chen.jing"]
    today = timezone.localdate()
    day = dt.timedelta(days=1)
    actions.improvement_create(
        user=pm, project=project, owner="chen.jing", due_date=today + 14 * day,
        title="影响分析模板增加接口清单 / Add an interface checklist to the impact template",
        problem="两个变更在评审时遗漏了对支付接口的影响，实施阶段才发现，导致返工。\n"
                "Two changes missed their effect on the payment interfaces until implementation.",
        description="- 在影响评估中列出受影响的外部接口\n- 评审前由技术负责人确认\n\n"
                    "*List the external interfaces touched; the tech lead confirms before review.*",
        change_requests=_keys(crs, State.IMPLEMENTING, State.VERIFYING),
    )  # fmt: skip
    overdue = actions.improvement_create(
        user=pm, project=project, owner="liu.yang", due_date=today - 5 * day,
        title="验收标准写入变更请求 / Acceptance criteria in every change request",
        problem="验证阶段多次因验收标准不明确被退回。\n"
                "Verification was rejected several times for unclear acceptance criteria.",
        description="在变更请求表单中增加“验收标准”必填说明，并在培训中讲解。",
        change_requests=_keys(crs, State.RETURNED),
    )  # fmt: skip
    actions.improvement_transition(user=users["liu.yang"], action=overdue, name="start")
    actions.improvement_update(user=users["liu.yang"], action=overdue, data={"progress": 40})
    done = actions.improvement_create(
        user=tl, project=project, owner="wang.lei", due_date=today - 10 * day,
        title="紧急变更 48 小时内追认 / Ratify emergency changes within 48 hours",
        problem="紧急变更事后追认平均拖延 6 天，审计时缺少决策记录。\n"
                "Emergency changes waited six days on average for the board's ratification.",
        description="CCB 周会固定议程增加“待追认紧急变更”，主席负责跟进。",
        change_requests=_keys(crs, State.IMPLEMENTING, State.CLOSED),
    )  # fmt: skip
    actions.improvement_transition(user=pm, action=done, name="start")
    actions.improvement_transition(
        user=pm, action=done, name="complete",
        resolution="CCB 周会议程模板已加入“待追认紧急变更”一项；近四周的紧急变更均在 48 小时内追认"
                   "（见会议纪要）。\nThe weekly CCB agenda now lists emergency changes awaiting "
                   "ratification; the last four weeks' were all ratified within 48 hours (see the "
                   "minutes).",
    )  # fmt: skip
    cancelled = actions.improvement_create(
        user=pm, project=project, owner="zhao.min", due_date=today + 30 * day,
        title="变更申请改用纸质签字 / Paper sign-off for change requests",
        problem="客户要求留存签字记录。 / The customer asked for signed records.",
    )  # fmt: skip
    actions.improvement_transition(
        user=pm, action=cancelled, name="cancel",
        comment="电子签名投票已满足客户的留痕要求。 / Signed votes already give the customer "
                "the record it asked for.",
    )  # fmt: skip
