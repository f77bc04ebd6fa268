import tempfile

import pytest
from django.conf import settings

from tests.factories import make_personas


def pytest_configure(config):
    # A fast hasher: the suite creates many users. Production uses Django's default.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # An existing, empty static root for servers started once per session (live_server).
    settings.STATIC_ROOT = tempfile.mkdtemp(prefix="changeflow-static-")


@pytest.fixture(autouse=True)
def _media_static_and_cache(settings, tmp_path):
    from django.core.cache import cache

    settings.MEDIA_ROOT = tmp_path / "media"
    # The manifest storage needs `collectstatic`; in tests pages use the plain one, served
    # from the finders, and STATIC_ROOT is an existing folder so that WhiteNoise does not warn.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.STATIC_ROOT = tmp_path
    cache.clear()


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
