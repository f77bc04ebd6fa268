"""Demo requirements, artifacts and trace links of the demo project (through the services).

Two parts: the sign-in/checkout specification with its design items, tests and documents (its
links, the traceability matrix and a suspect link after a later edit), and the loyalty-points
specification with a change request in review whose change set proposes edits (the reviewers
see the redline) and another CR being assessed that touches the same requirement (a conflict).

Shows the requirements area: a tree of bilingual requirements, design items, tests and
documents traced to them, a baseline, and a link left suspect by a later edit — so the
requirement pages, the traceability matrix and its review button have something to show.
"""

from __future__ import annotations

from changeflow.accounts.models import Project, User

from . import changesets, services
from .models import Requirement

REQUIREMENTS = [
    # (ref, parent ref, title, kind, priority, status, text)
    ("login", None, "用户登录 / Sign-in", "user", "must", "approved",
     "顾客可以用手机号和短信验证码登录，也可以用密码登录。\n\n"
     "Customers sign in with a mobile number and an SMS code, or with a password."),
    ("sms", "login", "短信验证码登录", "functional", "must", "approved",
     "- 验证码 6 位数字，5 分钟内有效\n- 同一手机号每分钟最多发送 1 次"),
    ("lockout", "login", "Lock the account after 5 failed sign-ins", "non_functional", "should",
     "draft", "After **5** failed attempts within 15 minutes the account is locked for 30 "
     "minutes."),
    ("checkout", None, "结算与支付 / Checkout", "business", "must", "approved",
     "支持支付宝、微信支付和银行卡支付。"),
    ("perf", "checkout", "Checkout responds within 2 s at peak", "non_functional", "must",
     "approved", "P95 of the checkout API under 2 seconds with 5x normal traffic (大促)."),
]  # fmt: skip
ARTIFACTS = [
    # (ref, kind, title, [(link kind, requirement ref)])
    ("d-login", "design", "登录模块设计 / Sign-in design", [("implements", "login")]),
    ("t-sms", "test", "短信验证码登录测试用例", [("verifies", "sms")]),
    ("t-lock", "test", "Lockout test cases", [("verifies", "lockout")]),
    ("c-pay", "code", "payment-service", [("implements", "checkout"), ("implements", "perf")]),
    (
        "doc",
        "document",
        "用户手册：登录与支付",
        [("documents", "login"), ("documents", "checkout")],
    ),
]


def _specification(project: Project, users: dict[str, User]):
    """The sign-in/checkout requirements with their artifacts and links (before the baseline)."""
    pm, tl = users["wang.lei"], users["chen.jing"]
    refs: dict[str, Requirement] = {}
    for ref, parent, title, kind, priority, status, text in REQUIREMENTS:
        refs[ref] = services.requirement_create(
            user=pm, project=project, title=title, text=text, kind=kind, priority=priority,
            status=status, parent=refs[parent].key if parent else None,
        )  # fmt: skip
    arts = {}
    for ref, kind, title, links in ARTIFACTS:
        arts[ref] = services.artifact_create(user=tl, project=project, kind=kind, title=title)
        for link_kind, target in links:
            services.link_create(user=tl, project=project, source=arts[ref].key,
                                 target=refs[target].key, kind=link_kind)  # fmt: skip
    services.link_create(user=pm, project=project, source=refs["sms"].key,
                         target=refs["login"].key, kind="refines")  # fmt: skip
    return refs, arts


def _after_the_baseline(project: Project, users: dict[str, User], refs, arts) -> None:
    """A requirement drafted after the baseline (so edited freely, without a CR), tested, then
    reworded: its test is suspect until someone reviews it. And a design item revised after the
    baseline: the tests depending on it turn suspect."""
    pm, tl = users["wang.lei"], users["chen.jing"]
    invoice = services.requirement_create(
        user=pm, project=project, title="电子发票", kind="functional", priority="could",
        text="订单完成后，顾客可以申请电子发票。", parent=refs["checkout"].key,
    )  # fmt: skip
    test = services.artifact_create(user=tl, project=project, kind="test", title="电子发票测试用例")
    services.link_create(user=tl, project=project, source=test.key, target=invoice.key,
                         kind="verifies")  # fmt: skip
    services.requirement_update(
        user=pm, requirement=invoice,
        data={"text": "订单完成后，顾客可以申请增值税普通电子发票或专用发票。"},
    )  # fmt: skip
    services.link_create(user=tl, project=project, source=arts["t-sms"].key,
                         target=arts["d-login"].key, kind="depends_on")  # fmt: skip
    services.artifact_update(
        user=tl, artifact=arts["d-login"],
        data={"description": "短信验证码改为 6 位；增加图形验证码防刷。"},
    )  # fmt: skip


