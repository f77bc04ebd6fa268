"""The communication part of the demo: the project's mailbox, a mail from the customer that
became a CR (with its attachment) and the customer's reply as a comment, a communication log,
and a CR left too long in triage, escalated to the PM."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage

from django.utils import timezone

from changeflow.accounts.models import Project, User
from changeflow.changes import services as changes
from changeflow.changes.models import ChangeRequest
from changeflow.comms.models import InboundMessage

from . import services, sla

SPEC = b"%PDF-1.4\n% demo attachment\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _mail(subject: str, body: str, message_id: str, *, reply_to: str = "", pdf: bool = False):
    msg = EmailMessage()
    msg["From"] = "周杰 <zhou.jie@acme-customer.example>"
    msg["To"] = "demo@changeflow.example"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    if reply_to:
        msg["In-Reply-To"] = reply_to
        msg["References"] = reply_to
    msg.set_content(body, charset="gb2312")
    if pdf:
        msg.add_attachment(SPEC, maintype="application", subtype="pdf", filename="对账单样例.pdf")
    return msg.as_bytes()


def load_demo(project: Project, users: dict[str, User], crs: list[ChangeRequest]) -> None:
    pm = users["wang.lei"]
    # The mailbox (off: the demo has no mail server; set the server and enable it).
    services.mailbox_set(
        user=pm, project=project,
        data={"host": "imap.example.com", "port": 993, "security": "ssl",
              "username": "changes@example.com", "password": "", "folder": "INBOX",
              "poll_minutes": 5, "enabled": False},
    )  # fmt: skip
    # A mail to the mailbox became a CR with its attachment; the customer's reply, a comment.
    first = services.mail_receive(
        raw=_mail(
            "对账单导出需要增加 PDF 格式",
            "您好，\n\n财务部希望月度对账单除 Excel 外还能导出为 PDF，样例见附件。\n\n周杰",
            "<demo-statement-1@acme-customer.example>",
            pdf=True,
        ),
        source="demo", project=project,
    )  # fmt: skip
    if isinstance(first, InboundMessage) and first.change_request is not None:
        cr = first.change_request
        # Submitted by the mail itself: the PM hands it to the tech lead to triage.
        cr = changes.change_request_update(user=pm, cr=cr, data={"assignee": "chen.jing"})
        services.mail_receive(
            raw=_mail(
                "Re: [%s] 对账单导出需要增加 PDF 格式" % cr.key,
                "补充：PDF 需要加盖电子签章。",
                "<demo-statement-2@acme-customer.example>",
                reply_to=first.ack_message_id,
            ),
            source="demo", project=project,
        )  # fmt: skip
    # The communication log.
    now = timezone.now()
    linked = [c.key for c in crs[:2]]
    services.communication_create(
        user=pm, project=project, channel="phone", occurred_at=now - dt.timedelta(days=2),
        participants=["周杰", "王磊"], change_requests=linked[:1],
        summary="电话沟通：客户确认短信验证码只用于登录，不用于支付。",
    )  # fmt: skip
    services.communication_create(
        user=users["li.na"], project=project, channel="meeting",
        occurred_at=now - dt.timedelta(days=1), participants=["周杰", "李娜", "陈静"],
        change_requests=linked, summary="周例会：逐项过了本周新增的变更请求，客户同意排期。",
    )  # fmt: skip
    # A CR left too long in triage (four days; P2 triage target is 24 h): escalated to the PM.
    overdue = next((c for c in crs if c.state == "triaged"), None)
    if overdue is not None:
        ChangeRequest.objects.filter(pk=overdue.pk).update(
            state_changed_at=now - dt.timedelta(days=4)
        )
        sla.sla_check(now=now)
