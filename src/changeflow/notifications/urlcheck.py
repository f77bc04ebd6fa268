"""Whether a webhook URL may be called: http(s) only, and never this server or, unless
``CHANGEFLOW_WEBHOOK_ALLOW_PRIVATE`` says so, a loopback or private address.

Checked when a webhook is saved and again before every call, on the addresses the name resolves
to at that moment; the call then connects to exactly those addresses (see ``transport``), so a
name that resolves to a public address at save time and to 127.0.0.1 later (DNS rebinding)
gets nowhere.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _


class UnsafeUrl(Exception):
    """The URL may not be called; ``str(exc)`` says why, in the active language."""


class Unresolvable(UnsafeUrl):
    """The host does not resolve now: refused when saving, retried when calling (DNS can be
    down for a while)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def allow_private() -> bool:
    return bool(getattr(settings, "CHANGEFLOW_WEBHOOK_ALLOW_PRIVATE", False))


def base_url() -> str:
    return getattr(settings, "CHANGEFLOW_BASE_URL", "") or "http://127.0.0.1:8000"


def _own() -> tuple[str, int]:
    parts = urlsplit(base_url())
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return (parts.hostname or "").lower(), port


def parse(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a well-formed http(s) URL; ``UnsafeUrl`` otherwise."""
    try:
        parts = urlsplit((url or "").strip())
        port = parts.port
    except ValueError:
        raise UnsafeUrl(_("The URL is malformed.")) from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl(_("Only http and https URLs can be called."))
    host = (parts.hostname or "").lower()
    if not host:
        raise UnsafeUrl(_("The URL has no host."))
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


def _refused(address: str) -> str | None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_unspecified or ip.is_multicast or ip.is_link_local:
        return _("%(address)s is not an address a webhook may call.") % {"address": ip}
    if (ip.is_loopback or ip.is_private or not ip.is_global) and not allow_private():
        return _("%(address)s is a loopback or private address.") % {"address": ip}
    return None


def check(url: str, *, resolve: bool = True) -> Target:
    """The target of ``url`` if it may be called; ``UnsafeUrl`` naming the reason otherwise."""
    scheme, host, port = parse(url)
    own_host, own_port = _own()
    if host == own_host and port == own_port:
        raise UnsafeUrl(_("The URL points at this server."))
    if not resolve:
        return Target(scheme, host, port, ())
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Unresolvable(_("The host %(host)s cannot be resolved.") % {"host": host}) from None
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        reason = _refused(address)
        if reason:
            raise UnsafeUrl(reason)
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if ip.is_loopback and port == own_port and own_host in ("127.0.0.1", "localhost", "::1"):
            raise UnsafeUrl(_("The URL points at this server."))
    return Target(scheme, host, port, addresses)
