"""Demo cases: three of the demo's closed change requests kept in the case library — a success
(the coupon rule, through the board), a failure (the carriers' tracking, far over its estimate)
and a partial success (two-factor sign-in) — and the customers' ratings of their outcomes.
Built through the services only, after the estimation history that closed two of them.
"""

from __future__ import annotations

from changeflow.accounts.models import Project, User
from changeflow.changes.models import ChangeRequest
from changeflow.changes.workflow import State

from . import services
from .models import Outcome

CASES = (
    (
        "优惠券叠加规则调整",
        Outcome.SUCCESS,
        "范围清楚：客户在会议上用 312 笔低于成本的订单说明了问题，评审一次通过。\n"
        "The scope was clear from the start: the customer brought the 312 orders sold below "
        "cost to the meeting, and the board approved it in one round.",
        "- 用真实订单数据描述问题，评审讨论集中在方案上，而不是问题是否存在。\n"
        "- Describe a pricing problem with the orders it affected: the review discusses the "
        "solution, not whether there is a problem.\n"
        "- 结算页的提示文案请客户提前确认，上线后没有投诉。",
        ["促销", "pricing", "checkout"],
    ),
    (
        "物流轨迹接入顺丰和京东物流",
        Outcome.FAILURE,
        "按一家承运商的接口估算，两家接口的鉴权、回调和轨迹格式都不同；京东物流的沙箱环境"
        "申请用了一周。\n"
        "Estimated as one carrier integration; the two carriers differ in authentication, "
        "callbacks and tracking formats, and the JD Logistics sandbox took a week to obtain.",
        "**第三方接口先做技术验证再估算。** 对接外部系统的变更，评估前用半天调通沙箱。\n\n"
        "**Spike third-party APIs before estimating.** For a change that integrates an outside "
        "system, spend half a day on its sandbox before the assessment; count one integration "
        "per provider.",
        ["第三方接口", "estimation", "logistics"],
    ),
    (
        "Two-factor sign-in for the operations console",
        Outcome.PARTIAL,
        "The authenticator flow shipped on time for staff; recovery codes and the shared "
        "warehouse accounts were discovered during verification and added 12 hours.\n"
        "仓库共用账号的场景在需求阶段没有被识别。",
        "Ask who signs in with shared accounts before changing authentication. "
        "安全类变更在评估时列出所有账号类型。",
        ["2fa", "安全", "shared accounts"],
    ),
)
RATINGS = {
    "优惠券叠加规则调整": (
        ("zhou.jie", 5, "上线后再没有出现低于成本的订单。"),
        ("li.na", 4, "Good result; the checkout message could be clearer."),
    ),
    "物流轨迹接入顺丰和京东物流": (
        ("li.na", 2, "晚了两周上线，期间客服只能手工查询物流。"),
        ("zhou.jie", 3, ""),
    ),
    "Two-factor sign-in for the operations console": (("li.na", 4, "Works well for our staff."),),
}


def load_demo(project: Project, users: dict[str, User], crs: list[ChangeRequest]) -> None:
    closed = {
        cr.title: cr for cr in ChangeRequest.objects.filter(project=project, state=State.CLOSED)
    }
    qa = users["liu.yang"]
    for prefix, outcome, causes, lessons, tags in CASES:
        cr = next(cr for title, cr in closed.items() if title.startswith(prefix))
        services.case_mark(
            user=qa, cr=cr, outcome=outcome, root_causes=causes, lessons=lessons, tags=tags
        )
        for username, score, comment in RATINGS[prefix]:
            services.rating_set(user=users[username], cr=cr, score=score, comment=comment)
