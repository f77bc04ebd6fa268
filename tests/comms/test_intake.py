"""E-mail intake: new mail → CR, replies → comments, duplicates and auto-replies ignored."""

from email.message import EmailMessage

import pytest

from changeflow.changes.models import Attachment, ChangeRequest, Comment
from changeflow.comms.models import InboundMessage
from changeflow.comms.services import email_ingest
from changeflow.core.models import AuditEvent

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def make_mail(
    *, sender="li.lei@acme.cn", subject="登录页面增加短信验证码", body="请增加短信验证码登录。",
    message_id="<m1@acme.cn>", headers=None, attachments=(),
) -> bytes:  # fmt: skip
    msg = EmailMessage()
    msg["From"] = "李雷 <%s>" % sender
    msg["To"] = "acme@changeflow.example"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body, charset="gb18030")
    for filename, data, maintype, subtype in attachments:
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def ingest(project, raw, capture):
    """Take the mail in, then run the background tasks it queued (the acknowledgement)."""
    from changeflow.core.tasks import run_pending

    with capture(execute=True):
        record = email_ingest(project=project, raw=raw)
    run_pending()
    return record


def test_new_mail_from_a_member_becomes_a_cr(acme, mailoutbox, django_capture_on_commit_callbacks):
    record = ingest(acme.project, make_mail(), django_capture_on_commit_callbacks)
    assert record.outcome == "created" and record.sender_user == acme.customer
    cr = record.change_request
    assert (cr.channel, cr.title, cr.description) == (
        "email", "登录页面增加短信验证码", "请增加短信验证码登录。"
    )  # fmt: skip
    assert cr.requested_by == acme.customer and cr.requester_contact == ""
    # The mail is the submission: the CR is in triage at once, submitted by the workflow.
    assert cr.state == "submitted"
    actions = list(
        AuditEvent.objects.filter(object_key=cr.key).order_by("seq").values_list("action", "actor")
    )
    assert actions == [("cr.created", acme.pm.username), ("cr.submit", acme.pm.username)]
    assert len(mailoutbox) == 1
    ack = mailoutbox[0]
    assert ack.to == ["li.lei@acme.cn"] and cr.key in ack.subject and cr.key in ack.body
    assert ack.extra_headers["Auto-Submitted"] == "auto-replied"


def test_unknown_sender_is_kept_as_external_contact(acme, django_capture_on_commit_callbacks):
    raw = make_mail(sender="wang@customer.cn", subject="x" * 300)
    cr = ingest(acme.project, raw, django_capture_on_commit_callbacks).change_request
    assert cr.requested_by == acme.pm and "wang@customer.cn" in cr.requester_contact
    assert len(cr.title) == 200


def test_the_same_mail_twice_makes_one_cr(acme, mailoutbox, django_capture_on_commit_callbacks):
    first = ingest(acme.project, make_mail(), django_capture_on_commit_callbacks)
    second = ingest(acme.project, make_mail(), django_capture_on_commit_callbacks)
    assert first.pk == second.pk
    assert ChangeRequest.objects.filter(project=acme.project).count() == 1
    assert InboundMessage.objects.count() == 1 and len(mailoutbox) == 1


def test_reply_by_in_reply_to_and_by_subject_key(
    acme, mailoutbox, django_capture_on_commit_callbacks
):
    cr = ingest(acme.project, make_mail(), django_capture_on_commit_callbacks).change_request
    reply = make_mail(
        subject="Re: 登录页面", body="还需要支持邮箱验证码。", message_id="<m2@acme.cn>",
        headers={"In-Reply-To": "<m1@acme.cn>", "References": "<m1@acme.cn>"},
    )  # fmt: skip
    record = ingest(acme.project, reply, django_capture_on_commit_callbacks)
    assert record.outcome == "commented" and record.change_request == cr
    assert (
        record.comment.author == acme.customer and record.comment.body == "还需要支持邮箱验证码。"
    )
    # A stranger's reply naming the key in the subject: the PM writes it, naming the sender.
    by_key = make_mail(
        sender="wang@customer.cn", subject="回复：[%s] 进度如何？" % cr.key, body="请问进度？",
        message_id="<m3@customer.cn>",
    )  # fmt: skip
    record = ingest(acme.project, by_key, django_capture_on_commit_callbacks)
    assert record.outcome == "commented" and record.change_request == cr
    assert record.comment.author == acme.pm
    # The sender is kept beside the body, not written into it in the intake's language.
    assert record.comment.email_sender == "李雷 <wang@customer.cn>"
    assert record.comment.body == "请问进度？"
    assert Comment.objects.filter(change_request=cr).count() == 2
    assert ChangeRequest.objects.filter(project=acme.project).count() == 1
    # A reply to our acknowledgement finds the CR by the acknowledgement's Message-ID.
    ack_id = mailoutbox[0].extra_headers["Message-ID"]
    to_ack = make_mail(
        subject="Re: thanks", body="好的", message_id="<m4@acme.cn>",
        headers={"In-Reply-To": ack_id},
    )  # fmt: skip
    assert ingest(acme.project, to_ack, django_capture_on_commit_callbacks).change_request == cr


