"""The demo project: ACME, 华东电商平台, with one user per role and a CR in every state.

Everything is made through the services, exactly as people would through the web or the API,
so every change request has its whole audit history and the chain verifies. ``load()`` is
idempotent: when the project exists it does nothing and says so.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from changeflow.accounts import services as accounts
from changeflow.accounts.models import Project, User
from changeflow.cases import demo as cases_demo
from changeflow.ccb import demo as ccb_demo
from changeflow.changes import demo as changes_demo
from changeflow.changes import selectors
from changeflow.changes import services as changes
from changeflow.changes.models import ChangeRequest
from changeflow.comms import demo as comms_demo
from changeflow.core.errors import ValidationError
from changeflow.crtemplates import demo as crtemplates_demo
from changeflow.crtemplates.models import CRTemplate
from changeflow.impact import demo as impact_demo
from changeflow.impact import demo_estimates as impact_estimates_demo
from changeflow.meetings import demo as meetings_demo
from changeflow.notifications import demo as notifications_demo
from changeflow.orders import demo as orders_demo
from changeflow.processes import demo as processes_demo
from changeflow.reports import demo as reports_demo
from changeflow.requirements import demo as requirements_demo

PROJECT_KEY = "ACME"
PROJECT_NAME = "华东电商平台 / East-China e-commerce platform"
CUSTOMER = "华东零售集团 East China Retail Group"
PROJECT_DESCRIPTION = (
    "为华东零售集团建设的 B2C 电商平台：商城、订单、支付、会员、物流和运营报表。\n\n"
    "The B2C e-commerce platform built for East China Retail Group: storefront, orders, "
    "payments, membership, logistics and operations reports."
)
CREDENTIALS_FILE = "demo-credentials.txt"

# (username, display name, role, e-mail); the site admin is not a project member.
ADMIN = ("admin", "站点管理员 Site admin", None, "admin@example.com")
PEOPLE = (
    ("wang.lei", "王磊 Wang Lei", "project_manager", "wang.lei@example.com"),
    ("chen.jing", "陈静 Chen Jing", "tech_lead", "chen.jing@example.com"),
    ("liu.yang", "刘洋 Liu Yang", "qa", "liu.yang@example.com"),
    ("zhao.min", "赵敏 Zhao Min", "developer", "zhao.min@example.com"),
    ("li.na", "李娜 Li Na", "customer_rep", "li.na@eastchina-retail.example"),
    ("zhou.jie", "周杰 Zhou Jie", "customer", "zhou.jie@eastchina-retail.example"),
    ("sun.yue", "孙悦 Sun Yue", "viewer", "sun.yue@example.com"),
)
# Delegated authority: the PM decides alone at or under all of these.
THRESHOLDS = {
    "delegate_max_effort_hours": "40",
    "delegate_max_cost": "20000",
    "delegate_max_schedule_days": "5",
}

# Unambiguous characters: easy to read off a terminal and type.
_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_password() -> str:
    """A random password of 3 × 5 characters (about 86 bits), e.g. ``k7Qmz-2xWvR-pT9aH``."""
    return "-".join("".join(secrets.choice(_ALPHABET) for _ in range(5)) for _ in range(3))


@dataclass
class Result:
    created: bool
    project: Project | None = None
    credentials: list[tuple[str, str, str]] = field(default_factory=list)  # user, role, password
    credentials_path: Path | None = None
    change_requests: list[ChangeRequest] = field(default_factory=list)


def credentials_path() -> Path:
    return Path(settings.HOME) / CREDENTIALS_FILE


def load() -> Result:
    """Create the demo project unless it exists; everything in one transaction."""
    if Project.objects.filter(key=PROJECT_KEY).exists():
        return Result(created=False, project=Project.objects.get(key=PROJECT_KEY))
    usernames = [ADMIN[0], *(p[0] for p in PEOPLE)]
    taken = sorted(User.objects.filter(username__in=usernames).values_list("username", flat=True))
    if taken:
        raise ValidationError(
            _("The demo needs its own users, and these exist already: %s") % ", ".join(taken)
        )
    with transaction.atomic():
        demo = _Demo()
        demo.build()
    assert demo.project is not None
    # Made as the transaction committed (notifications.receivers): dated after it.
    reports_demo.date_the_notifications(demo.project, demo.users)
    result = Result(
        created=True,
        project=demo.project,
        credentials=demo.credentials,
        change_requests=demo.crs,
    )
    result.credentials_path = _write_credentials(demo.credentials)
    return result


def _write_credentials(rows: list[tuple[str, str, str]]) -> Path:
    """Keep the passwords where ``make run`` can point to them later (mode 0600)."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(_("changeflow demo accounts (project %s)") % PROJECT_KEY + "\n")
        for username, role, password in rows:
            fh.write(f"{username:<10} {role:<16} {password}\n")
    os.chmod(path, 0o600)  # an older file keeps its mode through O_TRUNC
    return path


