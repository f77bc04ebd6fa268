"""Fixtures: tasks run at once, local webhook receivers, a local SMTP server."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@pytest.fixture(autouse=True)
def _notify_settings(settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    settings.CHANGEFLOW_WEBHOOK_ALLOW_PRIVATE = True
    settings.CHANGEFLOW_WEBHOOK_TIMEOUT = 2
    settings.CHANGEFLOW_BASE_URL = "http://changeflow.test"
    yield


@pytest.fixture
def live(django_capture_on_commit_callbacks):
    """``with live():`` runs what the commit would have run (the audit signal, the tasks)."""

    def run():
        return django_capture_on_commit_callbacks(execute=True)

    return run


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records each request and answers as told:
    ``answers`` is a list of (status, body) or "sleep" (longer than the client's timeout)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: list = []
        self.default = (200, '{"errcode":0,"errmsg":"ok"}')
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers.items()), "raw": raw,
                     "json": json.loads(raw or b"null")}
                )  # fmt: skip
                answer = receiver.answers.pop(0) if receiver.answers else receiver.default
                if answer == "sleep":
                    time.sleep(3)
                    answer = receiver.default
                status, body = answer
                data = body.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


class Smtp:
    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages: list = []
        box = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                import email
                from email import policy

                msg = email.message_from_bytes(envelope.content, policy=policy.default)
                box.messages.append((envelope.rcpt_tos, msg))
                return "250 OK"

        import socket

        with socket.socket() as probe:  # a free port (aiosmtpd cannot report an ephemeral one)
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        self.controller.stop()


@pytest.fixture
def smtp(settings):
    box = Smtp()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": box.port, "timeout": 5},
        }
    }
    yield box
    box.stop()


@pytest.fixture
def p(personas):
    """The personas, each with an e-mail address (username@acme.test)."""
    from changeflow.accounts.models import User

    for user in User.objects.all():
        User.objects.filter(pk=user.pk).update(email=f"{user.username}@acme.test")
    for value in vars(personas).values():
        if isinstance(value, User):
            value.email = f"{value.username}@acme.test"
    for value in personas.by_role.values():
        value.email = f"{value.username}@acme.test"
    return personas
