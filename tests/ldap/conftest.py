from types import SimpleNamespace

import pytest

from tests.ldap import servers


@pytest.fixture(scope="session")
def slapd_server(tmp_path_factory):
    """One OpenLDAP server for the session, on free loopback ports, with its people."""
    why = servers.slapd_unavailable()
    if why:
        pytest.skip(why)
    server = servers.Slapd(tmp_path_factory.mktemp("slapd")).start()
    yield server
    server.stop()


def directory_env(server, **overrides: str) -> dict[str, str]:
    """The environment a site sets to sign in with the test directory."""
    env = {
        "CHANGEFLOW_LDAP_URL": server.url,
        "CHANGEFLOW_LDAP_BIND_DN": servers.SERVICE_DN,
        "CHANGEFLOW_LDAP_BIND_PASSWORD": servers.SERVICE_PASSWORD,
        "CHANGEFLOW_LDAP_SEARCH_BASE": servers.PEOPLE,
        "CHANGEFLOW_LDAP_REQUIRE_GROUP": servers.GROUP,
        "CHANGEFLOW_LDAP_TIMEOUT": "3",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def use_directory(server, settings, monkeypatch, **overrides: str) -> SimpleNamespace:
    """Sign in with the test directory, configured from the environment as a site is (the
    settings' own ``ldap_directory``)."""
    from changeflow.settings import ldap_directory

    env = directory_env(server, **overrides)
    for name in [n for n in __import__("os").environ if n.startswith("CHANGEFLOW_LDAP_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings.CHANGEFLOW_LDAP = ldap_directory()
    return SimpleNamespace(env=env, config=settings.CHANGEFLOW_LDAP, server=server)


@pytest.fixture
def directory(slapd_server, settings, monkeypatch):
    """Signing in with the test directory (service account, required group)."""
    return use_directory(slapd_server, settings, monkeypatch)


@pytest.fixture
def dead_directory(slapd_server, settings, monkeypatch):
    """A directory configured on a port nothing listens on."""
    from tests.comms.servers import free_port

    return use_directory(
        slapd_server, settings, monkeypatch, CHANGEFLOW_LDAP_URL="ldap://127.0.0.1:%d" % free_port()
    )


from tests.api.conftest import api  # noqa: E402, F401
from tests.cli.conftest import _english, cli_home, run_cli, sh  # noqa: E402, F401
