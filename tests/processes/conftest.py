from tests.api.conftest import api  # noqa: F401  (the token-authenticated client fixture)
