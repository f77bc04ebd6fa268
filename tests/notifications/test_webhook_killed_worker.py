"""A worker killed in the middle of a webhook call: the real delivery code, a real HTTP
receiver on 127.0.0.1, and a worker thread stopped by an asynchronous exception while it waits
for the answer — after the request went out, before the delivery was recorded as sent.

The delivery is left ``sending`` under the dead worker's lease; once the lease expires the
retry job sends it again with the same idempotency key, and a receiver that drops keys it has
seen acts on the event once."""

from __future__ import annotations

import ctypes
import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection, transaction
from django.utils import timezone

from changeflow.core import audit
from changeflow.notifications import services
from changeflow.notifications.models import WebhookDelivery

pytestmark = pytest.mark.django_db(transaction=True)


class Killed(BaseException):
    """What the dying worker thread gets: not an Exception, so no handler of ours eats it."""


class DedupReceiver:
    """An endpoint that acts once per Idempotency-Key. Its first answer is held until the
    test releases it, so the caller is stuck waiting when it is killed."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.acted: list[str] = []  # the events it acted on, once per key
        self.arrived = threading.Event()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                key = self.headers.get("Idempotency-Key", "")
                first = not receiver.requests
                receiver.requests.append({"key": key, "json": json.loads(raw)})
                if key not in receiver.acted:
                    receiver.acted.append(key)
                if first:
                    receiver.arrived.set()
                    receiver.release.wait(10)
                body = b'{"ok":true}'
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the caller is gone

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d/hook" % self.server.server_address[1]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def dedup():
    r = DedupReceiver()
    yield r
    r.close()


def kill(thread: threading.Thread) -> None:
    """Raise ``Killed`` in ``thread`` at its next Python instruction."""
    done = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread.ident), ctypes.py_object(Killed)
    )
    assert done == 1


def test_a_worker_killed_mid_call_is_retried_after_its_lease_with_the_same_key(
    personas, dedup, settings
):
    p = personas
    # Deliveries are queued, not run: the "worker" below runs the one we watch.
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    settings.CHANGEFLOW_DELIVERY_LEASE_SECONDS = 300
    services.webhook_create(
        user=p.pm, project=p.project,
        data={"url": dedup.url, "kind": "generic", "events": ["*"], "secret": "SECkilled123"},
    )  # fmt: skip
    with transaction.atomic():
        audit.record(
            actor="system", action="sla.breached", object_type="project", object_key="ACME",
            project="ACME", after={"notify": [p.pm.username], "title": "ACME-1 in triage"},
        )  # fmt: skip
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "pending" and dedup.requests == []

    outcome: dict[str, object] = {}

    def worker():
        try:
            outcome["state"] = services.deliver_webhook(delivery.pk)
        except Killed:
            outcome["killed"] = True
        finally:
            connection.close()  # this thread's own database connection

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    assert dedup.arrived.wait(10), "the worker never called the receiver"
    kill(thread)  # the worker dies while it waits for the answer
    dedup.release.set()
    thread.join(10)
    assert not thread.is_alive() and outcome == {"killed": True}

    delivery.refresh_from_db()
    assert delivery.state == "sending" and delivery.attempts == 1
    assert delivery.lease_until > timezone.now()
    assert services.retry_due() == 0  # the dead worker's lease still holds
    assert len(dedup.requests) == 1

    after_lease = timezone.now() + dt.timedelta(seconds=301)
    assert services.retry_due(now=after_lease) == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.response_status) == ("sent", 2, 200)
    # Sent twice, the same key and event both times: the receiver acted once.
    keys = [r["key"] for r in dedup.requests]
    assert keys == [str(delivery.key)] * 2
    assert len({r["json"]["id"] for r in dedup.requests}) == 1
    assert dedup.acted == [str(delivery.key)]
    assert services.retry_due(now=after_lease + dt.timedelta(hours=1)) == 0
