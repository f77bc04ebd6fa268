from pathlib import Path

import pytest

# The sample mails live beside the repository, never inside it.
SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "samples" / "email"


@pytest.fixture
def samples() -> Path:
    """The shared sample-mail folder; the test is skipped when it is absent."""
    if not SAMPLES.is_dir():
        pytest.skip(f"sample mails not found at {SAMPLES}")
    return SAMPLES


@pytest.fixture
def acme(personas):
    """The personas, with the customer's address the one the intake tests' mails come from."""
    personas.customer.email = "li.lei@acme.cn"
    personas.customer.save(update_fields=["email"])
    return personas


# The CLI fixtures (in-process runner, installed script, English output), the API client.
from tests.api.conftest import api  # noqa: E402, F401
from tests.cli.conftest import _english, cli_home, run_cli, sh  # noqa: E402, F401


@pytest.fixture(scope="session")
def dovecot_server(tmp_path_factory):
    """One Dovecot for the session, with a throwaway config on a free loopback port."""
    from tests.comms.servers import Dovecot, dovecot_unavailable

    why = dovecot_unavailable()
    if why:
        pytest.skip(why)
    server = Dovecot(tmp_path_factory.mktemp("dovecot")).start()
    yield server
    server.stop()


@pytest.fixture
def imap(dovecot_server):
    """The Dovecot server with an empty INBOX for this test (a user of its own)."""
    dovecot_server.next_user()
    return dovecot_server


@pytest.fixture
def smtp_server():
    from tests.comms.servers import SmtpSink

    with SmtpSink() as sink:
        yield sink
