"""Shared by the benchmark scripts: where their data lives, and realistic bilingual text.

The benchmarks run on their own CHANGEFLOW_HOME under ``benchmarks/out/`` (ignored by git), on
SQLite, never on the database a developer works with.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out"
HOME = OUT / "home"  # 100,000 change requests, for the HTTP benchmark
AUDIT_HOME = OUT / "audit-home"  # 1,000,000 audit events, for `audit verify`

PROJECT_KEY = "BENCH"
PASSWORD = "bench-Passw0rd-2026"  # benchmark data only, on loopback
USERS = (
    ("bench.pm", "project_manager"),
    ("bench.tl", "tech_lead"),
    ("bench.qa", "qa"),
    ("bench.dev", "developer"),
    ("bench.rep", "customer_rep"),
    ("bench.cust", "customer"),
)


def setup_django(home: Path, database_url: str | None = None) -> None:
    """Point changeflow at ``home`` on SQLite (or at ``database_url``, a database for
    benchmarks only) and start Django (call before any model import)."""
    home.mkdir(parents=True, exist_ok=True)
    os.environ["CHANGEFLOW_HOME"] = str(home)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    elif os.environ.pop("DATABASE_URL", None):
        print("note: DATABASE_URL ignored; the benchmarks run on SQLite", file=sys.stderr)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changeflow.settings")
    import django

    django.setup()


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    memory = f"{mem_kb / 1024 / 1024:.1f} GiB RAM"
    return f"{os.cpu_count()} CPUs, {cpu}, {memory}, Python {sys.version.split()[0]}"


# ---------------------------------------------------------------- text

ZH_AREAS = ["登录", "注册", "购物车", "结算", "支付", "订单", "退款", "库存", "物流", "会员",
            "积分", "优惠券", "发票", "报表", "搜索", "商品详情", "首页", "客服", "审批", "小程序",
            "短信验证码", "消息推送", "门店", "仓储", "对账"]  # fmt: skip
ZH_ASKS = ["需要支持{a}", "希望调整{a}的规则", "{a}页面增加筛选条件", "{a}流程需要增加审批",
           "{a}数据需要导出 Excel", "{a}接口响应太慢，需要优化", "{a}需要支持英文界面",
           "取消{a}中的旧功能", "{a}与财务系统对接", "{a}需要记录操作日志"]  # fmt: skip
ZH_SENTENCES = ["客户在例会上提出该需求，要求在下个版本上线。",
                "目前运营需要手工处理，每周耗时约 {n} 小时。",
                "该变更影响{a}和{b}两个模块。", "需要同步更新用户手册和培训材料。",
                "大促期间访问量是平时的 {n} 倍，必须保证性能。", "门店反馈{a}操作步骤太多。",
                "法务要求保留 {n} 个月的记录。", "请评估对现有{b}数据的影响。",
                "验收标准：{a}功能在移动端和电脑端均可正常使用。",
                "如果无法按期完成，可以分两期交付。"]  # fmt: skip
EN_AREAS = ["checkout", "login", "payment", "order history", "refunds", "inventory sync",
            "shipping", "loyalty points", "coupons", "invoices", "reports", "product search",
            "home page", "customer service", "approvals", "mobile app", "notifications",
            "warehouse", "reconciliation", "user accounts"]  # fmt: skip
EN_ASKS = ["Support {a} in the mobile app", "Change the rules for {a}", "Add filters to {a}",
           "Export {a} to Excel", "Speed up {a}", "Remove the legacy {a} screen",
           "Integrate {a} with the ERP", "Audit trail for {a}", "Translate {a} into English",
           "Allow bulk edits in {a}"]  # fmt: skip
EN_SENTENCES = ["The customer raised this in the weekly meeting and wants it in the next release.",
                "Operations spend about {n} hours a week doing this by hand.",
                "This affects both {a} and {b}.", "User manuals and training must be updated.",
                "Traffic during the sales festival is {n} times the usual: performance matters.",
                "Shops report that {a} takes too many steps.",
                "Legal asks us to keep the records for {n} months.",
                "Please assess the impact on existing {b} data.",
                "Acceptance: {a} works on phones and desktops alike.",
                "If the date cannot be met, deliver in two phases."]  # fmt: skip


def cr_text(rng: random.Random) -> dict[str, str]:
    """Title, description, reason and benefit of one plausible change request."""
    lang = rng.random()
    zh = lang < 0.5 or (lang >= 0.9 and rng.random() < 0.5)
    mixed = lang >= 0.9
    areas, asks, sentences = (ZH_AREAS, ZH_ASKS, ZH_SENTENCES) if zh else (
        EN_AREAS, EN_ASKS, EN_SENTENCES)  # fmt: skip
    a, b = rng.sample(areas, 2)
    title = rng.choice(asks).format(a=a)
    if mixed:  # bilingual titles, as customers in Shanghai write them
        title += " / " + rng.choice(EN_ASKS).format(a=rng.choice(EN_AREAS))
    parts = [s.format(a=a, b=b, n=rng.randint(2, 40))
             for s in rng.sample(sentences, rng.randint(3, 7))]  # fmt: skip
    if mixed:
        parts += [s.format(a=rng.choice(EN_AREAS), b=rng.choice(EN_AREAS), n=rng.randint(2, 40))
                  for s in rng.sample(EN_SENTENCES, 2)]  # fmt: skip
    joiner = "" if zh else " "
    reason = sentences[1].format(a=a, b=b, n=rng.randint(2, 40))
    benefit = ("提升客户满意度，减少人工操作。" if zh
               else "Happier customers and less manual work.")  # fmt: skip
    return {
        "title": title[:200],
        "description": joiner.join(parts),
        "reason": reason,
        "expected_benefit": benefit,
    }
