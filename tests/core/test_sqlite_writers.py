"""The SQLite backend queues writers on its own lock (core/db/sqlite)."""

import threading

import pytest
from django.db import OperationalError, connection, transaction

from changeflow.accounts.models import Organisation

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite backend's own lock"),
]


def _in_thread(work):
    result: dict = {}

    def run():
        try:
            result["value"] = work()
        except Exception as exc:  # noqa: BLE001 - handed back to the test
            result["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_a_second_writer_waits_for_the_first_and_then_writes():
    holding, release = threading.Event(), threading.Event()

    def first():
        with transaction.atomic():
            Organisation.objects.create(name="first")
            holding.set()
            release.wait(10)

    t1, r1 = _in_thread(first)
    assert holding.wait(10)
    t2, r2 = _in_thread(lambda: Organisation.objects.create(name="second") and "done")
    t2.join(0.3)
    assert t2.is_alive(), "the second writer must wait while the first holds the lock"
    release.set()
    t1.join(10)
    t2.join(10)
    assert "error" not in r1 and r2.get("value") == "done"
    assert set(Organisation.objects.values_list("name", flat=True)) >= {"first", "second"}


def test_the_lock_is_released_on_rollback_and_times_out_clearly():
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        Organisation.objects.create(name="rolled back")
        1 / 0  # noqa: B018
    # Released: another thread writes at once.
    t, r = _in_thread(lambda: Organisation.objects.create(name="after") and "done")
    t.join(10)
    assert r.get("value") == "done"

    # Held by this thread: a writer in another thread gives up after the timeout, clearly.
    options = connection.settings_dict["OPTIONS"]  # shared by every thread's connection
    saved = options["timeout"]
    options["timeout"] = 0.2
    try:
        with transaction.atomic():
            Organisation.objects.create(name="holder")

            def blocked():
                with transaction.atomic():
                    Organisation.objects.create(name="never")

            t, r = _in_thread(blocked)
            t.join(10)
    finally:
        options["timeout"] = saved
    assert isinstance(r.get("error"), OperationalError)
    assert "locked" in str(r["error"])
    assert not Organisation.objects.filter(name="never").exists()