class _Demo:
    """Builds the project step by step, the way its people would."""

    def __init__(self) -> None:
        self.credentials: list[tuple[str, str, str]] = []
        self.passwords: dict[str, str] = {}
        self.users: dict[str, User] = {}
        self.crs: list[ChangeRequest] = []
        self.project: Project | None = None
        self.templates: dict[str, CRTemplate] = {}

    # ------------------------------------------------------------------ people and project

    def _user(self, username: str, display: str, email: str, *, admin: bool = False) -> User:
        password = new_password()
        user = accounts.user_create(
            username=username, password=password, email=email, display_name=display, admin=admin
        )
        self.passwords[username] = password
        self.users[username] = user
        return user

    def build(self) -> None:
        admin_name, admin_display, _role, admin_email = ADMIN
        admin = self._user(admin_name, admin_display, admin_email, admin=True)
        self.credentials.append((admin_name, "site admin", self.passwords[admin_name]))
        for username, display, role, email in PEOPLE:
            self._user(username, display, email)
            self.credentials.append((username, role, self.passwords[username]))
        project = accounts.project_create(
            user=admin, key=PROJECT_KEY, name=PROJECT_NAME, customer=CUSTOMER,
            description=PROJECT_DESCRIPTION,
        )  # fmt: skip
        for username, _display, role, _email in PEOPLE:
            accounts.membership_set(user=admin, project=project, username=username, role=role)
        # The admin set the project up; the project manager runs it from here on.
        accounts.membership_remove(user=admin, project=project, username=admin_name)
        self.project = accounts.project_update(
            user=self.users["wang.lei"], project=project, data=THRESHOLDS
        )
        self.templates = crtemplates_demo.load_demo(self.project, self.users)
        self._change_requests()
        ccb_demo.load_demo(self.project, self.users, self.crs)
        meetings_demo.load_demo(self.project, self.users, self.crs)
        requirements_demo.load_demo(self.project, self.users, self.crs)
        notifications_demo.load_demo(self.project, self.users, self.crs)
        impact_demo.load_demo(self.project, self.users, self.crs)
        comms_demo.load_demo(self.project, self.users, self.crs)
        impact_estimates_demo.load_demo(self.project, self.users, self.crs)
        cases_demo.load_demo(self.project, self.users, self.crs)
        orders_demo.load_demo(self.project, self.users, self.crs, self.passwords)
        changes_demo.load_demo(self.project, self.users, self.crs)
        reports_demo.load_demo(self.project, self.users, self.crs)  # dates the history: last
        # The process as it now stands (board, review schedule...), saved for the next projects.
        processes_demo.load_demo(self.project, self.users)

    # ------------------------------------------------------------------ verbs

    def _fresh(self, cr: ChangeRequest, who: str) -> ChangeRequest:
        return selectors.change_request_get(user=self.users[who], key=cr.key)

    def create(self, who: str, **fields) -> ChangeRequest:
        fields.setdefault("channel", "web")
        assert self.project is not None, "the project is made first"
        cr = changes.change_request_create(user=self.users[who], project=self.project, **fields)
        self.crs.append(cr)
        return cr

    def act(self, cr: ChangeRequest, who: str, action: str, comment: str = "") -> ChangeRequest:
        cr = changes.change_request_transition(
            user=self.users[who], cr=self._fresh(cr, who), action=action, comment=comment
        )
        self._replace(cr)
        return cr

    def edit(self, cr: ChangeRequest, who: str, **data) -> ChangeRequest:
        cr = changes.change_request_update(user=self.users[who], cr=self._fresh(cr, who), data=data)
        self._replace(cr)
        return cr

    def comment(self, cr: ChangeRequest, who: str, body: str, *, internal: bool = False) -> None:
        changes.comment_create(
            user=self.users[who], cr=self._fresh(cr, who), body=body, internal=internal
        )

    def assess(self, cr: ChangeRequest, who: str = "chen.jing", **data) -> None:
        changes.assessment_create(user=self.users[who], cr=self._fresh(cr, who), **data)

    def vote(self, cr: ChangeRequest, who: str, decision: str, comment: str = "") -> None:
        changes.vote_cast(
            user=self.users[who], cr=self._fresh(cr, who), decision=decision,
            password=self.passwords[who], comment=comment,
        )  # fmt: skip

    def _replace(self, cr: ChangeRequest) -> None:
        self.crs = [cr if c.pk == cr.pk else c for c in self.crs]

    def triage(self, cr: ChangeRequest, type_: str, priority: str, urgency: str = "medium"):
        cr = self.edit(cr, "chen.jing", type=type_, priority=priority, urgency=urgency)
        return self.act(cr, "chen.jing", "triage")

    def to_review(self, cr: ChangeRequest, type_: str, priority: str, **assessment):
        cr = self.triage(cr, type_, priority)
        cr = self.act(cr, "chen.jing", "start_assessment")
        self.assess(cr, **assessment)
        return self.act(cr, "chen.jing", "request_review")

    def implement_and_verify(self, cr: ChangeRequest, *, effort: str, to: str) -> ChangeRequest:
        cr = self.act(cr, "chen.jing", "start_implementation")
        if to == "implementing":
            return cr
        cr = self.edit(cr, "zhao.min", actual_effort_hours=effort)
        cr = self.act(cr, "zhao.min", "submit_verification")
        if to == "verifying":
            return cr
        return self.act(cr, "liu.yang", "verify", "回归测试通过 / regression suite passed")

    # ------------------------------------------------------------------ the change requests

    def _change_requests(self) -> None:
        small: dict[str, Any] = {
            "effort_hours": "24", "schedule_days": "3", "cost": "7200", "currency": "CNY",
            "method": "expert",
            "risks": [{"description": "回归测试范围扩大 / wider regression scope",
                       "probability": "0.2", "impact": 2, "mitigation": "自动化回归"}],
        }  # fmt: skip
        large: dict[str, Any] = {
            "effort_hours": "160", "schedule_days": "20", "cost": "48000", "currency": "CNY",
            "method": "analogy",
            "resources": [{"role": "backend", "hours": "96"}, {"role": "frontend", "hours": "40"},
                          {"role": "qa", "hours": "24"}],
            "risks": [
                {"description": "第三方接口变更 / third-party API changes", "probability": "0.4",
                 "impact": 4, "mitigation": "提前锁定接口版本 / pin the API version"},
                {"description": "大促前上线窗口紧张 / tight window before the sales festival",
                 "probability": "0.3", "impact": 3, "mitigation": "分批发布 / staged rollout"},
            ],
        }  # fmt: skip

        # draft — a customer's idea, not sent yet.
        self.create(
            "zhou.jie",
            title="订单报表支持按门店筛选导出",
            template=self.templates[crtemplates_demo.FEATURE].pk,
            fields={
                "module": "报表 / Reports",
                "users_affected": 12,
                "workaround": "导出全部订单后在 Excel 里按门店筛选。",
            },  # fmt: skip
            description="运营每周需要按门店导出订单明细，目前只能导出全部订单再手工筛选，"
            "希望在报表页面增加门店筛选，并支持导出 Excel。",
            reason="每周手工整理约 4 小时。",
            expected_benefit="运营每周节省 4 小时，减少统计错误。",
            labels=["报表", "运营"],
        )

        # submitted — sent by the customer representative through the API.
        self.create(
            "li.na",
            title="Checkout: pay with Alipay or WeChat Pay in one step",
            description="Shoppers must today pick the payment provider before the order "
            "summary. We ask for a single payment step offering Alipay and WeChat Pay side by "
            "side, with the QR code shown in place on desktop.",
            reason="Drop-off at the payment step is 18% on desktop.",
            expected_benefit="Fewer abandoned carts.",
            channel="api",
            labels=["checkout", "payments"],
            submit=True,
        )

        # triaged — classified by the tech lead.
        cr = self.create(
            "zhou.jie",
            title="登录页面需要支持短信验证码",
            description="登录页面需要支持短信验证码登录，方便不记得密码的老年用户。"
            "验证码 60 秒内有效，同一手机号每天最多发送 10 次。",
            reason="客服每天收到大量找回密码的电话。",
            channel="phone",
            submit=True,
        )
        self.triage(cr, "feature", "P2", "high")

        # assessing — being estimated.
        cr = self.create(
            "li.na",
            title="Inventory sync with the warehouse every 5 minutes instead of hourly",
            description="The hourly stock sync lets shoppers order items that sold out in the "
            "shops. Sync every 5 minutes, and reserve stock when an order is paid.",
            reason="About 40 oversold orders a week must be cancelled by hand.",
            channel="email",
            submit=True,
        )
        cr = self.triage(cr, "modification", "P1", "high")
        cr = self.act(cr, "chen.jing", "start_assessment")
        self.comment(
            cr, "chen.jing", "仓储系统的接口限流为每分钟 60 次，需要确认批量接口。",
            internal=True,
        )  # fmt: skip

        # in_review — above the delegation thresholds: the board votes; one vote is in.
        cr = self.create(
            "zhou.jie",
            title="会员积分可以抵扣运费",
            description="会员希望在结算时使用积分抵扣运费，100 积分抵扣 1 元，"
            "每单最多抵扣全部运费。需要同步调整积分规则页面和对账报表。",
            expected_benefit="提升会员活跃度和复购率。",
            channel="meeting",
            submit=True,
        )
        cr = self.to_review(cr, "feature", "P3", **large)
        self.vote(cr, "wang.lei", "approve", "符合本季度会员运营目标。")

        # approved — by the board's votes.
        cr = self.create(
            "zhou.jie",
            title="Product search: tolerate typos in English brand names",
            description="Searching 'addidas' or 'nikee' finds nothing. Suggest the closest "
            "brand and show its products, as the large marketplaces do.",
            channel="portal",
            submit=True,
        )
        cr = self.to_review(cr, "modification", "P2", **large)
        for who in ("wang.lei", "liu.yang", "li.na"):
            self.vote(cr, who, "approve")

        # implementing — a small change the PM approved alone (delegated authority).
        cr = self.create(
            "li.na",
            title="发票抬头支持增值税专用发票",
            template=self.templates[crtemplates_demo.REGULATORY].pk,
            fields={
                "regulation": "《增值税专用发票使用规定》第十一条",
                "authority": "国家税务总局 / State Taxation Administration",
                "effective_date": "2027-01-01",
                "personal_data": False,
            },  # fmt: skip
            description="企业客户下单时需要开具增值税专用发票，需填写税号、开户行、账号、"
            "注册地址和电话，并在订单详情中可下载电子发票。",
            channel="email",
            submit=True,
        )
        cr = self.triage(cr, "feature", "P2")
        cr = self.act(cr, "chen.jing", "start_assessment")
        self.assess(cr, **small)
        cr = self.act(cr, "wang.lei", "approve", "在授权范围内，批准。")
        self.implement_and_verify(cr, effort="0", to="implementing")

        # verifying — implemented; QA checks it.
        cr = self.create(
            "li.na",
            title="Order confirmation e-mail in English for overseas customers",
            description="Customers with an overseas shipping address should receive the "
            "order confirmation in English, with amounts in CNY and the exchange rate noted.",
            channel="email",
            submit=True,
        )
        cr = self.triage(cr, "modification", "P3")
        cr = self.act(cr, "chen.jing", "start_assessment")
        self.assess(cr, **small)
        cr = self.act(cr, "wang.lei", "approve")
        self.implement_and_verify(cr, effort="20", to="verifying")

        # closed — the whole way, through the board.
        cr = self.create(
            "zhou.jie",
            title="优惠券叠加规则调整：满减券与折扣券不可同时使用",
            description="目前满减券和折扣券可以叠加使用，导致部分订单实付金额低于成本。"
            "调整为同一订单只能使用一张满减券或一张折扣券，结算页给出提示。",
            reason="上月有 312 笔订单低于成本价成交。",
            channel="meeting",
            submit=True,
        )
        cr = self.to_review(cr, "modification", "P1", **large)
        for who in ("wang.lei", "chen.jing", "liu.yang"):
            self.vote(cr, who, "approve", "同意 / agreed")
        cr = self.implement_and_verify(cr, effort="150", to="closed")
        self.comment(cr, "zhou.jie", "已在生产环境确认，谢谢！Confirmed in production, thanks!")

        # rejected — delegated: small, but against the agreed scope.
        cr = self.create(
            "li.na",
            title="Remove guest checkout",
            description="Require every shopper to register before paying, to grow the member base.",
            channel="meeting",
            submit=True,
        )
        cr = self.triage(cr, "removal", "P4", "low")
        cr = self.act(cr, "chen.jing", "start_assessment")
        self.assess(cr, **small)
        self.act(
            cr, "wang.lei", "reject",
            "Guest checkout is in the signed scope (SOW §4.2); removing it costs conversions.",
        )  # fmt: skip

        # deferred — the board decides to take it up next quarter.
        cr = self.create(
            "zhou.jie",
            title="小程序端支持直播带货",
            description="在微信小程序中增加直播间，主播可以上架商品，观众边看边买。",
            expected_benefit="开拓直播电商渠道。",
            channel="im",
            submit=True,
        )
        cr = self.to_review(cr, "feature", "P3", **large)
        for who in ("wang.lei", "chen.jing", "li.na"):
            self.vote(cr, who, "defer", "下季度再评估 / revisit next quarter")

        # withdrawn — the customer changed their mind.
        cr = self.create(
            "zhou.jie",
            title="Dark mode for the operations console",
            template=self.templates[crtemplates_demo.UI_TWEAK].pk,
            fields={"page": "Operations console / 运营后台", "devices": "桌面 / Desktop"},
            description="A dark theme for the back-office console used on night shifts.",
            channel="portal",
            submit=True,
        )
        self.act(cr, "zhou.jie", "withdraw", "Not needed after all — night shifts end in May.")

        # returned — something is missing.
        cr = self.create(
            "li.na",
            title="物流跟踪页面显示预计送达时间",
            description="在订单物流跟踪页面显示预计送达时间。",
            channel="web",
            submit=True,
        )
        self.act(
            cr, "chen.jing", "return",
            "请补充需要对接的物流公司清单，以及预计送达时间的计算口径。",
        )  # fmt: skip

        # emergency — approved by the PM at once, ratification by the board pending.
        cr = self.create(
            "li.na",
            title="紧急：双十一期间暂停积分兑换 / Emergency: pause points redemption for 11.11",
            description="积分兑换接口在压测中出现超卖，双十一大促期间需要临时关闭积分兑换入口。"
            "\n\nPoints redemption oversold under load testing; switch it off during the "
            "Double 11 sales festival.",
            channel="phone",
            emergency=True,
            submit=True,
        )
        cr = self.triage(cr, "modification", "P1", "critical")
        cr = self.act(cr, "wang.lei", "approve_emergency", "大促在即，先执行后补批。")
        self.edit(cr, "wang.lei", assignee="zhao.min")

        # Who owes the next step: the PM assigns the CRs that are being worked on.
        # (The triaged one stays unassigned: its SLA escalation goes to the PM.)
        owners = {"assessing": "chen.jing", "implementing": "zhao.min", "verifying": "liu.yang"}
        for cr in list(self.crs):
            if cr.state in owners and cr.assignee_id is None:
                self.edit(cr, "wang.lei", assignee=owners[cr.state])
