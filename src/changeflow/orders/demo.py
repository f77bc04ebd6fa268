"""The demo's change orders: the implementing CR's order, issued and signed by the customer
representative (李娜); and the order of the CR the board is reviewing, issued and awaiting her
signature (the customer signs while the board decides). Built through the services only."""

from __future__ import annotations

from changeflow.accounts.models import Project, User
from changeflow.changes.models import ChangeRequest

from . import services


def load_demo(
    project: Project, users: dict[str, User], crs: list[ChangeRequest], passwords: dict[str, str]
) -> None:
    pm, rep = users["wang.lei"], users["li.na"]
    keys = [cr.key for cr in crs]
    rows = ChangeRequest.objects.filter(project=project, key__in=keys).select_related("project")
    by_state: dict[str, ChangeRequest] = {}
    for cr in rows.order_by("number"):
        by_state.setdefault(cr.state, cr)
    implementing, in_review = by_state.get("implementing"), by_state.get("in_review")
    if implementing is not None:
        order = services.change_order_create(
            user=pm, cr=implementing,
            data={"payment_terms": "验收后 30 日内一次性支付。"
                                   "Payable within 30 days of acceptance."},
        )  # fmt: skip
        order = services.change_order_issue(user=pm, order=order)
        services.change_order_sign(
            user=rep, order=order, password=passwords["li.na"], signer_name="李娜 Li Na",
            ip="127.0.0.1",
        )  # fmt: skip
    if in_review is not None:
        order = services.change_order_create(
            user=pm, cr=in_review,
            data={"scope": in_review.description + "\n\n不含积分规则页面的视觉改版。",
                  "payment_terms": "50% 签署后支付，50% 验收后支付。"},
        )  # fmt: skip
        services.change_order_issue(user=pm, order=order)
