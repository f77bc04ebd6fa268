"""Demo data for estimation: a history of closed changes with actuals, and a Delphi round.

Everything goes through the services, as people would do it: each past change is submitted,
triaged, estimated by two experts, assessed, approved under the delegation limits,
implemented, its actuals recorded and verified — so its calibration records are made at close
like any other. The estimates run a little optimistic against the actuals, as real teams'
do, which the calibration then shows.
"""

from __future__ import annotations

from decimal import Decimal

from changeflow.accounts.models import Project, User
from changeflow.changes import selectors as change_selectors
from changeflow.changes import services as changes
from changeflow.changes.models import ChangeRequest

from . import services

# title, description, type, priority, (estimate h, days, cost), (actual h, days, cost)
HISTORY: tuple[tuple[str, str, str, str, tuple, tuple], ...] = (
    ("库存同步改为增量同步", "仓储系统每小时全量推送库存，改为每 10 分钟增量同步变化的 SKU。",
     "modification", "P1", (32, 4, 9600), (44, 6, 13200)),
    ("Reserve stock when an order is paid",
     "Hold the ordered quantity in the warehouse stock as soon as payment succeeds, release "
     "it when the order is cancelled.", "feature", "P1", (36, 5, 10800), (52, 7, 15600)),
    ("Warehouse API: use the batch endpoint for stock queries",
     "Query stock for up to 100 SKUs per call instead of one call per SKU; the warehouse "
     "API is rate limited to 60 calls a minute.", "modification", "P2", (16, 2, 4800),
     (18, 2, 5400)),
    ("价格同步：ERP 调价后 10 分钟内生效", "ERP 中商品调价后，商城价格需要在 10 分钟内同步更新。",
     "modification", "P2", (24, 3, 7200), (30, 4, 9000)),
    ("Sold-out items: hide the buy button when stock reaches zero",
     "Show 'sold out' and disable checkout as soon as the synced stock is zero.",
     "modification", "P2", (8, 1, 2400), (10, 1, 3000)),
    ("订单导出支持按日期范围筛选", "订单导出页面增加开始日期和结束日期，导出 Excel。",
     "feature", "P3", (12, 2, 3600), (14, 2, 4200)),
    ("Sales report: export by shop to Excel",
     "Operations need the weekly sales report per shop as an Excel file.", "feature", "P3",
     (16, 2, 4800), (15, 2, 4500)),
    ("报表中心增加退货率指标", "在报表中心增加按商品和门店统计的退货率。", "feature", "P3",
     (20, 3, 6000), (26, 3, 7800)),
    ("登录失败 5 次后锁定账号 15 分钟", "防止暴力破解，连续 5 次密码错误锁定账号 15 分钟。",
     "non_functional", "P2", (10, 2, 3000), (12, 2, 3600)),
    ("Two-factor sign-in for the operations console",
     "Staff sign in with a one-time code from an authenticator app.", "non_functional", "P2",
     (28, 4, 8400), (40, 5, 12000)),
    ("找回密码支持短信验证", "忘记密码时可以通过绑定手机号接收短信验证码重置密码。",
     "feature", "P2", (18, 3, 5400), (24, 3, 7200)),
    ("微信支付退款自动回调", "退款成功后接收微信支付回调，自动更新订单状态并通知用户。",
     "feature", "P1", (24, 3, 7200), (34, 5, 10200)),
    ("Alipay: show the payment QR code on desktop checkout",
     "Desktop shoppers scan a QR code with Alipay instead of being redirected.", "feature",
     "P2", (20, 3, 6000), (22, 3, 6600)),
    ("会员等级规则调整", "会员等级按近 12 个月消费金额计算，每月 1 日重算。", "modification",
     "P3", (16, 2, 4800), (21, 3, 6300)),
    ("Points expire after 24 months", "Member points older than 24 months expire on the "
     "first day of the month, with an e-mail reminder 30 days before.", "modification", "P3",
     (14, 2, 4200), (19, 3, 5700)),
    ("优惠券领取页面增加倒计时", "限时优惠券在领取页面显示距离结束的倒计时。", "feature", "P4",
     (6, 1, 1800), (7, 1, 2100)),
    ("Coupon: limit one coupon per order", "Only one coupon can be applied to an order; "
     "explain why at checkout.", "modification", "P2", (10, 2, 3000), (13, 2, 3900)),
    ("物流轨迹接入顺丰和京东物流", "订单详情页展示顺丰、京东物流的实时物流轨迹。", "feature",
     "P2", (32, 4, 9600), (46, 6, 13800)),
    ("Shipping: estimated delivery date on the product page",
     "Show 'arrives by' from the warehouse's cut-off time and the carrier's transit days.",
     "feature", "P3", (24, 3, 7200), (31, 4, 9300)),
    ("发票：电子发票自动发送到邮箱", "开票成功后自动把电子发票 PDF 发送到用户邮箱。", "feature",
     "P3", (12, 2, 3600), (11, 2, 3300)),
    ("English order e-mails for overseas addresses",
     "Send the shipping notice in English when the address is outside mainland China.",
     "modification", "P3", (8, 1, 2400), (9, 1, 2700)),
    ("商品详情页图片懒加载", "商品详情页图片在滚动到可视区域时再加载，提升首屏速度。",
     "non_functional", "P3", (8, 1, 2400), (6, 1, 1800)),
    ("Search: synonyms for common product names",
     "'sneakers' finds 'trainers', '手机壳' finds '保护壳'.", "modification", "P3",
     (20, 3, 6000), (27, 4, 8100)),
    ("后台操作日志保留 3 年", "运营后台的操作日志保留 3 年，并支持按操作人查询。",
     "documentation", "P4", (6, 1, 1800), (5, 1, 1500)),
)  # fmt: skip

