"""Real-browser tests: Debian's Chromium under Playwright's sync API (Playwright's own browser
builds are never downloaded), the marks every such test module carries, the ``browser``
fixture (in ``tests/conftest.py``), and the page and sign-in steps the walks share."""

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.factories import PASSWORD

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


def open_page(
    browser, *, locale: str = "zh-CN", timeout: int = 15_000, console: bool = True, **options
) -> tuple[Any, Any, list[str]]:
    """A new laptop-sized browser context in ``locale`` (``options`` go to it too), a page in
    it, and the list that collects the page's uncaught errors (and its console errors, unless
    ``console`` is false)."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale=locale, **options)
    page = context.new_page()
    page.set_default_timeout(timeout)
    errors: list[str] = []
    if console:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return context, page, errors


def sign_in(page, base: str, user) -> None:
    """Sign ``user`` in on the sign-in page of the server at ``base``."""
    page.goto(f"{base}/signin/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click(".signin button[type=submit]")
    page.wait_for_url(f"{base}/my-work/")  # the signed-in home


def signed_in_page(browser, base: str, user, **page_options) -> tuple[Any, Any, list[str]]:
    """``open_page(browser, **page_options)`` with ``user`` signed in."""
    context, page, errors = open_page(browser, **page_options)
    sign_in(page, base, user)
    return context, page, errors
