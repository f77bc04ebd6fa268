"""The demo's change request templates: the forms the ACME team offers for three kinds of
change, made by the project manager through the services; some demo CRs are made with them
(``changeflow.demo``)."""

from __future__ import annotations

from changeflow.accounts.models import Project, User

from . import services
from .models import CRTemplate

FEATURE = "功能需求 / Feature request"
REGULATORY = "合规变更 / Regulatory change"
UI_TWEAK = "界面微调 / UI tweak"

TEMPLATES = [
    {
        "name": FEATURE,
        "description": "新功能或对现有功能的扩展。/ A new capability, or more of an existing one.",
        "type": "feature",
        "scaffold": "## 背景 / Background\n\n\n## 期望的行为 / Desired behaviour\n\n\n"
        "## 验收标准 / Acceptance criteria\n\n- \n",
        "fields": [
            {"key": "module", "label": "业务模块 / Module", "kind": "choice", "required": True,
             "choices": ["订单 / Orders", "支付 / Payments", "会员 / Members", "物流 / Logistics",
                         "报表 / Reports", "其他 / Other"]},
            {"key": "users_affected", "label": "每周受影响用户数 / Users affected per week",
             "kind": "number", "help": "估算即可。/ An estimate is enough."},
            {"key": "workaround", "label": "目前的变通办法 / Current workaround",
             "kind": "long_text"},
        ],
    },
    {
        "name": REGULATORY,
        "description": "法律法规或监管要求带来的变更，有生效日期。/ A change a law or a "
        "regulator requires, with the date it takes effect.",
        "type": "modification",
        "priority": "P2",
        "urgency": "high",
        "labels": ["合规"],
        "scaffold": "## 法规要求 / What the rule requires\n\n\n## 现状差距 / Where we fall short"
        "\n\n",
        "fields": [
            {"key": "regulation", "label": "法规名称及条款 / Regulation and article",
             "kind": "text", "required": True},
            {"key": "authority", "label": "监管机构 / Authority", "kind": "choice",
             "required": True,
             "choices": ["国家税务总局 / State Taxation Administration",
                         "国家互联网信息办公室 / Cyberspace Administration",
                         "市场监督管理总局 / Market Regulation", "其他 / Other"]},
            {"key": "effective_date", "label": "生效日期 / Takes effect on", "kind": "date",
             "required": True},
            {"key": "personal_data", "label": "涉及个人信息？/ Personal data involved?",
             "kind": "yes_no"},
        ],
    },
    {
        "name": UI_TWEAK,
        "description": "页面文字、布局或样式的小改动。/ A small change of wording, layout or "
        "style on a page.",
        "type": "modification",
        "priority": "P4",
        "labels": ["UI"],
        "fields": [
            {"key": "page", "label": "页面 / Page", "kind": "text", "required": True},
            {"key": "devices", "label": "终端 / Devices", "kind": "choice",
             "choices": ["桌面 / Desktop", "手机 / Mobile", "小程序 / Mini program",
                         "全部 / All"]},
            {"key": "screenshot", "label": "已附截图 / Screenshot attached", "kind": "yes_no"},
        ],
    },
]  # fmt: skip


def load_demo(project: Project, users: dict[str, User]) -> dict[str, CRTemplate]:
    """The demo's templates by name, made by its project manager."""
    made = {}
    for data in TEMPLATES:
        template = services.template_create(user=users["wang.lei"], project=project, data=data)
        made[template.name] = template
    return made