# Each expert's habitual optimism (their most likely figure against the assessed estimate):
# the developer estimates low, the tech lead close — calibration will tell them apart.
EXPERTS = (("zhao.min", Decimal("0.8")), ("chen.jing", Decimal("1.0")))
RISK = [
    {"description": "回归测试范围扩大 / wider regression scope", "probability": "0.2",
     "impact": 2, "mitigation": "自动化回归 / automated regression"},
]  # fmt: skip


def _triple(m: Decimal) -> dict[str, str]:
    q = Decimal("0.5")
    return {
        "optimistic": str((m * Decimal("0.7")).quantize(q)),
        "most_likely": str(m.quantize(q)),
        "pessimistic": str((m * Decimal("1.6")).quantize(q)),
    }


def _history(project: Project, users: dict[str, User]) -> None:
    pm, tl, dev, qa = (users[u] for u in ("wang.lei", "chen.jing", "zhao.min", "liu.yang"))

    def fresh(cr: ChangeRequest, who: User) -> ChangeRequest:
        return change_selectors.change_request_get(user=who, key=cr.key)

    for i, (title, text, type_, prio, est, actual) in enumerate(HISTORY):
        requester = users["li.na" if i % 2 else "zhou.jie"]
        cr = changes.change_request_create(
            user=requester, project=project, title=title, description=text,
            channel=("web", "email", "meeting", "portal")[i % 4], submit=True,
        )  # fmt: skip
        cr = changes.change_request_update(
            user=tl, cr=fresh(cr, tl), data={"type": type_, "priority": prio}
        )
        for action in ("triage", "start_assessment"):
            cr = changes.change_request_transition(user=tl, cr=fresh(cr, tl), action=action)
        hours, days, cost = (Decimal(v) for v in est)
        for username, habit in EXPERTS:
            services.expert_estimate_submit(
                user=users[username], cr=fresh(cr, users[username]),
                effort=_triple(hours * habit), schedule=_triple(days * habit),
            )  # fmt: skip
        services.estimation_round_close(user=tl, cr=fresh(cr, tl))
        changes.assessment_create(
            user=tl, cr=fresh(cr, tl), effort_hours=hours, schedule_days=days, cost=cost,
            currency="CNY", method=("expert", "analogy")[i % 2], risks=RISK,
        )  # fmt: skip
        cr = changes.change_request_transition(user=pm, cr=fresh(cr, pm), action="approve")
        cr = changes.change_request_transition(
            user=tl, cr=fresh(cr, tl), action="start_implementation"
        )
        a_hours, a_days, a_cost = actual
        cr = changes.change_request_update(
            user=dev, cr=fresh(cr, dev),
            data={"actual_effort_hours": str(a_hours), "actual_schedule_days": str(a_days),
                  "actual_cost": str(a_cost)},
        )  # fmt: skip
        cr = changes.change_request_transition(
            user=dev, cr=fresh(cr, dev), action="submit_verification"
        )
        changes.change_request_transition(
            user=qa, cr=fresh(cr, qa), action="verify", comment="验收通过 / accepted"
        )


