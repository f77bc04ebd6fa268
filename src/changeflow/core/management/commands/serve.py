"""``changeflow serve``: migrate, collect static files, then serve with gunicorn.

Production-grade on purpose: gunicorn's pre-fork master with ``gthread`` workers (threads
overlap I/O such as SQLite's busy waits and slow clients; processes give CPU parallelism),
static files served by whitenoise from ``CHANGEFLOW_HOME/static``, ``DEBUG`` off unless the
environment turns it on. The application is loaded once in the master before forking
(``preload_app``), so an import error shows once and the workers share its memory.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.core import storage
from changeflow.core.management.base import TranslatedCommand


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(_("'%s' is not a whole number") % value) from None
    if number < 1:
        raise argparse.ArgumentTypeError(_("must be at least 1, got %s") % value)
    return number


def _port(value: str) -> int:
    number = _positive(value)
    if number > 65535:
        raise argparse.ArgumentTypeError(_("a port is at most 65535, got %s") % value)
    return number


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def default_base_url(host: str, port: int) -> str:
    """Where links in notifications point when ``CHANGEFLOW_BASE_URL`` is not set: the address
    this server listens on (the machine's name when it listens on every address)."""
    if host in ("0.0.0.0", "::"):  # noqa: S104 - naming, not binding
        host = socket.getfqdn()
    return f"http://{_address(host, port)}"


def _check_free(host: str, port: int) -> None:
    """Fail in one line when the address is taken (gunicorn would retry, then log a trace)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CommandError(
                _("cannot listen on %(address)s: %(reason)s")
                % {"address": _address(host, port), "reason": exc.strerror or exc}
            ) from None


def gunicorn_options(*, host: str, port: int, workers: int, threads: int) -> dict[str, Any]:
    """The gunicorn settings ``serve`` runs with (kept apart so that tests can read them)."""
    options: dict[str, Any] = {
        "bind": [_address(host, port)],
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "preload_app": True,
        "proc_name": "changeflow",
        "accesslog": "-",
        "errorlog": "-",
        "loglevel": "info",
        "timeout": 60,
        "graceful_timeout": 20,
        "keepalive": 5,
        # Several servers may run on one machine (tests, benchmarks): no shared control socket.
        "control_socket_disable": True,
    }
    shm = "/dev/shm"  # noqa: S108 - gunicorn makes its heartbeat files there with mkstemp
    if os.path.isdir(shm):  # heartbeats off the disk: a slow disk must not stall workers
        options["worker_tmp_dir"] = shm
    return options


logger = logging.getLogger(__name__)


class TaskWorkerSupervisor:
    """The in-process task worker of a single ``changeflow serve``: a child process of the
    gunicorn master (``changeflow worker``), started when the server is ready, restarted if it
    dies, and stopped (SIGTERM, then SIGKILL after the grace period) when the server stops."""

    def __init__(self, grace: float = 20.0) -> None:
        self.grace = grace
        self.process: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def command(self) -> list[str]:
        return [sys.executable, "-m", "changeflow.cli", "worker", "--exit-with-parent"]

    def _spawn(self) -> None:
        with self._lock:
            if not self._stopping.is_set():
                self.process = subprocess.Popen(self.command())  # noqa: S603 - our own CLI

    def start(self, _server=None) -> None:
        self._spawn()
        threading.Thread(target=self._supervise, daemon=True, name="task-worker").start()

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            process = self.process
            if process is None:
                return
            code = process.wait()
            if self._stopping.wait(2):  # stopping, or a pause before the restart
                return
            logger.warning("task worker exited with %s; starting it again", code)
            self._spawn()

    def stop(self, _server=None) -> None:
        self._stopping.set()
        with self._lock:
            process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(self.grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_gunicorn(options: dict[str, Any]) -> None:
    from gunicorn.app.base import BaseApplication

    class ChangeflowApplication(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            from django.core.wsgi import get_wsgi_application

            return get_wsgi_application()

    ChangeflowApplication(prog="changeflow serve").run()


class Command(TranslatedCommand):
    help_lazy = gettext_lazy(
        "Apply migrations, collect static files and serve changeflow with gunicorn "
        "(not Django's development server)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help=_("address to listen on"))
        parser.add_argument("--port", type=_port, default=8000, help=_("TCP port"))
        parser.add_argument("--workers", type=_positive, default=2, help=_("worker processes"))
        parser.add_argument("--threads", type=_positive, default=4, help=_("threads per worker"))
        parser.add_argument("--no-migrate", action="store_true", help=_("do not apply migrations"))
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help=_("do not run background tasks here (run 'changeflow worker' instead)"),
        )

    def handle(
        self, *args, host, port, workers, threads, no_migrate, no_worker, verbosity, **options
    ):
        _check_free(host, port)
        why = storage.problem()  # a bucket that is not there fails now, not in a request
        if why:
            raise CommandError(why)
        if not no_migrate:
            self._migrate(verbosity)
        call_command("collectstatic", interactive=False, verbosity=0)
        # Nothing opened here may be shared with the forked workers.
        connections.close_all()
        url_host = f"[{host}]" if ":" in host else host
        if not settings.CHANGEFLOW_BASE_URL:
            # The web workers (forked) and the task worker (a child process) inherit it.
            base = default_base_url(host, port)
            settings.CHANGEFLOW_BASE_URL = os.environ["CHANGEFLOW_BASE_URL"] = base
            self.stdout.write(
                _(
                    "Links in notifications point at %(url)s/ "
                    "(set CHANGEFLOW_BASE_URL to change it)."
                )
                % {"url": base}
            )
        self.stdout.write(
            _(
                "changeflow is serving http://%(host)s:%(port)s/ with %(workers)d worker(s) × "
                "%(threads)d thread(s); DEBUG is %(debug)s. Ctrl+C stops it."
            )
            % {
                "host": url_host,
                "port": port,
                "workers": workers,
                "threads": threads,
                "debug": _("on") if settings.DEBUG else _("off"),
            }
        )
        self.stdout.flush()
        config = gunicorn_options(host=host, port=port, workers=workers, threads=threads)
        if not no_worker:
            supervisor = TaskWorkerSupervisor(grace=config["graceful_timeout"])
            config["when_ready"] = supervisor.start
            config["on_exit"] = supervisor.stop
        run_gunicorn(config)

    def _migrate(self, verbosity: int) -> None:
        connection = connections[DEFAULT_DB_ALIAS]
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if plan:
            self.stdout.write(_("Applying %d migration(s)…") % len(plan))
            call_command("migrate", interactive=False, verbosity=max(0, verbosity - 1))
