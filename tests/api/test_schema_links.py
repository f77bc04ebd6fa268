"""The OpenAPI links of the published schema (core/api_links.py): each one is placed, names an
operation that exists, sets parameters that operation has, and each expression names what its
source operation has (a response field or header, a request parameter or body)."""

import re

import pytest
from django.test import Client

from changeflow.core.api_links import LINKS

EXPRESSION = re.compile(
    r"^\$(?:response\.body#(?P<pointer>/[\w/]+)|response\.header\.(?P<rheader>[\w-]+)"
    r"|request\.(?P<where>path|header)\.(?P<name>[\w-]+)|request\.body)$"
)


@pytest.fixture(scope="module")
def document(django_db_blocker):
    with django_db_blocker.unblock():
        return Client().get("/api/v1/schema/?format=json").json()


def _operations(document) -> dict[str, dict]:
    return {
        op["operationId"]: op
        for methods in document["paths"].values()
        for op in methods.values()
        if isinstance(op, dict) and "operationId" in op
    }


def _resolve(document, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _has_field(document, schema: dict, pointer: str) -> bool:
    for part in pointer.strip("/").split("/"):
        schema = _resolve(document, schema)
        if part.isdigit() and schema.get("type") == "array":
            schema = schema["items"]
        elif part in schema.get("properties", {}):
            schema = schema["properties"][part]
        else:
            return False
    return True


def _parameters(operation: dict) -> set[str]:
    """The parameters of an operation as a link names them: ``key``, ``header.If-Match``."""
    return {
        p["name"] if p["in"] in ("path", "query") else f"{p['in']}.{p['name']}"
        for p in operation.get("parameters", [])
    }


def _check_expression(document, source: dict, status: str, expression: str) -> None:
    match = EXPRESSION.match(expression)
    assert match, f"not a runtime expression we use: {expression}"
    response = source["responses"][status]
    if match["pointer"]:
        schema = response["content"]["application/json"]["schema"]
        assert _has_field(document, schema, match["pointer"]), expression
    elif match["rheader"]:
        assert match["rheader"] in response.get("headers", {}), expression
    elif match["where"]:
        assert f"{match['where']}.{match['name']}".replace("path.", "") in _parameters(source), (
            expression
        )
    else:
        assert "requestBody" in source, expression


def test_every_link_is_placed_and_resolves(document):
    operations = _operations(document)
    placed = 0
    for (source_id, status), links in LINKS.items():
        source = operations[source_id]
        assert source["responses"][status]["links"] == links
        for name, link in links.items():
            placed += 1
            target = operations.get(link["operationId"])
            assert target is not None, f"{source_id} {status} {name}: no such operation"
            path = {p["name"] for p in target.get("parameters", []) if p["in"] == "path"}
            # A link gives each of its target's path parameters (else the call is a guess).
            given = set(link.get("parameters", {}))
            assert path <= given, f"{name}: {path - given}"
            for parameter, expression in link.get("parameters", {}).items():
                assert parameter in _parameters(target), f"{name}: {parameter}"
                _check_expression(document, source, status, expression)
            body = link.get("requestBody")
            if isinstance(body, dict):
                target_body = target["requestBody"]["content"]["application/json"]["schema"]
                for field, expression in body.items():
                    assert _has_field(document, target_body, "/" + field), f"{name}: {field}"
                    _check_expression(document, source, status, expression)
            elif body is not None:
                _check_expression(document, source, status, body)
                assert "requestBody" in target, name
    found = sum(
        len(response.get("links", {}))
        for op in operations.values()
        for response in op["responses"].values()
    )
    assert found == placed > 80


def test_links_make_a_schemathesis_state_machine(document):
    """schemathesis reads every link (an unknown operation or parameter would raise here)."""
    import schemathesis

    config = schemathesis.config.SchemathesisConfig.from_dict(
        {"phases": {"stateful": {"inference": {"algorithms": []}}}}
    )
    machine = schemathesis.openapi.from_dict(document, config=config).as_state_machine()
    links = sum(len(t.outgoing) for t in machine._transitions.operations.values())
    assert links == sum(len(links) for links in LINKS.values())
