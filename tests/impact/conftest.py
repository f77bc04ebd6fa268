from pathlib import Path

import pytest

from tests.api.conftest import api  # noqa: F401  (the token-authenticated client fixture)

# The public datasets live beside the repository, never inside it (see PROVENANCE.md there).
EFFORT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "effort"


@pytest.fixture
def effort_data() -> Path:
    """The shared effort-estimation datasets folder; the test is skipped when it is absent."""
    if not (EFFORT / "PROVENANCE.md").exists():
        pytest.skip(f"public effort datasets not found at {EFFORT}")
    return EFFORT


@pytest.fixture(autouse=True)
def _messages_in_english():
    """Error messages are matched in English: start from the default language whatever an
    earlier test in this worker (a page requested in Chinese) left active."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()
