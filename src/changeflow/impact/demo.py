"""Demo data of the simulation: the ACME project's plan (48 tasks in Chinese, five milestones)
and the implementation tasks of two change requests, each simulated once so the CR page shows
the shift of the delivery date with its charts at once. Written through the services only."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from . import plan_io, plans

# (id, name, optimistic, most likely, pessimistic, depends_on, cost per day)
TASKS = [
    ("R1", "需求调研与访谈", 4, 5, 8, "", 2400),
    ("R2", "业务流程梳理", 3, 4, 6, "R1", 2400),
    ("R3", "需求规格说明书", 4, 5, 8, "R2", 2400),
    ("R4", "需求评审与冻结", 1, 2, 3, "R3", 4000),
    ("D1", "总体架构设计", 4, 6, 9, "R4", 3200),
    ("D2", "数据库设计", 3, 4, 6, "D1", 2800),
    ("D3", "接口设计", 3, 4, 7, "D1", 2800),
    ("D4", "交互与视觉设计", 5, 7, 10, "R4", 2400),
    ("D5", "设计评审", 1, 1, 2, "D2; D3; D4", 4000),
    ("E1", "开发环境与流水线搭建", 2, 3, 5, "D1", 2600),
    ("B1", "商品中心服务", 8, 10, 15, "D5; E1", 2800),
    ("B2", "订单服务", 10, 12, 18, "D5; E1", 2800),
    ("B3", "库存服务", 7, 9, 14, "D5; E1", 2800),
    ("B4", "支付对接（支付宝、微信支付）", 6, 8, 14, "D5; E1", 2800),
    ("B5", "会员与积分服务", 6, 8, 12, "D5; E1", 2800),
    ("B6", "优惠券与促销引擎", 8, 10, 16, "D5; E1", 2800),
    ("B7", "物流跟踪服务", 5, 6, 10, "D5; E1", 2800),
    ("B8", "搜索服务", 6, 8, 13, "B1", 2800),
    ("B9", "消息通知（短信、邮件）", 3, 4, 7, "D5; E1", 2800),
    ("B10", "后台权限与审计", 4, 5, 8, "D5; E1", 2800),
    ("F1", "商城首页与商品详情页", 6, 8, 12, "D5; B1", 2400),
    ("F2", "购物车与结算页", 6, 8, 13, "B2; B4", 2400),
    ("F3", "会员中心页面", 4, 5, 8, "B5", 2400),
    ("F4", "运营后台", 8, 10, 15, "B10; B6", 2400),
    ("F5", "小程序端", 10, 12, 18, "F1; F2", 2400),
    ("F6", "报表与数据看板", 5, 7, 11, "B2; B3", 2400),
    ("I1", "仓储系统接口对接", 5, 7, 12, "B3", 3000),
    ("I2", "ERP 财务对接", 5, 6, 10, "B2", 3000),
    ("I3", "第三方物流接口", 3, 4, 8, "B7", 3000),
    ("I4", "联调", 5, 7, 11, "F2; F3; F4; I1; I2; I3; B8; B9", 3200),
    ("T0", "提测", 0, 0, 0, "I4; F5; F6", 0),
    ("T1", "测试计划与用例", 4, 5, 7, "R4", 2000),
    ("T2", "功能测试第一轮", 6, 8, 12, "T0; T1", 2000),
    ("T3", "缺陷修复第一轮", 4, 6, 10, "T2", 2800),
    ("T4", "功能测试第二轮", 4, 5, 8, "T3", 2000),
    ("T5", "性能与压力测试", 3, 5, 9, "T3", 2600),
    ("T6", "安全测试", 2, 3, 6, "T3", 2600),
    ("T7", "缺陷修复第二轮", 2, 4, 7, "T4; T5; T6", 2800),
    ("U1", "用户验收测试", 5, 6, 10, "T7", 2200),
    ("U2", "UAT 问题修复", 2, 3, 6, "U1", 2800),
    ("P1", "生产环境准备", 3, 4, 6, "T5", 2600),
    ("P2", "数据迁移演练", 2, 3, 5, "P1", 2600),
    ("P3", "上线预案与回滚方案", 1, 2, 3, "P2", 2400),
    ("P4", "运营与客服培训", 2, 3, 4, "U1", 1800),
    ("P5", "正式上线", 1, 1, 2, "U2; P3; P4", 4000),
    ("P6", "上线后保障", 5, 5, 5, "P5", 2000),
    ("M1", "文档交付", 2, 3, 5, "P5", 1600),
    ("M2", "项目验收", 1, 2, 4, "P6; M1", 3000),
]
# (name, task, the target as a working day: the start date is day 1)
MILESTONES = [
    ("需求冻结", "R4", 18),
    ("设计评审通过", "D5", 31),
    ("提测", "T0", 65),
    ("用户验收完成", "U1", 97),
    ("正式上线", "P5", 102),
]
# The implementation tasks of two change requests: (CR title, after, before, tasks).
CHANGES = [
    (
        "会员积分可以抵扣运费",
        "B5",
        "I4",
        [
            ("X1", "积分抵扣规则设计", 1, 2, 3, "", 2800),
            ("X2", "结算页积分抵扣运费", 3, 4, 7, "X1", 2800),
            ("X3", "积分规则页面调整", 1, 2, 3, "X1", 2400),
            ("X4", "对账报表调整", 2, 3, 5, "X2", 2800),
            ("X5", "回归测试", 2, 3, 5, "X3; X4", 2000),
        ],
    ),
    (
        "Inventory sync with the warehouse every 5 minutes instead of hourly",
        "I1",
        "I4",
        [
            ("S1", "批量库存接口改造", 3, 4, 7, "", 3000),
            ("S2", "5 分钟同步任务与限流", 2, 3, 6, "S1", 3000),
            ("S3", "支付后预占库存", 3, 5, 9, "S1", 2800),
            ("S4", "超卖监控与告警", 1, 2, 3, "S2; S3", 2600),
        ],
    ),
]


def _rows(tasks) -> list[dict]:
    return [
        {"key": k, "name": n, "optimistic": o, "most_likely": m, "pessimistic": p,
         "rate": rate, "fixed_cost": 0, "depends_on": plan_io.parse_depends(deps)}
        for k, n, o, m, p, deps, rate in tasks
    ]  # fmt: skip


def _working_day(start: dt.date, day: int) -> dt.date:
    return plans.date_of(start, "working", day)


def load_demo(project, users, crs) -> None:
    """The plan, two change plans and one simulation of each (10,000 iterations, seed 2026)."""
    pm = users["wang.lei"]
    tech_lead = users["chen.jing"]
    # The project started two weeks ago, on a Monday.
    today = timezone.localdate()
    start = today - dt.timedelta(days=14 + today.weekday())
    milestones = [
        {"name": name, "task": task, "target_date": _working_day(start, day)}
        for name, task, day in MILESTONES
    ]
    clean = plan_io.clean_plan(_rows(TASKS), milestones)
    plans.plan_replace(
        user=pm, project=project, clean=clean, source="demo",
        header={"start_date": start, "calendar": "working", "currency": "CNY"},
    )  # fmt: skip
    by_title = {cr.title: cr for cr in crs}
    for title, after, before, tasks in CHANGES:
        cr = by_title.get(title)
        if cr is None:
            continue
        plans.change_plan_set(
            user=tech_lead, cr=cr,
            data={"tasks": [{**r, "depends_on": [{"task": d, "lag": lag} for d, lag in
                                                 r["depends_on"]]} for r in _rows(tasks)],
                  "after": [{"task": after, "lag": 0}], "before": [before]},
        )  # fmt: skip
        plans.simulation_start(user=tech_lead, project=project, cr=cr, iterations=10_000, seed=2026)
