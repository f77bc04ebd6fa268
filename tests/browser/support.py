"""Real-browser tests: Debian's Chromium under Playwright's sync API (Playwright's own browser
builds are never downloaded), the marks every such test module carries, and the ``browser``
fixture (in ``tests/conftest.py``)."""

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium under Playwright's sync API, closed afterwards.

    Playwright's sync API runs the test inside a context of its own (it switches greenlets), so
    the Django connections the test opens in it are not the ones pytest-django closes once the
    context is left: they are closed here, or PostgreSQL cannot drop the test database at the
    end of the run ("is being accessed by other users")."""
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls made by the
    # test itself are still synchronous and safe here.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from django.db import connections
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
            connections.close_all()


# ``pytestmark = BROWSER_TEST`` in a module of real-browser tests.
BROWSER_TEST = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"
    ),
]
