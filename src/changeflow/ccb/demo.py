"""The board of the demo project: who sits on it, its policy (the customer representative's
approval is required), a change freeze ahead, and a change request left in review for the
board to vote on in the browser (the walk of issue 4's "Done when")."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from changeflow.accounts.models import Project, User
from changeflow.changes import services as changes
from changeflow.changes.models import ChangeRequest

from . import services


def load_demo(project: Project, users: dict[str, User], crs: list[ChangeRequest]) -> None:
    pm = users["wang.lei"]
    services.board_set(
        user=pm,
        project=project,
        data={
            "name": "电商平台变更控制委员会 / E-commerce platform CCB",
            "members": [
                {"username": "wang.lei", "role": "project_manager", "weight": 1},
                {"username": "chen.jing", "role": "tech_lead", "weight": 1},
                {"username": "liu.yang", "role": "qa", "weight": 1},
                {"username": "li.na", "role": "customer_rep", "weight": 1},
            ],
            "rule": "majority",
            "required_roles": ["customer_rep"],
            "chair": "wang.lei",
            "ratification_days": 3,
            "delegation": {
                "max_effort_hours": "40",
                "max_cost": "20000",
                "max_schedule_days": "5",
                "max_risk_exposure": "1.2",
            },  # fmt: skip
        },
    )
    start = (timezone.localtime() + dt.timedelta(days=30)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    services.freeze_window_create(
        user=pm, project=project, name="618 大促封版 / 618 sales release freeze",
        starts_at=start, ends_at=start + dt.timedelta(days=4),
        reason="大促期间只允许紧急变更 / only emergency changes during the sales festival",
    )  # fmt: skip
    # A change the board decides in the browser: the PM, the tech lead and QA vote, the
    # customer representative (a required role) last.
    lead = users["chen.jing"]
    cr = changes.change_request_create(
        user=users["zhou.jie"], project=project, channel="portal", submit=True,
        title="购物车商品保留 30 天 / Keep cart items for 30 days",
        description="顾客加入购物车的商品目前 7 天后清空，希望保留 30 天，并在降价时提醒。"
        "\n\nCart items are cleared after 7 days; keep them for 30 and notify on price drops.",
    )  # fmt: skip
    cr = changes.change_request_update(
        user=lead, cr=cr, data={"type": "modification", "priority": "P2", "urgency": "medium"}
    )
    cr = changes.change_request_transition(user=lead, cr=cr, action="triage")
    cr = changes.change_request_transition(user=lead, cr=cr, action="start_assessment")
    changes.assessment_create(
        user=lead, cr=cr, effort_hours="96", schedule_days="12", cost="28800", currency="CNY",
        method="expert",
        risks=[{"description": "购物车表数据量增长 4 倍 / cart table grows fourfold",
                "probability": "0.3", "impact": 3, "mitigation": "分区归档 / partition"}],
    )  # fmt: skip
    cr = changes.change_request_transition(user=lead, cr=cr, action="request_review")
    crs.append(cr)
