import os
import tempfile

import pytest
from django.conf import settings

from tests.factories import make_personas


def pytest_configure(config):
    # A fast hasher: the suite creates many users. Production uses Django's default.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # An existing, empty static root for servers started once per session (live_server).
    settings.STATIC_ROOT = tempfile.mkdtemp(prefix="changeflow-static-")


# The fixtures through which a test reaches the suite's database.
DATABASE_FIXTURES = frozenset(
    {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback",
     "live_server"}
)  # fmt: skip


def uses_the_database(item: pytest.Item) -> bool:
    """Whether the test reads or writes the suite's database (SQLite or PostgreSQL): a test
    marked own_home runs changeflow on a SQLite home of its own, whatever the suite's; a test
    without database access cannot reach it (pytest-django refuses the connection)."""
    if item.get_closest_marker("own_home"):
        return False
    if item.get_closest_marker("django_db") or item.get_closest_marker("postgres_only"):
        return True
    return bool(DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ())))


def pytest_collection_modifyitems(config, items):
    """With CHANGEFLOW_TEST_DATABASE_ONLY set (CI's second run, on PostgreSQL), only the tests
    that use the database: the others would run exactly as in the first run, on SQLite.

    The tests marked slow (each runs for half a minute or more) go first: under xdist the
    workers take the rest as they free up, instead of one of them starting the crawl of every
    page while the other has nothing left to run."""
    if os.environ.get("CHANGEFLOW_TEST_DATABASE_ONLY"):
        keep, drop = [], []
        for item in items:
            (keep if uses_the_database(item) else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable


@pytest.fixture(autouse=True)
def _media_static_and_cache(settings, tmp_path, tmp_path_factory):
    from django.core.cache import cache, caches

    settings.MEDIA_ROOT = tmp_path / "media"
    # The manifest storage needs `collectstatic`; in tests pages use the plain one, served
    # from the finders, and STATIC_ROOT is an existing folder so that WhiteNoise does not warn.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.STATIC_ROOT = tmp_path
    # The progress of background work: files, as without Redis (settings), in this test
    # process's own folder (not the test's tmp_path, which some tests read whole), emptied for
    # each test (a rolled-back job's id comes again).
    settings.CACHES = {
        **settings.CACHES,
        "progress": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path_factory.getbasetemp() / "progress"),
        },
    }
    cache.clear()
    caches["progress"].clear()


@pytest.fixture(autouse=True)
def _fresh_history_pools():
    """The history pool is cached per process and checked against the audit head's sequence.
    A test's rolled-back transaction hands the next test the same project ids and sequence
    numbers (SQLite), so a pool cached by an earlier test could pass for current: every test
    starts without one (any test reading similar changes or analogies, not only impact's)."""
    from changeflow.impact import selectors

    selectors._POOLS.clear()
    yield
    selectors._POOLS.clear()


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language: a request in Chinese (LocaleMiddleware) or a
    Chinese terminal leaves its language active in the thread, and with random test order the
    next test in that worker would read Chinese messages."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def personas(db):
    """ACME with one member per role, a site admin, and an outsider (PM of OTHER)."""
    return make_personas()


@pytest.fixture
def english_terminal(monkeypatch):
    """The CLI follows the terminal's language; CLI tests that read its English use this."""
    from django.utils import translation

    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    yield
    translation.deactivate()


@pytest.fixture
def browser():
    """Debian's Chromium for a real-browser test (``tests.browser.support``)."""
    from tests.browser.support import chromium

    with chromium() as b:
        yield b
