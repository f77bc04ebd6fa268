"""The server and its OpenAPI schema agree on unknown request fields.

Generated from the schema served at ``/api/v1/schema/``, not from a hand list: every operation
with a request body, and in it every object (the body itself, and each object nested in it
through a property or an array's items), is sent once as a body valid as far as the schema
says (its required fields, each with a value of its type), with one field that no schema has.

- Where the object's schema says ``additionalProperties: false``, the server refuses the body
  with a 400 whose ``fields`` name the unknown field (``members.0.<name>`` when nested);
- where it does not, the server does what it does without the field (the same status; the
  field named nowhere): an accepted field is documented by the schema's silence.

A map (a DictField, ``additionalProperties`` the schema of its values) is not such an object:
its keys are data, and the schema says any key.

And nothing a client sends is silently dropped: every request object says
``additionalProperties: false``, but for those in ACCEPTS_UNKNOWN, each with its reason.

The data is test_fuzz.py's: the demo project, built once per module, rolled back at the end,
and the keys and ids of its real objects for the path parameters (otherwise nearly every
request would end at a 404 before its body is read).
"""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from rest_framework.test import APIClient

# The fuzzing's data and fixtures (``world``, ``in_process``: fixtures are found by name).
from tests.api.test_fuzz import REAL, _kind_of, in_process, schema, world  # noqa: F401

UNKNOWN = "zz_not_a_field"

# Request objects that the server accepts with unknown fields, by component name, each with
# its reason. None today: every request serializer is a StrictSerializer.
ACCEPTS_UNKNOWN: dict[str, str] = {}

# Values tried, in order, for a string with a pattern (the first that matches it).
PATTERNED = ["1", "ABC", "AB", "x"]

RAW = schema.raw_schema
COMPONENTS = RAW["components"]["schemas"]


def _resolve(node: dict) -> dict:
    """``node`` with a ``$ref`` (alone or as the one ``allOf``) replaced by its component."""
    if "allOf" in node and len(node["allOf"]) == 1:
        node = {**node["allOf"][0], **{k: v for k, v in node.items() if k != "allOf"}}
    if "$ref" in node:
        return COMPONENTS[node["$ref"].rsplit("/", 1)[-1]]
    return node


def _component_name(node: dict) -> str | None:
    if "allOf" in node and len(node["allOf"]) == 1:
        node = node["allOf"][0]
    return node["$ref"].rsplit("/", 1)[-1] if "$ref" in node else None


def _value(node: dict):
    """A value of the schema ``node``: its first enum value, a string of its format and length,
    the smallest number it allows, an object of its required properties..."""
    node = _resolve(node)
    if "oneOf" in node or "anyOf" in node:
        return _value((node.get("oneOf") or node["anyOf"])[0])
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    if kind == "object":
        return {
            name: _value(prop)
            for name, prop in node.get("properties", {}).items()
            if name in node.get("required", [])
        }
    if kind == "array":
        return [_value(node["items"]) for _ in range(node.get("minItems", 0))]
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        return max(node.get("minimum", 1), 1)
    if kind == "string":
        fmt = node.get("format")
        if fmt == "binary":
            return SimpleUploadedFile("a.csv", b"id,name\n", content_type="text/csv")
        if fmt in ("date", "date-time"):
            return "2027-01-04" if fmt == "date" else "2027-01-04T09:00:00Z"
        if fmt == "email":
            return "someone@example.com"
        if fmt == "uri":
            return "https://example.com/hook"
        if "pattern" in node:
            return next(v for v in PATTERNED if re.search(node["pattern"], v))
        return "x" * max(node.get("minLength", 1), 1)
    return 1  # a schema without a type: any value


def _object_of(node: dict) -> dict:
    """``node``, or the object among its ``oneOf`` (an item that is an id or ``{task, lag}``)."""
    node = _resolve(node)
    objects = [_resolve(n) for n in node.get("oneOf", []) if _resolve(n).get("type") == "object"]
    return objects[0] if objects else node


def _slots(node: dict, path: tuple = (), depth: int = 0):
    """(path, component name, schema) of the object at ``node`` and of each object nested in it:
    a property's path is its name, an array's item's is ``0``; of a ``oneOf``, its object."""
    name, node = _component_name(node), _object_of(node)
    if node.get("type") != "object" or depth > 4:
        return
    if node.get("additionalProperties", False) is not False:
        # A map (a DictField: ``additionalProperties`` is the values' schema): its keys are
        # data, documented as any.
        return
    yield path, name, node
    for prop, sub in node.get("properties", {}).items():
        if _resolve(sub).get("type") == "array":
            yield from _slots(_resolve(sub)["items"], (*path, prop, 0), depth + 1)
        else:
            yield from _slots(sub, (*path, prop), depth + 1)


