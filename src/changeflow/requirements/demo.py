"""Demo requirements: a baselined specification with artifacts and trace links, and a change
request in review whose change set proposes requirement edits (the reviewers see the redline).
Another CR being assessed touches the same requirement, so both show a conflict."""

from __future__ import annotations

from changeflow.accounts.models import Project, User

from . import changesets, services


def load_demo(project: Project, users: dict[str, User], crs: list) -> None:
    from changeflow.changes.models import Vote

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
    pay = req("Checkout payment", "The customer pays with a bank card on the checkout page.",
              "functional")  # fmt: skip
    req("Checkout performance", "The checkout page loads within 2 seconds for 95% of requests.",
        "non_functional", "should", parent=pay)  # fmt: skip
    req("登录方式", "登录页面支持账号密码登录。", "user", "should")

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

    # A CR in review (preferably one without votes yet: a change set drafted in review
    # resets the votes cast so far) proposes edits; the reviewers see the redline.
    voted = set(
        Vote.objects.filter(change_request__in=crs).values_list("change_request_id", flat=True)
    )
    in_review = sorted(
        (c for c in crs if c.state == "in_review"), key=lambda c: (c.pk in voted, c.number)
    )
    assessing = [c for c in crs if c.state == "assessing"]
    if in_review:
        cr = in_review[0]
        changesets.edit_create(
            user=tl, cr=cr, op="modify", requirement=rule.key,
            fields={"text": "100 积分抵扣 1 元，每单最多抵扣商品金额的 10%；"
                            "运费可以全部用积分抵扣。"},
        )  # fmt: skip
        changesets.edit_create(
            user=tl, cr=cr, op="add",
            fields={"title": "积分抵扣运费", "parent": points.key, "kind": "functional",
                    "priority": "should",
                    "text": "结算时运费可以用积分抵扣，100 积分抵扣 1 元，最多抵扣全部运费。"},
        )  # fmt: skip
    if assessing:  # overlaps: both CRs show the conflict
        changesets.edit_create(
            user=tl, cr=assessing[0], op="modify", requirement=rule.key,
            fields={"priority": "should"},
        )  # fmt: skip
