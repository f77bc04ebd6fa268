"""E-mail intake: a new mail becomes a change request, a reply a comment on its CR."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import ssl
import uuid

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from changeflow.accounts.models import Membership, Project, Role, User
from changeflow.changes import services as changes
from changeflow.changes.models import ChangeRequest
from changeflow.core import audit
from changeflow.core.access import role_in
from changeflow.core.errors import ApplicationError, PermissionDenied, ValidationError
from changeflow.core.tasks import enqueue_on_commit

from . import mail, selectors
from .models import AckStatus, CommunicationEntry, InboundMessage, Mailbox, QuarantinedMail

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


def _manager_names(project: Project) -> list[str]:
    return list(
        Membership.objects.filter(project=project, role=Role.PROJECT_MANAGER, user__is_active=True)
        .order_by("user__username")
        .values_list("user__username", flat=True)
    )


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


def _ack_message_id(cr: ChangeRequest) -> str:
    domain = mail_from().rpartition("@")[2].strip("> ") or "localhost"
    return "<changeflow.ack.%s.%s@%s>" % (cr.key, uuid.uuid4().hex, domain)


def acknowledgement_send(*, record_id: int) -> bool:
    """Send the acknowledgement of one inbound mail, once: True when sent now, False when it
    was sent before or is not needed. Raises when the mail server fails (the task retries)."""
    record = InboundMessage.objects.select_related("change_request").filter(pk=record_id).first()
    if record is None or record.ack_status != AckStatus.PENDING or record.change_request is None:
        return False
    cr = record.change_request
    # The sender's language is unknown: the acknowledgement says it in each of ours.
    texts = []
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            if record.outcome == InboundMessage.Outcome.CREATED:
                texts.append(
                    _(
                        "Your request has been recorded as %(key)s. Keep %(key)s in the subject "
                        "of any reply so that it joins the same change request."
                    )
                    % {"key": cr.key}
                )
            else:
                texts.append(_("Your reply has been added to %(key)s.") % {"key": cr.key})
    body = "\n\n".join(dict.fromkeys(texts))
    message = EmailMessage(
        subject="[%s] %s" % (cr.key, record.subject or cr.title),
        body=body,
        from_email=mail_from(),
        to=[record.sender],
        headers={
            "Message-ID": record.ack_message_id,
            "In-Reply-To": record.message_id,
            "References": record.message_id,
            "Auto-Submitted": "auto-replied",
        },
    )
    message.send()
    InboundMessage.objects.filter(pk=record.pk, ack_status=AckStatus.PENDING).update(
        ack_status=AckStatus.SENT, ack_sent_at=timezone.now(), ack_error=""
    )
    return True


def acknowledgement_failed(*, record_id: int, error: str) -> None:
    """The acknowledgement could not be sent after every retry: say why on the record."""
    with transaction.atomic():
        record = InboundMessage.objects.select_related("project").filter(pk=record_id).first()
        if record is None or record.ack_status != AckStatus.PENDING:
            return
        InboundMessage.objects.filter(pk=record.pk).update(
            ack_status=AckStatus.FAILED, ack_error=error[:2000]
        )
        audit.record(
            actor="system", action="mail.ack_failed", object_type="inbound_message",
            object_key=str(record.pk), project=record.project.key,
            after={"to": record.sender, "error": error[:500]}, internal=True,
        )  # fmt: skip


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
            if record.ack_status == AckStatus.PENDING:
                from .tasks import send_acknowledgement

                enqueue_on_commit(send_acknowledgement, record.pk)
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
        comment = changes.comment_create(
            user=author, cr=cr, body=body[:100_000],
            email_sender="" if member else sender_label,
        )  # fmt: skip
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
        # A mail to the project's formal channel is the submission itself: the CR enters
        # triage at once (the SLA clock starts), through the workflow like any submit.
        cr = changes.change_request_transition(user=manager, cr=cr, action="submit")
    record.change_request = cr
    record.reason = "; ".join(notes)
    record.ack_status = AckStatus.PENDING
    record.ack_message_id = _ack_message_id(cr)
    # The record's id is known only once saved: email_ingest enqueues the task after the save.


# --- every mail that arrives: taken in, or kept in quarantine -----------------------------


def _headers_for_report(raw: bytes) -> tuple[str, str]:
    """Sender and subject for the quarantine list, best effort on any bytes."""
    try:
        parsed = mail.parse(raw[:200_000])
        return parsed.sender[:320], parsed.subject[:998]
    except Exception:  # a mail too broken to read its headers is still kept
        return "", ""


def mail_quarantine(
    *,
    raw: bytes,
    reason: str,
    source: str,
    project: Project | None = None,
    project_hint: str = "",
    cr: ChangeRequest | None = None,
) -> QuarantinedMail:
    """Keep a mail that could not be taken in as it is, with the reason, for the managers."""
    sender, subject = _headers_for_report(raw)
    with transaction.atomic():
        item = QuarantinedMail.objects.create(
            project=project, project_hint=project_hint[:64], source=source[:16], raw=raw,
            size=len(raw), sender=sender, subject=subject, reason=reason, change_request=cr,
        )  # fmt: skip
        audit.record(
            actor="system", action="mail.quarantined", object_type="quarantined_mail",
            object_key=str(item.pk), project=project.key if project else "",
            after={
                "reason": reason[:500], "sender": sender, "size": len(raw), "source": source,
                # Who must be told: the project's managers (site admins read the rest).
                "notify": _manager_names(project) if project else [],
            },
            internal=True,
        )  # fmt: skip
    logger.info("mail kept in quarantine #%d: %s", item.pk, reason)
    return item


def mail_receive(
    *, raw: bytes, source: str, project: Project | None, project_hint: str = ""
) -> InboundMessage | QuarantinedMail:
    """Take one mail in (a CR, a comment, or ignored), or keep it in quarantine with the
    reason; never raises for what is in the mail, so a poller goes on with the next one."""
    if project is None:
        return mail_quarantine(
            raw=raw, source=source, project_hint=project_hint,
            reason=_("unknown project '%s'") % project_hint,
        )  # fmt: skip
    limit = settings.MAIL_MAX_BYTES
    if len(raw) > limit:
        return mail_quarantine(
            raw=raw, source=source, project=project,
            reason=_("the mail is larger than the limit of %(mb).1f MB") % {"mb": limit / 1048576},
        )  # fmt: skip
    try:
        record = email_ingest(project=project, raw=raw)
    except Exception as exc:  # malformed beyond what the parser forgives: kept, reported
        logger.exception("mail for %s could not be taken in", project.key)
        return mail_quarantine(
            raw=raw, source=source, project=project,
            reason=_("the mail could not be processed: %s") % (str(exc) or type(exc).__name__),
        )  # fmt: skip
    if record.reason and record.change_request_id and "skipped" in record.reason:
        # A refused attachment: the CR exists, and the whole mail is kept beside it.
        mail_quarantine(
            raw=raw, source=source, project=project, cr=record.change_request,
            reason=record.reason,
        )  # fmt: skip
    return record


def quarantine_resolve(*, user: User, item: QuarantinedMail) -> QuarantinedMail:
    """Mark a quarantined mail as dealt with (it stays kept)."""
    with transaction.atomic():
        done = QuarantinedMail.objects.filter(pk=item.pk, resolved_at__isnull=True).update(
            resolved_at=timezone.now(), resolved_by=user
        )
        if done:
            audit.record(
                actor=user, action="mail.quarantine_resolved", object_type="quarantined_mail",
                object_key=str(item.pk), project=item.project.key if item.project else "",
                internal=True,
            )  # fmt: skip
    item.refresh_from_db()
    return item


def quarantine_retry(*, user: User, item: QuarantinedMail) -> InboundMessage | QuarantinedMail:
    """Take a quarantined mail in again (after its project got a manager, a limit was raised…);
    it is resolved when that works."""
    if item.project is None:
        raise ValidationError(_("The mail names no known project."))
    limit = settings.MAIL_MAX_BYTES
    raw = bytes(item.raw)
    if len(raw) > limit:
        raise ValidationError(_("The mail is still larger than the limit."))
    try:
        record = email_ingest(project=item.project, raw=raw)
    except Exception as exc:
        raise ValidationError(
            _("The mail still cannot be processed: %s") % (str(exc) or type(exc).__name__)
        ) from exc
    quarantine_resolve(user=user, item=item)
    return record


# --- the project's mailbox settings ------------------------------------------------------

MAILBOX_FIELDS = ("host", "port", "security", "username", "folder", "poll_minutes", "enabled")


CERTIFICATE_MAX = 64 * 1024


def certificate_fingerprint(pem: str) -> str:
    """SHA-256 of the first certificate in ``pem`` (DER), as the audit log names it; "" for
    none."""
    if not pem.strip():
        return ""
    try:
        der = ssl.PEM_cert_to_DER_cert(pem.strip())
    except ValueError:
        return ""
    return "SHA256:" + hashlib.sha256(der).hexdigest()


def _clean_certificate(pem) -> str:
    """A PEM certificate (or several: a chain) that TLS can trust, or "" to trust only the
    public authorities; anything else is a 400 naming the problem."""
    pem = (pem or "").strip()
    if not pem:
        return ""
    problem = None
    if len(pem) > CERTIFICATE_MAX:
        problem = _("At most 64 KB.")
    elif "-----BEGIN CERTIFICATE-----" not in pem:
        problem = _("Paste the certificate in PEM form (-----BEGIN CERTIFICATE-----…).")
    else:
        try:
            ssl.create_default_context().load_verify_locations(cadata=pem)
        except (ssl.SSLError, ValueError, TypeError) as exc:  # TypeError: not ASCII text
            problem = _("Not a readable certificate: %s") % (exc.args[-1] if exc.args else exc)
    if problem:
        raise ValidationError(
            _("The trusted certificate is not valid."), fields={"trusted_certificate": [problem]}
        )
    return pem + "\n"


def mailbox_set(*, user: User, project: Project, data: dict) -> Mailbox:
    """Create or change the project's mailbox. A blank or absent ``password`` keeps the
    stored one; a new one is stored encrypted and never written to the audit log.
    ``trusted_certificate`` (PEM, "" for none) is audited by its fingerprint."""
    with transaction.atomic():
        mailbox = Mailbox.objects.select_for_update().filter(project=project).first()
        before = {f: getattr(mailbox, f) for f in MAILBOX_FIELDS} if mailbox else {}
        old_fingerprint = certificate_fingerprint(mailbox.trusted_certificate) if mailbox else ""
        if mailbox is None:
            mailbox = Mailbox(project=project)
        for name in MAILBOX_FIELDS:
            if name in data:
                setattr(mailbox, name, data[name])
        if "trusted_certificate" in data:
            mailbox.trusted_certificate = _clean_certificate(data["trusted_certificate"])
        password_changed = bool(data.get("password"))
        if password_changed:
            mailbox.set_password(data["password"])
        if not mailbox.host or not mailbox.username:
            raise ValidationError(
                _("A mailbox needs a server and a user name."),
                fields={"host": [_("Required.")]} if not mailbox.host else {
                    "username": [_("Required.")]},
            )  # fmt: skip
        if not 1 <= int(mailbox.port) <= 65535:
            raise ValidationError(_("A port is from 1 to 65535."), fields={"port": [_("1–65535")]})
        if not 1 <= int(mailbox.poll_minutes) <= 1440:
            raise ValidationError(
                _("Poll between every minute and once a day (1–1440 minutes)."),
                fields={"poll_minutes": [_("1–1440")]},
            )
        if before and (before["host"], before["username"], before["folder"]) != (
            mailbox.host, mailbox.username, mailbox.folder
        ):  # fmt: skip
            mailbox.uidvalidity, mailbox.last_uid = None, 0  # another mailbox: start afresh
        mailbox.save()
        after = {f: getattr(mailbox, f) for f in MAILBOX_FIELDS}
        after["password_changed"] = password_changed
        after["trusted_certificate"] = certificate_fingerprint(mailbox.trusted_certificate)
        if before:
            before["trusted_certificate"] = old_fingerprint
        audit.record(
            actor=user, action="mailbox.set", object_type="project", object_key=project.key,
            project=project.key, before=before, after=after, internal=True,
        )  # fmt: skip
    return mailbox


# --- communication log -------------------------------------------------------------------


def require_logger(user: User, project: Project) -> None:
    """403 unless ``user`` may log communication in ``project``: a member, not a viewer."""
    if selectors.may_log(user, project):
        return
    if role_in(user, project) is None:
        raise PermissionDenied(_("Only the project's members may log communication."))
    raise PermissionDenied(_("Viewers may not log communication."))


def communication_create(
    *,
    user: User,
    project: Project,
    channel: str,
    occurred_at,
    summary: str,
    participants: list[str] | None = None,
    change_requests: list[str] | None = None,
) -> CommunicationEntry:
    """Log one exchange with the customer; ``change_requests`` are keys of this project."""
    from .models import LogChannel

    require_logger(user, project)
    errors: dict[str, list] = {}
    if channel not in LogChannel.values:
        errors["channel"] = [_("Choose one of: %s.") % ", ".join(LogChannel.values)]
    summary = (summary or "").strip()
    if not summary:
        errors["summary"] = [_("Say what was discussed.")]
    elif len(summary) > 20_000:
        errors["summary"] = [_("At most 20,000 characters.")]
    people = [" ".join(str(p).split())[:200] for p in (participants or []) if str(p).strip()]
    if len(people) > 50:
        errors["participants"] = [_("At most 50 participants.")]
    keys = list(dict.fromkeys(change_requests or []))
    crs = list(ChangeRequest.objects.filter(project=project, key__in=keys))
    unknown = sorted(set(keys) - {cr.key for cr in crs})
    if unknown:
        errors["change_requests"] = [
            _("Not change requests of this project: %s.") % ", ".join(unknown)
        ]
    if occurred_at is None:
        errors["occurred_at"] = [_("Say when it happened.")]
    elif occurred_at > timezone.now() + dt.timedelta(days=1):
        errors["occurred_at"] = [_("That is in the future.")]
    if errors:
        raise ValidationError(_("The entry is not valid."), fields=errors)
    with transaction.atomic():
        entry = CommunicationEntry.objects.create(
            project=project, channel=channel, occurred_at=occurred_at, summary=summary,
            participants=people, created_by=user,
        )  # fmt: skip
        entry.change_requests.set(crs)
        audit.record(
            actor=user, action="communication.logged", object_type="communication",
            object_key=str(entry.pk), project=project.key,
            after={
                "channel": channel, "occurred_at": occurred_at, "participants": people,
                "summary": summary[:500], "change_requests": sorted(cr.key for cr in crs),
            },
        )  # fmt: skip
    return entry
