"""SQLite whose writers queue on a lock instead of on SQLite's busy-sleep.

With ``BEGIN IMMEDIATE`` a second writer gets SQLITE_BUSY and SQLite's busy handler retries
after sleeping 1, 2, 5, 10, 15, 20, 25… ms, so under concurrent writes most of a request's time
is spent asleep while the lock is long free. Here a write transaction first takes a lock of its
own: a ``threading.Lock`` among the threads of this process (woken at once when released), then
an ``flock`` on a file beside the database among processes (polled every 0.5–2 ms). SQLite's
own locking still guards the file; this only decides who asks next.

Used for the SQLite file database (settings.py); an in-memory database is left as it is.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time

from django.db.backends.sqlite3 import base
from django.db.utils import OperationalError

_process_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def _process_lock(name: str) -> threading.Lock:
    with _guard:
        return _process_locks.setdefault(name, threading.Lock())


class DatabaseWrapper(base.DatabaseWrapper):
    _writer_fd: int | None = None
    _writer_lock: threading.Lock | None = None

    def _queues_writers(self) -> bool:
        # transaction_mode: Django's SQLite backend sets it (5.1+); django-stubs lacks it.
        mode = self.transaction_mode  # type: ignore[attr-defined]
        return mode == "IMMEDIATE" and not self.is_in_memory_db()

    def _start_transaction_under_autocommit(self):
        if self._queues_writers():
            self._acquire_writer()
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_writer()
            raise

    def _acquire_writer(self) -> None:
        name = str(self.settings_dict["NAME"])
        timeout = float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))
        deadline = time.monotonic() + timeout
        lock = _process_lock(name)
        if not lock.acquire(timeout=timeout):
            raise OperationalError("database is locked (waited for other writers)")
        try:
            if self._writer_fd is None:
                self._writer_fd = os.open(f"{name}.writer-lock", os.O_RDWR | os.O_CREAT, 0o600)
            delay = 0.0005
            while True:
                try:
                    fcntl.flock(self._writer_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise OperationalError(
                            "database is locked (waited for other writers)"
                        ) from None
                    time.sleep(delay)
                    delay = min(delay * 2, 0.002)
        except BaseException:
            lock.release()
            raise
        self._writer_lock = lock

    def _release_writer(self) -> None:
        lock, self._writer_lock = self._writer_lock, None
        if lock is not None:
            assert self._writer_fd is not None  # opened before the lock was kept
            try:
                fcntl.flock(self._writer_fd, fcntl.LOCK_UN)
            finally:
                lock.release()

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._release_writer()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._release_writer()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._release_writer()
            if self._writer_fd is not None:
                os.close(self._writer_fd)
                self._writer_fd = None
