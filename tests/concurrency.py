"""Threads released at once, for the tests of concurrent writers.

Each thread opens its own database connection, so such tests commit for real
(``django_db(transaction=True)``); on SQLite the test database is then a file that threads
share (see the settings: an in-memory database answers "table is locked" instead of waiting).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection


def run_together(n: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(i)`` in ``n`` threads released at once; return each result or exception."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def target(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return results
