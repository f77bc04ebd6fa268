"""E-mail intake: a new mail becomes a change request, a reply a comment on its CR."""

from __future__ import annotations

import hashlib
import logging
import re
import uuid

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from changeflow.accounts.models import Membership, Project, Role, User
from changeflow.changes import services as changes
from changeflow.changes.models import ChangeRequest
from changeflow.core.errors import ApplicationError

from . import mail
from .models import InboundMessage

logger = logging.getLogger(__name__)
TITLE_MAX = 200
# The Message-ID of our acknowledgements names the CR, so a reply to one finds it.
_ACK_ID = re.compile(r"<changeflow\.ack\.([A-Za-z0-9_]+-\d+)\.")


def mail_from() -> str:
    return getattr(settings, "CHANGEFLOW_MAIL_FROM", "changeflow@localhost")


def _first_manager(project: Project) -> User | None:
    membership = (
        Membership.objects.filter(project=project, role=Role.PROJECT_MANAGER, user__is_active=True)
        .select_related("user")
        .order_by("pk")
        .first()
    )
    return membership.user if membership else None


def _member_by_address(project: Project, address: str) -> User | None:
    if not address:
        return None
    return (
        User.objects.filter(memberships__project=project, email__iexact=address, is_active=True)
        .order_by("pk")
        .first()
    )


def _find_cr(project: Project, parsed: mail.ParsedMail) -> ChangeRequest | None:
    ids = [i for i in [parsed.in_reply_to, *parsed.references] if i]
    if ids:
        known = (
            InboundMessage.objects.filter(
                project=project, message_id__in=ids, change_request__isnull=False
            )
            .select_related("change_request")
            .first()
        )
        if known:
            return known.change_request
        for message_id in ids:
            match = _ACK_ID.match(message_id)
            if match:
                cr = ChangeRequest.objects.filter(project=project, key=match.group(1)).first()
                if cr:
                    return cr
    pattern = r"(?<![A-Za-z0-9_])%s-(\d+)(?!\d)" % re.escape(project.key)
    for number in re.findall(pattern, parsed.subject, flags=re.IGNORECASE):
        cr = ChangeRequest.objects.filter(project=project, number=int(number)).first()
        if cr:
            return cr
    return None


def _store_attachments(*, user: User, cr: ChangeRequest, parsed: mail.ParsedMail) -> list[str]:
    """Store each attachment; those the upload checks refuse are skipped and reported."""
    skipped = []
    for filename, data in parsed.attachments:
        upload = SimpleUploadedFile(filename, data)
        try:
            with transaction.atomic():
                changes.attachment_create(user=user, cr=cr, upload=upload)
        except ApplicationError as exc:
            skipped.append(
                _("attachment %(name)s skipped: %(why)s") % {"name": filename, "why": exc}
            )
    return skipped


def _acknowledge(*, cr: ChangeRequest, to: str, subject: str, created: bool) -> None:
    if created:
        body = _(
            "Your request has been recorded as %(key)s. Keep %(key)s in the subject of "
            "any reply so that it joins the same change request."
        ) % {"key": cr.key}
    else:
        body = _("Your reply has been added to %(key)s.") % {"key": cr.key}
    domain = mail_from().rpartition("@")[2].strip("> ") or "localhost"
    message = EmailMessage(
        subject="[%s] %s" % (cr.key, subject or cr.title),
        body=body,
        from_email=mail_from(),
        to=[to],
        headers={
            "Message-ID": "<changeflow.ack.%s.%s@%s>" % (cr.key, uuid.uuid4().hex, domain),
            "Auto-Submitted": "auto-replied",
        },
    )
    try:
        message.send()
    except Exception:  # a mail server that is down must not undo the intake
        logger.exception("acknowledgement for %s to %s not sent", cr.key, to)


def email_ingest(*, project: Project, raw: bytes) -> InboundMessage:
    """Turn one raw mail into a CR, a comment on a CR, or an ignored record; once per
    Message-ID (a second delivery of the same mail returns the first record unchanged)."""
    parsed = mail.parse(raw)
    message_id = parsed.message_id or "<sha256.%s@changeflow>" % hashlib.sha256(raw).hexdigest()
    existing = InboundMessage.objects.filter(project=project, message_id=message_id).first()
    if existing:
        return existing
    record = InboundMessage(
        project=project,
        message_id=message_id[:998],
        in_reply_to=parsed.in_reply_to[:998],
        references=" ".join(parsed.references),
        sender=parsed.sender[:320],
        subject=parsed.subject[:998],
    )
    try:
        with transaction.atomic():
            _handle(project, parsed, record)
            record.save()
    except IntegrityError:
        # The same mail, delivered twice at once: the other delivery won.
        existing = InboundMessage.objects.filter(project=project, message_id=message_id).first()
        if existing:
            return existing
        raise
    return record


def _ignore(record: InboundMessage, reason: str) -> None:
    record.outcome = InboundMessage.Outcome.IGNORED
    record.reason = reason


def _handle(project: Project, parsed: mail.ParsedMail, record: InboundMessage) -> None:
    if parsed.auto_reason:
        return _ignore(record, _("automatic mail (%s)") % parsed.auto_reason)
    if not parsed.sender:
        return _ignore(record, _("no sender address"))
    manager = _first_manager(project)
    if manager is None:
        return _ignore(record, _("the project has no project manager"))
    member = _member_by_address(project, parsed.sender)
    record.sender_user = member
    sender_label = (
        "%s <%s>" % (parsed.sender_name, parsed.sender) if parsed.sender_name else parsed.sender
    )
    cr = _find_cr(project, parsed)
    notes = []
    if cr is not None:
        author = member or manager
        body = parsed.body or parsed.subject or _("(empty message)")
        if member is None:
            body = _("From %(sender)s by e-mail:") % {"sender": sender_label} + "\n\n" + body
        comment = changes.comment_create(user=author, cr=cr, body=body[:100_000])
        record.comment = comment
        record.outcome = InboundMessage.Outcome.COMMENTED
        if parsed.attachments:
            notes = _store_attachments(user=author, cr=cr, parsed=parsed)
    else:
        title = " ".join(parsed.subject.split())[:TITLE_MAX] or _("(no subject)")
        cr = changes.change_request_create(
            user=manager,
            project=project,
            title=title,
            description=parsed.body or parsed.subject or _("(empty message)"),
            channel="email",
            requested_by=member.username if member else None,
            requester_contact="" if member else sender_label[:200],
        )
        record.outcome = InboundMessage.Outcome.CREATED
        notes = _store_attachments(user=manager, cr=cr, parsed=parsed)
    record.change_request = cr
    record.reason = "; ".join(notes)
    created = record.outcome == InboundMessage.Outcome.CREATED
    transaction.on_commit(
        lambda: _acknowledge(cr=cr, to=parsed.sender, subject=parsed.subject, created=created)
    )
