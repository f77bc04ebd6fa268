"""Mail intake against real servers: Dovecot (IMAP) and aiosmtpd (SMTP) on loopback."""

from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from django_tasks_db.models import DBTaskResult

from changeflow.changes.models import Attachment, Comment
from changeflow.comms import imap
from changeflow.comms.models import InboundMessage, Mailbox, QuarantinedMail
from changeflow.core.models import AuditEvent
from changeflow.core.tasks import run_pending
from tests.comms.servers import free_port, smtp_mailers

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def customer_mail(
    *, subject="报表导出增加 Excel 格式", body="希望报表可以导出为 Excel。", reply_to=None,
    attachment=True,
) -> tuple[bytes, str]:  # fmt: skip
    msg = EmailMessage()
    msg["From"] = "周杰 <zhou.jie@customer.example>"
    msg["To"] = "acme@changeflow.test"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id = make_msgid(domain="customer.example")
    if reply_to:
        msg["In-Reply-To"] = reply_to
        msg["References"] = reply_to
    msg.set_content(body, charset="gb2312")
    if attachment:
        msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="需求说明.pdf")
    return msg.as_bytes(), message_id


@pytest.fixture
def mailbox(personas, imap):
    box = Mailbox(
        project=personas.project, host="127.0.0.1", port=imap.port, security="none",
        username=imap.user, poll_minutes=1,
    )  # fmt: skip
    box.set_password(imap.password)
    box.save()
    return box


def test_mail_in_the_mailbox_becomes_a_cr_with_its_attachment_ack_and_reply_becomes_comment(
    personas, imap, mailbox, smtp_server, settings, django_capture_on_commit_callbacks
):
    settings.MAILERS = smtp_mailers(smtp_server.port)
    raw, message_id = customer_mail()
    imap.append(raw)
    with django_capture_on_commit_callbacks(execute=True):
        assert imap_poll(mailbox) == 1
    record = InboundMessage.objects.get(message_id=message_id)
    cr = record.change_request
    assert record.outcome == "created" and cr.channel == "email"
    assert cr.title == "报表导出增加 Excel 格式" and "Excel" in cr.description
    assert cr.requester_contact.startswith("周杰")  # not a member: kept as an external contact
    attachment = Attachment.objects.get(change_request=cr)
    assert attachment.filename == "需求说明.pdf" and attachment.file.read() == PDF
    assert imap.seen_flags() == [True]
    # The acknowledgement, by a background task, really delivered over SMTP.
    assert run_pending() == 1
    assert len(smtp_server.messages) == 1
    ack = smtp_server.messages[0]
    assert ack.rcpt_tos == ["zhou.jie@customer.example"]
    ack_text = ack.content.decode()
    assert cr.key in ack_text and "Auto-Submitted: auto-replied" in ack_text
    record.refresh_from_db()
    assert record.ack_status == "sent" and record.ack_message_id in ack_text
    # A second poll takes nothing twice.
    mailbox.refresh_from_db()
    mailbox.last_polled_at = None
    assert imap_poll(mailbox) == 0

    # The customer answers the acknowledgement: a comment on the same CR.
    reply, _ = customer_mail(
        subject="Re: [%s] 报表导出增加 Excel 格式" % cr.key, body="补充：需要保留公式。",
        reply_to=record.ack_message_id, attachment=False,
    )  # fmt: skip
    imap.append(reply)
    mailbox.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        assert imap_poll(mailbox) == 1
    comment = Comment.objects.get(change_request=cr)
    assert comment.body == "补充：需要保留公式。"
    assert "zhou.jie@customer.example" in comment.email_sender
    assert run_pending() == 1
    assert len(smtp_server.messages) == 2


def imap_poll(mailbox) -> int:
    return imap.poll(Mailbox.objects.select_related("project").get(pk=mailbox.pk))


def test_a_mailbox_that_cannot_be_reached_or_logged_into_is_reported_not_raised(
    personas, imap, mailbox
):
    mailbox.set_password("wrong")
    mailbox.save()
    assert imap_poll(mailbox) == 0
    mailbox.refresh_from_db()
    assert "login" in mailbox.last_error.lower() or "auth" in mailbox.last_error.lower()
    mailbox.port = free_port()  # nothing listens there
    mailbox.save()
    assert imap_poll(mailbox) == 0
    mailbox.refresh_from_db()
    assert "refused" in mailbox.last_error.lower()


def test_malformed_huge_and_unknown_charset_mail_is_kept_and_the_poll_goes_on(
    personas, imap, mailbox, settings, django_capture_on_commit_callbacks
):
    settings.MAIL_MAX_BYTES = 50_000
    imap.append(b"From: x@y.example\r\nSubject: big\r\nMessage-ID: <big@y>\r\n\r\n" + b"A" * 60_000)
    odd = (
        b"From: =?x-unknown-charset?B?5byg5LiJ?= <odd@y.example>\r\n"
        b"Subject: =?x-klingon?Q?abc?=\r\nMessage-ID: <odd@y>\r\n"
        b"Content-Type: text/plain; charset=x-klingon\r\n\r\n\xb2\xe2\xca\xd4\r\n"
    )
    imap.append(odd)
    good, good_id = customer_mail(attachment=False)
    imap.append(good)
    with django_capture_on_commit_callbacks(execute=True):
        assert imap_poll(mailbox) == 3
    kept = QuarantinedMail.objects.get(project=personas.project)
    assert "larger than the limit" in kept.reason and "UID 1" in kept.reason
    assert b"Subject: big" in bytes(kept.raw)
    assert InboundMessage.objects.get(message_id="<odd@y>").outcome == "created"
    assert InboundMessage.objects.get(message_id=good_id).outcome == "created"
    assert AuditEvent.objects.filter(action="mail.quarantined").count() == 1
    mailbox.refresh_from_db()
    assert mailbox.last_error == "" and mailbox.last_uid == 3


def test_smtp_down_the_acknowledgement_is_retried_then_failed_with_the_reason(
    personas, settings, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    from changeflow.comms.services import mail_receive

    settings.MAILERS = smtp_mailers(free_port())  # nothing listens: connection refused
    raw, message_id = customer_mail(attachment=False)
    with django_capture_on_commit_callbacks(execute=True):
        record = mail_receive(raw=raw, source="test", project=personas.project)
    assert record.change_request is not None  # the intake itself does not wait for SMTP
    for _ in range(6):
        DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())
        run_pending()
    record.refresh_from_db()
    assert DBTaskResult.objects.filter(status="FAILED").count() == 5  # every attempt
    assert record.ack_status == "failed" and "refused" in record.ack_error.lower()
    assert AuditEvent.objects.filter(action="mail.ack_failed").exists()
    assert record.change_request.key  # nothing lost


def test_periodic_job_polls_only_due_mailboxes(personas, imap, mailbox):
    from datetime import timedelta

    from django.utils import timezone

    imap.append(customer_mail(attachment=False)[0])
    now = timezone.now()
    Mailbox.objects.filter(pk=mailbox.pk).update(last_polled_at=now)
    from changeflow.comms.imap import poll_due_mailboxes

    assert poll_due_mailboxes(now) == 0
    assert poll_due_mailboxes(now + timedelta(minutes=2)) == 1