def _body_with(root: dict, path: tuple, extra: dict) -> dict:
    """The root's minimal body, with the object at ``path`` made present and ``extra`` in it."""
    body = _value(root)
    if "project" in body:
        # A body that names its project (a new change request's) names the demo's: the
        # caller's role in it is checked before the rest is read (a made-up key is a 404).
        body["project"] = REAL["key:project"][0]["key"]
    here, node = body, _resolve(root)
    for step in path:
        if isinstance(step, int):
            items = _resolve(node)["items"]
            while len(here) <= step:
                here.append(_value(_object_of(items)))
            here, node = here[step], items
        else:
            node = _resolve(node)["properties"][step]
            if _resolve(node).get("type") == "array":
                here.setdefault(step, [])
            else:
                here.setdefault(step, _value(node))
            here = here[step]
    here.update(extra)
    return body


def _cases():
    for path, methods in RAW["paths"].items():
        for method, op in methods.items():
            for media, content in op.get("requestBody", {}).get("content", {}).items():
                for where, name, node in _slots(content["schema"]):
                    # A form's fields are flat: only JSON nests objects.
                    if media == "application/json" or not where:
                        label = ".".join(map(str, where)) or "body"
                        yield pytest.param(
                            method, path, media, content["schema"], where, name, node,
                            id=f"{method.upper()} {path} {label}",
                        )  # fmt: skip


CASES = list(_cases())


def test_the_cases_cover_every_request_body():
    """Every operation with a request body is here (53 today, nested objects besides)."""
    bodies = {
        (method, path)
        for path, methods in RAW["paths"].items()
        for method, op in methods.items()
        if "requestBody" in op
    }
    assert {(c.values[0], c.values[1]) for c in CASES} == bodies
    assert len(bodies) >= 53


@pytest.mark.parametrize(
    "name, node", [pytest.param(*case.values[-2:], id=case.id) for case in CASES]
)
def test_every_request_object_refuses_unknown_fields(name, node):
    """Nothing a client sends is silently dropped: every request object is closed, but those
    in ACCEPTS_UNKNOWN (with their reason)."""
    if name in ACCEPTS_UNKNOWN:
        assert node.get("additionalProperties") is not False, name
    else:
        assert node.get("additionalProperties") is False, name


def _send(client, method: str, url: str, media: str, body: dict):
    if media == "multipart/form-data":
        for value in body.values():
            if hasattr(value, "seek"):
                value.seek(0)
        return getattr(client, method)(url, body, format="multipart")
    return getattr(client, method)(url, body, format="json")


def _urls(path: str):
    """The operation's URL for each real object its path names (or the path itself)."""
    if "{" not in path:
        yield path
        return
    for values in REAL.get(_kind_of(path), []):
        yield re.sub(r"\{(\w+)\}", lambda m, v=values: str(v[m.group(1)]), path)


# The answers that come before the body is read: a caller who may not, an object that is not
# there or not in the right state. Another real object is tried.
BEFORE_THE_BODY = {403, 404, 409, 422}
# Writes only the customer's people make (a change order's signature or refusal): sent as the
# demo's customer, whom the role check lets through to the body.
CUSTOMER_WRITES = ("/sign", "/decline")


@pytest.mark.parametrize("method, path, media, root, where, name, node", CASES)
def test_server_and_schema_agree_on_unknown_fields(
    in_process,  # noqa: F811
    method, path, media, root, where, name, node,
):  # fmt: skip
    client = APIClient()
    if path != "/api/v1/auth/token/":
        caller = "customer" if path.endswith(CUSTOMER_WRITES) else "pm"
        client.credentials(HTTP_AUTHORIZATION=in_process[caller]["Authorization"])
    closed = node.get("additionalProperties") is False
    field = ".".join(map(str, (*where, UNKNOWN)))
    answers = []
    for url in _urls(path):
        with transaction.atomic():
            r = _send(client, method, url, media, _body_with(root, tuple(where), {UNKNOWN: 1}))
            named = r.status_code == 400 and field in r.json()["error"]["fields"]
            transaction.set_rollback(True)
        if not closed:
            with transaction.atomic():
                plain = _send(client, method, url, media, _body_with(root, tuple(where), {}))
                transaction.set_rollback(True)
            assert not named and r.status_code == plain.status_code, (url, r.content)
        answers.append((url, r.status_code))
        if r.status_code not in BEFORE_THE_BODY:
            break
    assert answers and answers[-1][1] not in BEFORE_THE_BODY, answers
    if closed:
        assert named, (answers, r.content)
