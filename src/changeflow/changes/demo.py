"""The demo's links between change requests, made through ``changes.links``: the CR being
assessed (inventory sync) depends on the one being implemented (VAT invoices: the order flow it
touches), and a customer's second request for SMS log-in, submitted after the first, is marked
as its duplicate by the project manager (withdrawn, the customer told)."""

from __future__ import annotations

from changeflow.accounts.models import Project, User

from . import links, services
from .models import ChangeRequest, LinkKind


def load_demo(project: Project, users: dict[str, User], crs: list[ChangeRequest]) -> None:
    pm, tl = users["wang.lei"], users["chen.jing"]
    keys = [cr.key for cr in crs]
    rows = ChangeRequest.objects.filter(project=project, key__in=keys).select_related("project")
    by_state: dict[str, ChangeRequest] = {}
    for cr in rows.order_by("number"):
        if not cr.emergency:
            by_state.setdefault(cr.state, cr)
    assessing, implementing = by_state.get("assessing"), by_state.get("implementing")
    if assessing is not None and implementing is not None:
        links.link_create(
            user=tl, cr=assessing, kind=LinkKind.DEPENDS_ON, target=implementing.key,
            note="库存预占依赖新的订单开票流程。Stock reservation needs the new invoicing flow.",
        )  # fmt: skip
    original = by_state.get("triaged")
    if original is not None:
        again = services.change_request_create(
            user=users["zhou.jie"], project=project, title="手机号 + 短信验证码登录",
            description="希望登录页面可以用手机号和短信验证码登录，不用输入密码。",
            channel="email", submit=True,
        )  # fmt: skip
        crs.append(again)
        links.mark_duplicate(
            user=pm, cr=again, original=original.key, note="同一需求，已在评估中。"
        )