def load_demo(project: Project, users: dict[str, User], crs: list) -> None:
    refs, arts = _specification(project, users)
    _change_sets(project, users, crs, refs)  # also freezes the baseline V1.0 of everything so far
    _after_the_baseline(project, users, refs, arts)
    # Frozen again, so that the baseline made when a CR closes differs from this one by
    # exactly that CR's change set.
    services.baseline_create(
        user=users["wang.lei"], project=project, name="V1.1",
        description="加入电子发票需求 / the e-invoice requirement added",
    )  # fmt: skip


def _change_sets(project: Project, users: dict[str, User], crs: list, refs) -> None:
    """The loyalty-points requirements, the baseline V1.0, and the change sets on two CRs."""

    pm, tl = users["wang.lei"], users["chen.jing"]

    def req(title: str, text: str, kind: str, priority: str = "must", parent=None):
        return services.requirement_create(
            user=pm, project=project, title=title, text=text, kind=kind, priority=priority,
            status="approved", parent=parent.key if parent else None,
        )  # fmt: skip

    points = req("会员积分", "会员可以在结算时使用积分抵扣部分金额。", "business")
    rule = req("积分抵扣规则", "100 积分抵扣 1 元，每单最多抵扣商品金额的 10%。", "functional",
               parent=points)  # fmt: skip
    coupons = req(
        "优惠券叠加", "满减券与折扣券可以同时使用，每单最多使用三张优惠券。", "functional"
    )

    def art(kind: str, title: str):
        return services.artifact_create(user=tl, project=project, kind=kind, title=title)

    def link(source, target, kind: str) -> None:
        services.link_create(user=tl, project=project, source=source.key, target=target.key,
                             kind=kind)  # fmt: skip

    design = art("design", "结算页优惠券区域设计")
    coupon_test = art("test", "优惠券叠加测试用例")
    points_test = art("test", "积分抵扣测试用例")
    code = art("code", "promotion-service")
    manual = art("document", "用户手册 · 优惠与积分")
    link(design, coupons, "refines")
    link(coupon_test, coupons, "verifies")
    link(code, design, "implements")
    link(points_test, rule, "verifies")
    link(manual, points, "documents")
    link(manual, coupons, "documents")

    signed = "合同签订时的需求基线 / the specification as signed"
    services.baseline_create(user=pm, project=project, name="V1.0", description=signed)

    # The loyalty-points CR in review proposes edits; the reviewers see the redline. (Drafted
    # in review, they reset the vote cast so far: the board sees why.) Any CR in review will do
    # when the demo has no such CR.
    in_review = [c for c in crs if c.state == "in_review"]
    points_cr = next(
        (c for c in in_review if "积分" in c.title), in_review[0] if in_review else None
    )
    assessing = [c for c in crs if c.state == "assessing"]
    checkout = refs["checkout"]
    if points_cr is not None:
        changesets.edit_create(
            user=tl, cr=points_cr, op="modify", requirement=rule.key,
            fields={"text": "100 积分抵扣 1 元，每单最多抵扣商品金额的 10%；"
                            "运费可以全部用积分抵扣。"},
        )  # fmt: skip
        changesets.edit_create(
            user=tl, cr=points_cr, op="add",
            fields={"title": "积分抵扣运费", "parent": points.key, "kind": "functional",
                    "priority": "should",
                    "text": "结算时运费可以用积分抵扣，100 积分抵扣 1 元，最多抵扣全部运费。"},
        )  # fmt: skip
        changesets.edit_create(
            user=tl, cr=points_cr, op="modify", requirement=checkout.key,
            fields={"text": "支持支付宝、微信支付和银行卡支付；会员可以用积分抵扣运费。"},
        )  # fmt: skip
    if assessing:  # the same checkout requirement: both CRs show the conflict
        changesets.edit_create(
            user=tl, cr=assessing[0], op="modify", requirement=checkout.key,
            fields={"text": "支持支付宝、微信支付和银行卡支付。订单支付成功后立即预占库存。"},
        )  # fmt: skip