def _delphi(project: Project, users: dict[str, User], crs: list[ChangeRequest]) -> None:
    """The CR being assessed: three experts disagree, a second round brings them together."""
    target = next(
        (c for c in crs if c.state == "assessing" and c.title.startswith("Inventory sync")), None
    )
    if target is None:
        return

    def fresh(who: str) -> ChangeRequest:
        return change_selectors.change_request_get(user=users[who], key=target.key)

    first = {
        "chen.jing": ("28", "40", "64", "Batch endpoint plus a reservation table."),
        "zhao.min": ("16", "24", "40", "Only the sync interval changes; reservation is small."),
        "liu.yang": ("40", "60", "100", "Oversell scenarios need a load test of their own."),
    }
    for who, (o, m, p, why) in first.items():
        services.expert_estimate_submit(
            user=users[who], cr=fresh(who),
            effort={"optimistic": o, "most_likely": m, "pessimistic": p},
            schedule={"optimistic": "4", "most_likely": "6", "pessimistic": "9"},
            comment=why,
        )  # fmt: skip
    services.estimation_round_close(user=users["wang.lei"], cr=fresh("wang.lei"))  # disagree
    second = {
        "chen.jing": ("30", "42", "64", "Keeping the load test QA asked for."),
        "zhao.min": ("28", "38", "56", "Forgot the reservation release on cancel."),
        "liu.yang": ("32", "46", "72", "Load test can reuse the 11.11 scripts."),
    }
    for who, (o, m, p, why) in second.items():
        services.expert_estimate_submit(
            user=users[who], cr=fresh(who),
            effort={"optimistic": o, "most_likely": m, "pessimistic": p},
            schedule={"optimistic": "4", "most_likely": "6", "pessimistic": "8"},
            comment=why,
        )  # fmt: skip
    services.estimation_round_close(user=users["wang.lei"], cr=fresh("wang.lei"))  # agreed


def load_demo(project: Project, users: dict[str, User], crs: list[ChangeRequest]) -> None:
    """Called at the end of the demo build (see ``changeflow.demo``)."""
    _history(project, users)
    _delphi(project, users, crs)
    _round_open(users, crs)


def _round_open(users: dict[str, User], crs: list[ChangeRequest]) -> None:
    """A round still open: the tech lead has estimated the triaged SMS sign-in change; the
    other estimators are asked for theirs (their "My work" page lists it)."""
    target = next((c for c in crs if c.state == "triaged" and "短信验证码" in c.title), None)
    if target is None:
        return
    tl = users["chen.jing"]
    services.expert_estimate_submit(
        user=tl, cr=change_selectors.change_request_get(user=tl, key=target.key),
        effort={"optimistic": "16", "most_likely": "24", "pessimistic": "40"},
        comment="短信网关已有 SDK；限流另算 / The SMS gateway has an SDK; rate limiting extra.",
    )  # fmt: skip
