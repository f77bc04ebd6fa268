"""Webhook requests in each platform's own message format, with its own signing — pure.

- ``generic``: our JSON document. Headers: ``X-Changeflow-Event`` (the kind),
  ``X-Changeflow-Delivery`` and ``Idempotency-Key`` (the delivery's key, the same on every
  retry), ``X-Changeflow-Timestamp`` (Unix seconds of this attempt) and, with a secret,
  ``X-Changeflow-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>``.
  A receiver recomputes the HMAC over the raw body, compares in constant time, and refuses a
  timestamp more than five minutes from its clock (replay).
- ``dingtalk`` (custom robot): ``{"msgtype": "markdown", "markdown": {"title", "text"}}``;
  with a secret, ``timestamp`` (milliseconds) and ``sign`` =
  urlencode(base64(HMAC-SHA256(key=secret, msg="<timestamp>\\n<secret>"))) as query parameters.
- ``feishu`` (Feishu/Lark custom bot): a message card, ``{"msg_type": "interactive", "card":
  {"header": {"title"}, "elements": [plain-text div, link button]}}``; with a
  secret, ``timestamp`` (seconds) and ``sign`` = base64(HMAC-SHA256(key="<timestamp>\\n<secret>",
  msg=b"")) in the body.
- ``wecom`` (group robot): ``{"msgtype": "markdown", "markdown": {"content"}}``; no signing.
- ``slack`` (incoming webhook): ``{"text", "blocks": [section mrkdwn]}``; no signing.
Every request also carries ``Idempotency-Key`` and ``X-Changeflow-Delivery``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlsplit, urlunsplit

USER_AGENT = "changeflow-webhook/1"


@dataclass(frozen=True)
class Request:
    url: str
    headers: dict[str, str]
    body: bytes


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def generic_signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def dingtalk_sign(secret: str, timestamp_ms: str) -> str:
    """The ``sign`` query value (already URL-encoded)."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


def feishu_sign(secret: str, timestamp_s: str) -> str:
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def _add_query(url: str, extra: str) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _markdown(message: dict[str, Any], *, bold: str = "**") -> str:
    lines = [f"{bold}{message['headline']}{bold}"]
    lines += [f"> {line}" for line in message.get("lines", []) if line]
    if message.get("link"):
        lines.append(f"[{message.get('key') or message['link']}]({message['link']})")
    return "\n\n".join(lines)


def _feishu_card(message: dict[str, Any]) -> dict[str, Any]:
    """A message card: the headline as its title, the lines as plain text (not lark_md, so a
    CR title cannot mention everyone or inject markup), and a button opening the link."""
    elements: list[dict[str, Any]] = []
    lines = [line for line in message.get("lines", []) if line]
    if lines:
        elements.append({"tag": "div", "text": {"tag": "plain_text", "content": "\n".join(lines)}})
    if message.get("link"):
        button = {
            "tag": "button",
            "text": {"tag": "plain_text", "content": message.get("key") or message["link"]},
            "type": "primary",
            "url": message["link"],
        }
        elements.append({"tag": "action", "actions": [button]})
    return {
        "config": {"wide_screen_mode": True},
        "header": {
            "title": {"tag": "plain_text", "content": message["headline"]},
            "template": "blue",
        },
        "elements": elements,
    }


def _slack_escape(text: str) -> str:
    # Slack reads &, < and > as markup (<!channel> would ping everyone).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def build(
    kind: str, url: str, secret: str, payload: dict[str, Any], *, key: str, now: float
) -> Request:
    """The request for one attempt. ``payload`` holds ``event`` (the generic document) and
    ``message`` (headline, lines, link) made when the delivery was created."""
    message = payload["message"]
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": key,
        "X-Changeflow-Delivery": key,
    }
    if kind == "dingtalk":
        body = _json({
            "msgtype": "markdown",
            "markdown": {"title": message["headline"][:64], "text": _markdown(message)},
        })  # fmt: skip
        if secret:
            ts = str(int(now * 1000))
            url = _add_query(url, f"timestamp={ts}&sign={dingtalk_sign(secret, ts)}")
        return Request(url, headers, body)
    if kind == "feishu":
        doc: dict[str, Any] = {}
        if secret:
            ts = str(int(now))
            doc = {"timestamp": ts, "sign": feishu_sign(secret, ts)}
        doc.update({"msg_type": "interactive", "card": _feishu_card(message)})
        return Request(url, headers, _json(doc))
    if kind == "wecom":
        body = _json({"msgtype": "markdown", "markdown": {"content": _markdown(message)}})
        return Request(url, headers, body)
    if kind == "slack":
        text = _slack_escape(message["headline"])
        lines = [f"*{text}*", *(f">{_slack_escape(x)}" for x in message.get("lines", []) if x)]
        if message.get("link"):
            lines.append(f"<{message['link']}|{_slack_escape(message.get('key') or 'link')}>")
        body = _json({
            "text": text,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}],
        })  # fmt: skip
        return Request(url, headers, body)
    # generic
    body = _json(payload["event"])
    ts = str(int(now))
    headers.update({"X-Changeflow-Event": payload["event"]["event"], "X-Changeflow-Timestamp": ts})
    if secret:
        headers["X-Changeflow-Signature"] = generic_signature(secret, ts, body)
    return Request(url, headers, body)


def platform_error(kind: str, body: str) -> str | None:
    """A 200 answer that the platform itself marks as refused (bad signature, keyword...)."""
    if kind not in ("dingtalk", "feishu", "wecom"):
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    code = doc.get("errcode", doc.get("code", doc.get("StatusCode", 0)))
    if code in (0, None, "0"):
        return None
    text = doc.get("errmsg") or doc.get("msg") or doc.get("StatusMessage") or ""
    return f"{kind} error {code}: {text}".strip()
