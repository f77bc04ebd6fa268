"""One HTTP POST to a webhook, connected to the addresses ``urlcheck`` approved.

No redirects are followed (a redirect could lead anywhere), the answer is read up to a limit,
and every failure is classified: worth retrying (timeouts, refused connections, 5xx, 429) or not.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from .urlcheck import Target

MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    duration_ms: int
    retry_after: int | None = None


class CallFailed(Exception):
    """No answer: ``retry`` says whether trying again later may help."""

    def __init__(self, reason: str, *, retry: bool, duration_ms: int = 0):
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        self.duration_ms = duration_ms


def _timeout() -> float:
    return float(getattr(settings, "CHANGEFLOW_WEBHOOK_TIMEOUT", 10))


def _connect(target: Target, timeout: float) -> socket.socket:
    last: OSError | None = None
    for address in target.addresses:
        try:
            return socket.create_connection((address, target.port), timeout=timeout)
        except OSError as exc:
            last = exc
    raise last or OSError("no address")


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self._target = target
        self._timeout = timeout

    def connect(self) -> None:
        self.sock = _connect(self._target, self._timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float):
        self._tls = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=timeout, context=self._tls)
        self._target = target
        self._timeout = timeout

    def connect(self) -> None:
        sock = _connect(self._target, self._timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self._target.host)


def post(target: Target, url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST ``body`` to ``url`` on the approved ``target``; ``CallFailed`` when no answer."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    timeout = _timeout()
    cls = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    conn = cls(target, timeout)
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        raw = response.read(MAX_RESPONSE_BYTES)
        retry_after = response.getheader("Retry-After")
        return Answer(
            status=response.status,
            body=raw.decode("utf-8", errors="replace"),
            duration_ms=elapsed(),
            retry_after=int(retry_after) if retry_after and retry_after.isdigit() else None,
        )
    except TimeoutError:
        raise CallFailed(
            "timed out after %gs" % timeout, retry=True, duration_ms=elapsed()
        ) from None
    except ConnectionRefusedError:
        raise CallFailed("connection refused", retry=True, duration_ms=elapsed()) from None
    except ssl.SSLCertVerificationError as exc:
        raise CallFailed(f"TLS: {exc.verify_message}", retry=False, duration_ms=elapsed()) from None
    except (OSError, http.client.HTTPException) as exc:
        reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
        raise CallFailed(reason, retry=True, duration_ms=elapsed()) from None
    finally:
        conn.close()