def test_key_of_another_project_is_not_a_reply(acme, django_capture_on_commit_callbacks):
    raw = make_mail(subject="About OTHER-1", message_id="<m9@acme.cn>")
    assert ingest(acme.project, raw, django_capture_on_commit_callbacks).outcome == "created"


def test_auto_reply_is_ignored(acme, mailoutbox, django_capture_on_commit_callbacks):
    raw = make_mail(headers={"Auto-Submitted": "auto-replied"}, subject="自动回复：不在办公室")
    record = ingest(acme.project, raw, django_capture_on_commit_callbacks)
    assert record.outcome == "ignored" and "auto-submitted" in record.reason
    assert record.change_request is None and not ChangeRequest.objects.exists()
    assert mailoutbox == []


def test_attachments_stored_and_refused_ones_recorded(acme, django_capture_on_commit_callbacks):
    raw = make_mail(
        attachments=[
            ("界面截图.png", PNG, "image", "png"),
            ("fake.pdf", b"not a pdf at all", "application", "pdf"),
            ("run.exe", b"MZ\x90\x00", "application", "octet-stream"),
        ]
    )
    record = ingest(acme.project, raw, django_capture_on_commit_callbacks)
    names = list(Attachment.objects.filter(change_request=record.change_request).values_list(
        "filename", flat=True
    ))  # fmt: skip
    assert names == ["界面截图.png"]
    assert "fake.pdf" in record.reason and "run.exe" in record.reason


def test_sample_gb2312_mail_becomes_a_cr(acme, samples, django_capture_on_commit_callbacks):
    raw = (samples / "flanker_charset-gb2312.eml").read_bytes()
    record = ingest(acme.project, raw, django_capture_on_commit_callbacks)
    cr = record.change_request
    assert cr.title == "提示：您的企业成员暂时无法登录邮件客户端"
    assert "尊敬的管理员：" in cr.description and "10000@qq.com" in cr.requester_contact
    # No Message-ID: the mail's digest stands for it, so a second delivery does nothing.
    assert ingest(acme.project, raw, django_capture_on_commit_callbacks).pk == record.pk


def test_a_mailed_cr_left_in_triage_escalates_to_the_pm(
    acme, samples, django_capture_on_commit_callbacks
):
    import datetime as dt

    from changeflow.comms import sla
    from changeflow.comms.models import SlaBreach
    from changeflow.notifications.models import Notification

    raw = (samples / "flanker_quoted-printable.eml").read_bytes()
    cr = ingest(acme.project, raw, django_capture_on_commit_callbacks).change_request
    cr.refresh_from_db()
    assert cr.state == "submitted" and cr.channel == "email"
    entered = cr.state_changed_at
    # No priority yet: held to P3, 24 h in the submitted stage.
    with django_capture_on_commit_callbacks(execute=True):
        assert sla.sla_check(now=entered + dt.timedelta(hours=23)) == []
        breaches = sla.sla_check(now=entered + dt.timedelta(hours=25))
    assert [(b.change_request_id, b.stage, b.level, b.notified) for b in breaches] == [
        (cr.pk, "submitted", 1, [acme.pm.username])
    ]
    assert SlaBreach.objects.filter(change_request=cr).count() == 1
    told = Notification.objects.filter(kind="sla.breached", object_key=cr.key)
    assert [n.user.username for n in told] == [acme.pm.username]
