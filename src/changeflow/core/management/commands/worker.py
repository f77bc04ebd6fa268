"""``changeflow worker``: run background tasks and periodic jobs until stopped (SIGTERM/Ctrl+C
finish the current task first).

With the database backend (the default) this is changeflow's own worker; with Redis/RQ
(``CHANGEFLOW_TASKS_BACKEND=rq``) it runs an RQ worker on the configured queues and, in a
thread beside it, the periodic jobs. Several workers may run at once, on several machines.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

from django.conf import settings
from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.core import storage
from changeflow.core.management.base import TranslatedCommand


def _interval(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(_("'%s' is not a number") % value) from None
    if not 0 <= number <= 3600:
        raise argparse.ArgumentTypeError(_("must be between 0 and 3600, got %s") % value)
    return number


class Command(TranslatedCommand):
    help_lazy = gettext_lazy("Run background tasks and periodic jobs until stopped.")

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--interval", type=_interval, default=1.0,
            help=_("seconds between looks at an empty queue"),
        )  # fmt: skip
        parser.add_argument(
            "--batch", action="store_true", help=_("run what is queued now, then exit")
        )
        parser.add_argument(
            "--no-periodic", action="store_true", help=_("do not run the periodic jobs")
        )
        parser.add_argument(
            "--queues", default="*", help=_("queues to serve, comma-separated ('*': all)")
        )
        parser.add_argument(
            "--exit-with-parent", action="store_true", help=argparse.SUPPRESS
        )  # used by `changeflow serve`: stop when the server that started us is gone

    def handle(self, *args, interval, batch, no_periodic, queues, exit_with_parent, **options):
        if exit_with_parent:
            _watch_parent()
        why = storage.problem()  # tasks write files (review reports): fail now, in one line
        if why:
            raise CommandError(why)
        if settings.TASKS_BACKEND == "rq":
            return self._rq(batch=batch, periodic=not no_periodic, interval=interval)
        from changeflow.core import tasks

        worker = tasks.make_worker(
            interval=interval, batch=batch, periodic=not no_periodic, queues=queues
        )
        tasks.install_signal_handlers(worker)
        if options["verbosity"] > 0:
            self.stdout.write(
                _("changeflow worker %(id)s: serving queues %(queues)s. Ctrl+C stops it.")
                % {"id": worker.worker_id, "queues": queues}
            )
            self.stdout.flush()
        worker.run()

    def _rq(self, *, batch: bool, periodic: bool, interval: float) -> None:
        import django_rq

        from changeflow.core import periodic as periodic_jobs

        if periodic and not batch:

            def loop() -> None:
                while True:
                    periodic_jobs.run_due(worker_id="rq-%d" % os.getpid())
                    time.sleep(max(interval, 5))

            threading.Thread(target=loop, daemon=True, name="periodic").start()
        from django_tasks_rq.backend import Job

        worker = django_rq.get_worker(*settings.RQ_QUEUES, job_class=Job, worker_class=_rq_worker())
        worker.work(burst=batch, with_scheduler=True)


def _rq_worker():
    """RQ's worker, its command channel read every second instead of every minute.

    RQ listens for commands (stop a job, shut down) in a thread that blocks up to ``sleep_time``
    (60 s in RQ 3.0) between reads, and a worker that stops waits for that thread: measured here,
    about one ``worker --batch`` in four took 60 s more to exit (rq/rq#2201 reports the same on
    shutdown). A one-second read bounds the wait; the cost is one idle poll a second."""
    from rq.worker import Worker

    class PromptWorker(Worker):
        def subscribe(self) -> None:
            self.pubsub = self.connection.pubsub()
            self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
            self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
                sleep_time=1, daemon=True, exception_handler=self._pubsub_exception_handler
            )  # (RQ types the attribute as None, what it is before subscribing)

    return PromptWorker


def _watch_parent() -> None:
    """Exit when the parent process (``changeflow serve``) has gone, however it went."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()
