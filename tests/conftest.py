import pytest
from django.conf import settings

from tests.factories import make_personas


def pytest_configure(config):
    # A fast hasher: the suite creates many users. Production uses Django's default.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _media_and_cache(settings, tmp_path):
    from django.core.cache import cache

    settings.MEDIA_ROOT = tmp_path / "media"
    cache.clear()


@pytest.fixture
def personas(db):
    """ACME with one member per role, a site admin, and an outsider (PM of OTHER)."""
    return make_personas()
