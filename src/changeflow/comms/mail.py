"""Parse a raw mail: decoded headers, a text body, attachments, and whether it is automatic.

Real mail lies about its charset: GB2312 labels on GBK text, raw 8-bit GB2312 in headers,
no label at all. Every piece of text is decoded with the declared charset first, then
GB18030 (a superset of GB2312 and GBK) for the GB family, then ``charset-normalizer``.
"""

from __future__ import annotations

import email
import html
import re
from dataclasses import dataclass, field
from email import policy
from email.header import decode_header
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr

from django.conf import settings

GB_FAMILY = {"gb2312", "gbk", "gb18030", "euc-cn", "cp936", "x-gbk", "hz-gb-2312"}


@dataclass
class ParsedMail:
    message_id: str
    in_reply_to: str
    references: list[str]
    sender: str
    sender_name: str
    subject: str
    body: str
    attachments: list[tuple[str, bytes]] = field(default_factory=list)
    auto_reason: str = ""


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """``data`` as text: the declared charset, then GB18030 for the GB family, then detection."""
    label = (charset or "").strip().strip('"').lower()
    if label:
        try:
            return data.decode(label)
        except (LookupError, UnicodeDecodeError):
            pass
        if label in GB_FAMILY:
            try:
                return data.decode("gb18030")
            except UnicodeDecodeError:
                pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None:
        return str(best)
    return (
        data.decode(label or "utf-8", errors="replace")
        if _known(label)
        else data.decode("utf-8", errors="replace")
    )


def _known(label: str) -> bool:
    import codecs

    try:
        codecs.lookup(label)
    except LookupError:
        return False
    return True


def _header(msg: EmailMessage, name: str, hint: str | None = None) -> str:
    """A header decoded from its raw source (8-bit bytes kept as surrogate escapes)."""
    for key, value in msg.raw_items():
        if key.lower() == name.lower():
            return decode_header_text(str(value), hint)
    return ""


def decode_header_text(text: str, hint: str | None = None) -> str:
    """Decode RFC 2047 words and raw 8-bit bytes (surrogate-escaped) in one header value;
    raw bytes take ``hint`` (the body's charset) as their likely charset."""
    text = re.sub(r"\?=\s+=\?", "?==?", text)
    parts = []
    for chunk, charset in decode_header(text):
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8", "surrogateescape")
        parts.append(decode_bytes(chunk, charset or hint))
    return " ".join("".join(parts).split())


def html_to_text(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style|head)\b.*?</\1\s*>", " ", markup)
    markup = re.sub(r"(?i)<br\s*/?>|</(p|div|h[1-6]|li|tr|table|ul|ol)\s*>", "\n", markup)
    markup = re.sub(r"(?s)<!--.*?-->", " ", markup)
    markup = re.sub(r"(?s)<[^>]*>", " ", markup)
    text = html.unescape(markup)
    lines = (" ".join(line.split()) for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _payload(part: EmailMessage) -> bytes:
    """The part's content, transfer-decoded (b"" for a multipart container)."""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _part_text(part: EmailMessage) -> str:
    data = _payload(part)
    return decode_bytes(data, part.get_content_charset()).replace("\r\n", "\n")


def _filename(part: EmailMessage) -> str:
    raw = part.get_param("filename", header="content-disposition") or part.get_param("name")
    if raw is None:
        return ""
    if isinstance(raw, tuple):  # RFC 2231: (charset, language, value)
        charset, _lang, value = raw
        data = value.encode("latin-1", "surrogateescape") if isinstance(value, str) else value
        return decode_bytes(data, charset)
    return decode_header_text(str(raw))


def _ids(text: str) -> list[str]:
    return re.findall(r"<[^<>\s]+>", text or "")


def auto_reason(msg: EmailMessage, sender: str) -> str:
    """Why the mail is automatic (a loop, an auto-reply, a list), or "" for a person's mail."""
    auto = str(msg.get("Auto-Submitted", "") or "").strip().lower()
    if auto and auto != "no":
        return "auto-submitted: %s" % auto
    precedence = str(msg.get("Precedence", "") or "").strip().lower()
    if precedence in ("bulk", "junk", "list"):
        return "precedence: %s" % precedence
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"):
        if msg.get(name) is not None:
            return name.lower()
    own = parseaddr(getattr(settings, "CHANGEFLOW_MAIL_FROM", "changeflow@localhost"))[1]
    if sender and own and sender.lower() == own.lower():
        return "from our own address"
    local = sender.split("@")[0].lower()
    if local in ("mailer-daemon", "postmaster"):
        return "from %s" % local
    return ""


def parse(raw: bytes) -> ParsedMail:
    msg = email.message_from_bytes(raw, policy=policy.default)
    hint = next((p.get_content_charset() for p in msg.walk() if p.get_content_charset()), None)
    raw_from = ""
    for key, value in msg.raw_items():
        if key.lower() == "from":
            raw_from = " ".join(str(value).split())
            break
    raw_name, address = parseaddr(raw_from)
    if not address:
        pairs = getaddresses([raw_from])
        address = pairs[0][1] if pairs else ""
    name = decode_header_text(raw_name, hint)
    plain, markup, attachments = [], [], []
    for part in msg.walk():
        if part.is_multipart():
            continue
        disposition = (part.get_content_disposition() or "").lower()
        filename = _filename(part)
        ctype = part.get_content_type()
        if (
            disposition == "attachment"
            or (filename and disposition != "inline")
            or (filename and not ctype.startswith("text/"))
        ):
            attachments.append((filename or "attachment", _payload(part)))
        elif ctype == "text/plain":
            plain.append(_part_text(part))
        elif ctype == "text/html":
            markup.append(html_to_text(_part_text(part)))
    body = "\n\n".join(t.strip() for t in plain if t.strip()) or "\n\n".join(t for t in markup if t)
    references = _ids(str(msg.get("References", "") or ""))
    reply_ids = _ids(str(msg.get("In-Reply-To", "") or ""))
    return ParsedMail(
        message_id=(_ids(str(msg.get("Message-ID", "") or "")) or [""])[0],
        in_reply_to=reply_ids[0] if reply_ids else "",
        references=references,
        sender=address.strip(),
        sender_name=name.strip(),
        subject=_header(msg, "Subject", hint),
        body=body.strip(),
        attachments=attachments,
        auto_reason=auto_reason(msg, address.strip()),
    )
