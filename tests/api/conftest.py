import pytest
from rest_framework.test import APIClient

from changeflow.accounts import services as accounts

PERSONAS = ("pm", "tech_lead", "qa", "developer", "customer_rep", "customer", "viewer", "admin")


@pytest.fixture
def api(personas):
    """``api(user)``: a client that authenticates with a real API token (``api(None)``:
    anonymous)."""
    tokens = {}

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            if user.pk not in tokens:
                tokens[user.pk] = accounts.token_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {tokens[user.pk]}")
        return client

    return make


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    return body["error"]


def names(err: dict, field: str) -> bool:
    """Whether the error names ``field`` (or one of its items: ``labels.1``)."""
    return any(k == field or k.startswith(field + ".") for k in err["fields"])
