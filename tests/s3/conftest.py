from types import SimpleNamespace

import pytest


@pytest.fixture(scope="session")
def s3_server():
    """One S3 server for the session (moto's, over HTTP on loopback), with a bucket."""
    from tests.s3.server import S3Server

    server = S3Server().start()
    yield server
    server.stop()


def use_bucket(server, settings, monkeypatch, **overrides: str) -> SimpleNamespace:
    """Make the default storage the bucket, configured from the environment as a site is (the
    settings' own ``object_storage``), under a prefix of its own; Django's storage caches are
    reset by the ``STORAGES`` setting changing (django.test.signals.storages_changed)."""
    from changeflow.settings import object_storage

    env = server.env(**overrides)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings.STORAGES = {**settings.STORAGES, "default": object_storage()}
    prefix = env["CHANGEFLOW_S3_PREFIX"]
    return SimpleNamespace(
        prefix=prefix, env=env, objects=lambda: server.objects(prefix), server=server
    )


@pytest.fixture
def s3(s3_server, settings, monkeypatch):
    """The default storage on the test bucket, under a fresh prefix."""
    return use_bucket(s3_server, settings, monkeypatch)


from tests.api.conftest import api  # noqa: E402, F401
from tests.cli.conftest import _english, cli_home, run_cli, sh  # noqa: E402, F401
