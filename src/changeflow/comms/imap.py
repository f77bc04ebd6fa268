"""Polling a project's mailbox over IMAP (stdlib ``imaplib``).

New mail is found by UID: every message above the last UID taken in (``Mailbox.last_uid``), as
long as the folder's UIDVALIDITY is unchanged; when it changes, the folder is read again from
the start and the Message-ID check of ``email_ingest`` skips what was taken in already. Mail is
fetched with ``BODY.PEEK[]`` and marked ``\\Seen`` once taken in, and the mailbox's progress is
saved after each message, so a poll cut short (a crash, a killed worker) resumes where it was.
A mail over the size limit is not downloaded: it stays on the server and is reported.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import imaplib
import logging
import re
import ssl

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from changeflow.core.crypto import SecretUnreadable

from .models import Mailbox, Security
from .services import mail_quarantine, mail_receive

logger = logging.getLogger(__name__)
TIMEOUT = 30
MAX_PER_POLL = 200


class MailboxError(Exception):
    """The mailbox could not be read (server down, bad login, no such folder)."""


def tls_context(mailbox: Mailbox) -> ssl.SSLContext:
    """Verifying TLS: the server's certificate must chain to a public authority or to the
    mailbox's trusted certificate, and name the host; never unverified."""
    context = ssl.create_default_context()
    if mailbox.trusted_certificate.strip():
        context.load_verify_locations(cadata=mailbox.trusted_certificate)
    return context


def _connect(mailbox: Mailbox) -> imaplib.IMAP4:
    if mailbox.security == Security.SSL:
        return imaplib.IMAP4_SSL(
            mailbox.host, mailbox.port, ssl_context=tls_context(mailbox), timeout=TIMEOUT
        )
    conn = imaplib.IMAP4(mailbox.host, mailbox.port, timeout=TIMEOUT)
    if mailbox.security == Security.STARTTLS:
        try:
            conn.starttls(tls_context(mailbox))
        except BaseException:
            with contextlib.suppress(OSError):
                conn.shutdown()
            raise
    return conn


def _quote(folder: str) -> str:
    return '"%s"' % folder.replace("\\", "\\\\").replace('"', '\\"')


def _check(typ: str, data, what: str) -> list:
    if typ != "OK":
        detail = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
        raise MailboxError("%s: %s" % (what, detail or typ))
    return data


def poll(mailbox: Mailbox) -> int:
    """Take in the new mail of one mailbox; how many mails were handled. Connection and login
    problems are kept on the mailbox (``last_error``), never raised."""
    handled = 0
    error = ""
    try:
        handled = _poll(mailbox)
    except ssl.SSLCertVerificationError as exc:
        error = _(
            "the server's TLS certificate was refused (%(why)s); if the server uses a "
            "certificate of its own, paste it (PEM) as the mailbox's trusted certificate"
        ) % {"why": exc.verify_message or exc.reason or exc}
        logger.warning("mailbox of %s: %s", mailbox.project.key, error)
    except (TimeoutError, OSError, imaplib.IMAP4.error, MailboxError) as exc:
        error = "%s: %s" % (type(exc).__name__, exc) if str(exc) else type(exc).__name__
        logger.warning("mailbox of %s: %s", mailbox.project.key, error)
    Mailbox.objects.filter(pk=mailbox.pk).update(last_polled_at=timezone.now(), last_error=error)
    return handled


def _password(mailbox: Mailbox) -> str:
    try:
        return mailbox.get_password()
    except SecretUnreadable:
        raise MailboxError(
            _(
                "the stored password cannot be decrypted (the site's secret key has changed "
                "since it was saved); enter the mailbox password again"
            )
        ) from None


def _poll(mailbox: Mailbox) -> int:
    password = _password(mailbox)  # before connecting: nothing to try without it
    conn = _connect(mailbox)
    handled = 0
    try:
        _check(*conn.login(mailbox.username, password), "login")
        _check(*conn.select(_quote(mailbox.folder)), _("folder %s") % mailbox.folder)
        validity = int((conn.response("UIDVALIDITY")[1] or [b"0"])[0] or 0)
        last_uid = mailbox.last_uid if mailbox.uidvalidity == validity else 0
        if mailbox.uidvalidity != validity:
            Mailbox.objects.filter(pk=mailbox.pk).update(uidvalidity=validity, last_uid=0)
        data = _check(*conn.uid("SEARCH", "UID %d:*" % (last_uid + 1)), "search")
        uids = sorted(int(u) for u in (data[0] or b"").split() if int(u) > last_uid)
        for uid in uids[:MAX_PER_POLL]:
            _take(conn, mailbox, uid)
            Mailbox.objects.filter(pk=mailbox.pk, last_uid__lt=uid).update(last_uid=uid)
            handled += 1
    finally:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            conn.logout()
    return handled


def _take(conn: imaplib.IMAP4, mailbox: Mailbox, uid: int) -> None:
    source = "imap"
    data = _check(*conn.uid("FETCH", str(uid), "(RFC822.SIZE)"), "fetch size")
    size = int(re.search(rb"RFC822\.SIZE (\d+)", data[0] or b"").group(1))  # type: ignore[union-attr]
    if size > settings.MAIL_MAX_BYTES:
        head = _check(*conn.uid("FETCH", str(uid), "(BODY.PEEK[HEADER])"), "fetch header")
        header = next((part[1] for part in head if isinstance(part, tuple)), b"")
        mail_quarantine(
            raw=header, source=source, project=mailbox.project,
            reason=_(
                "the mail (%(size)d bytes) is larger than the limit; it was left on the server "
                "(folder %(folder)s, UID %(uid)d)"
            ) % {"size": size, "folder": mailbox.folder, "uid": uid},
        )  # fmt: skip
        return
    fetched = _check(*conn.uid("FETCH", str(uid), "(BODY.PEEK[])"), "fetch")
    raw = next((part[1] for part in fetched if isinstance(part, tuple)), None)
    if raw is None:
        raise MailboxError("fetch: UID %d returned no message" % uid)
    mail_receive(raw=raw, source=source, project=mailbox.project)
    conn.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Seen)")


def poll_due_mailboxes(now=None) -> int:
    """Poll each enabled mailbox whose interval has passed (the periodic job)."""
    now = now or timezone.now()
    due = [
        mb
        for mb in Mailbox.objects.filter(enabled=True).select_related("project")
        if mb.last_polled_at is None
        or mb.last_polled_at + dt.timedelta(minutes=mb.poll_minutes) <= now
    ]
    total = 0
    for mailbox in due:
        total += poll(mailbox)
    return total
