import pytest

from tests.factories import PASSWORD


@pytest.fixture(autouse=True)
def _plain_static_storage(settings, tmp_path):
    # The manifest storage needs `collectstatic`; pages in tests use the plain one.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.STATIC_ROOT = tmp_path  # an existing folder: WhiteNoise does not warn


@pytest.fixture
def login(client):
    """Sign ``client`` in as ``user`` (through the session, not the sign-in page)."""

    def _login(user):
        client.force_login(user)
        return client

    return _login


@pytest.fixture
def password():
    return PASSWORD
