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


# The CLI fixtures (in-process runner, installed script, English output).
from tests.cli.conftest import _english, cli_home, run_cli, sh  # noqa: E402, F401
