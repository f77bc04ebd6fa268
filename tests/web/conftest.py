import pytest

from tests.factories import PASSWORD


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
