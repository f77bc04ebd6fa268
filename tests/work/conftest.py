from tests.api.conftest import api  # noqa: F401  (the token-authenticated client fixture)
from tests.cli.conftest import run_cli  # noqa: F401  (the in-process CLI: code, out, err)
