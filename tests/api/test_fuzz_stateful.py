"""Stateful fuzzing of the REST API: sequences of calls where one answer feeds the next.

test_fuzz.py calls each operation alone. Here schemathesis' state machine follows the schema's
OpenAPI links (core/api_links.py): it starts from a write (create a CR, a requirement, a
project, a webhook, ...; path parameters name real demo objects, as in test_fuzz.py) and goes
on through the links: the created CR's GET, then a PATCH with its ETag in If-Match, its
transitions, comments, attachments, assessments, votes; a requirement's PATCH (a new version),
versions, a baseline and its diff; trace links, review, the matrix; a webhook's test delivery
and deliveries; a write sent again with the same Idempotency-Key and body.

Checks: test_fuzz.CHECKS on every answer (no 500, documented statuses, content types, headers
and bodies; ignored_auth), and for sequences:

- ensure_resource_availability: an object a 2xx just created is there for the next call;
- use_after_free: an object a 2xx just deleted is gone (404);
- a write repeated with the same Idempotency-Key, path and body as an earlier successful one
  gets the first answer again (status and body); the key reused for another request is a 422
  (API.md; ``_same_key_same_answer``);
- nothing a sequence wrote outlives its rollback (``teardown``).

Only valid requests (positive generation): the invalid ones are test_fuzz.py's; here they
would mostly end a sequence at its first step. Body fields that name other objects name real
ones (REFERENCES), as path parameters do.

The data is test_fuzz.py's demo project (its module fixture, built once per module and
worker inside a transaction). Each scenario (sequence) runs in its own savepoint, rolled back
when it ends, so that no sequence sees another's writes. The callers: the project manager
(SCENARIOS sequences) and the site admin (ADMIN_SCENARIOS), who alone may create projects and
so starts the sequences of a new project.

Reproducible: Hypothesis is derandomized, schemathesis has a fixed seed. Deeper, by hand:
CHANGEFLOW_FUZZ_SCENARIOS=500 CHANGEFLOW_FUZZ_STEPS=20 CHANGEFLOW_FUZZ_SEED=<n>.
"""

from __future__ import annotations

import json
import os
from collections import Counter

import hypothesis
import pytest
import schemathesis
from django.core.cache import cache
from django.db import transaction
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import ensure_resource_availability, use_after_free

from tests.api import test_fuzz as fuzz
from tests.api.test_fuzz import in_process, world  # noqa: F401 - the fixtures, shared

SCENARIOS = int(os.environ.get("CHANGEFLOW_FUZZ_SCENARIOS", "100"))
ADMIN_SCENARIOS = int(os.environ.get("CHANGEFLOW_FUZZ_ADMIN_SCENARIOS", "30"))
STEPS = int(os.environ.get("CHANGEFLOW_FUZZ_STEPS", "10"))

CONFIG = schemathesis.config.SchemathesisConfig.from_dict(
    {
        "seed": fuzz.SEED,
        "generation": {"mode": "positive", "deterministic": True, "database": "none"},
        # The schema's own links only: schemathesis' inferred ones (some 700, from names
        # alone) would mostly join unrelated operations.
        "phases": {"stateful": {"inference": {"algorithms": []}, "max-steps": STEPS}},
        "checks": fuzz.CHECKS_CONFIG,
    }
)
schema = schemathesis.openapi.from_dict(fuzz.schema.raw_schema, config=CONFIG)
schema.app = fuzz.APP
# The first call of a sequence names real objects, as in test_fuzz.py (links give the rest).
schema.hook("flatmap_path_parameters")(fuzz._real_objects_mostly)


# Body fields that name other objects: a generated value names none (every such request a 400
# or 404, and a sequence ends there), so they name real ones: operation -> field -> kind of
# object (test_fuzz.REAL). A link's own value still wins (it is merged in after this).
REFERENCES = {
    "POST /api/v1/change-requests/": {"project": "key:project"},
    "POST /api/v1/projects/{key}/requirements/": {"parent": "key:requirement"},
    "POST /api/v1/projects/{key}/links/": {"source": "key:artifact", "target": "key:requirement"},
    "POST /api/v1/projects/{key}/members/": {"username": "username"},
}


@schema.hook("flatmap_body")
def _real_references(context, body):
    fields = REFERENCES.get(context.operation.label)
    if not fields or not isinstance(body, dict):
        return st.just(body)
    # Each REAL entry names its object last ({"key": "ACME", "username": "wang.lei"}).
    real = {
        field: st.sampled_from([list(values.values())[-1] for values in fuzz.REAL[kind]])
        for field, kind in fields.items()
        if field in body and isinstance(body[field], str)
    }
    return st.fixed_dictionaries(real).map(lambda values: {**body, **values})


@schema.hook("flatmap_headers")
def _keyed_writes(context, headers):
    """Every write that takes an Idempotency-Key carries one (generated, it often did not), so
    that the links that send a write again (Replay...) can follow every successful one."""
    names = {p.name for p in context.operation.headers}
    if "Idempotency-Key" not in names or "Idempotency-Key" in (headers or {}):
        return st.just(headers)
    return st.uuids().map(lambda key: {**(headers or {}), "Idempotency-Key": str(key)})


# (operation, status) -> answers, in this worker: printed with -s when CHANGEFLOW_FUZZ_COUNT=1.
REACHED: Counter[tuple[str, int]] = Counter()


def _written() -> tuple[int, ...]:
    """Counts that the writes change: every write is audited, and keeps its Idempotency-Key."""
    from changeflow.core.models import AuditEvent, IdempotencyRecord

    return AuditEvent.objects.count(), IdempotencyRecord.objects.count()


def _fingerprint(case) -> str:
    return json.dumps(
        [case.operation.method, case.formatted_path, case.body],
        sort_keys=True,
        default=str,
    )


class Sequences(schema.as_state_machine()):  # type: ignore[misc]
    headers: dict = {}

    def setup(self) -> None:
        # Each sequence starts from the same state: the rate limits' counters live in the
        # cache, which no rollback undoes (a vote answered 429 in one run of a sequence and not
        # in the next, and Hypothesis, replaying it, found its draws inconsistent).
        cache.clear()
        # One savepoint per sequence, rolled back at its end (teardown).
        self._before = _written()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        # Idempotency-Key -> (the request, status, body) of the 2xx that first used it.
        self._answered: dict[str, tuple[str, int, bytes]] = {}

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)
        # Nothing a sequence wrote outlives it (another connection, a task run at once, ...).
        assert _written() == self._before

    def get_call_kwargs(self, case) -> dict:
        return {"headers": self.headers}

    def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
        fuzz.CALLS[0] += 1
        REACHED[(case.operation.label, response.status_code)] += 1
        excluded = {fuzz.ignored_auth} if case.operation.label in fuzz.AUTH_CONFIRMED else set()
        checks = [c for c in fuzz.CHECKS if c not in excluded]
        checks += [ensure_resource_availability, use_after_free]
        case.validate_response(
            response, checks=checks, headers=self.headers, recorder=self.recorder
        )
        if fuzz.ignored_auth in checks and 200 <= response.status_code < 300:
            fuzz.AUTH_CONFIRMED.add(case.operation.label)
        self._same_key_same_answer(case, response)

    def _same_key_same_answer(self, case, response) -> None:
        key = (case.headers or {}).get("Idempotency-Key")
        if key is None:
            return
        label, seen = case.operation.label, self._answered.get(key)
        if seen is None:
            if 200 <= response.status_code < 300:
                self._answered[key] = (_fingerprint(case), response.status_code, response.content)
        elif seen[0] == _fingerprint(case):
            REACHED[("(a repeat with the same Idempotency-Key)", response.status_code)] += 1
            assert (response.status_code, response.content) == seen[1:], (
                f"{label}: a repeat with Idempotency-Key {key!r} answered "
                f"{response.status_code} {response.content[:300]!r}, the first answer was "
                f"{seen[1]} {seen[2][:300]!r}"
            )
        else:
            assert response.status_code == 422, (
                f"{label}: Idempotency-Key {key!r}, used before for another request, answered "
                f"{response.status_code}, not 422"
            )


# The project manager runs the demo project; the site admin, who alone may create projects,
# starts the sequences of a new project (its members, board, requirements, ...).
CALLERS = {"pm": SCENARIOS, "admin": ADMIN_SCENARIOS}


@pytest.mark.slow
@pytest.mark.parametrize("caller", CALLERS)
def test_api_sequences(caller, in_process):  # noqa: F811 - the fixture imported above
    Sequences.headers = in_process[caller]
    Sequences.run(
        settings=hypothesis.settings(
            max_examples=CALLERS[caller],
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[hypothesis.Phase.generate],
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )
    if os.environ.get("CHANGEFLOW_FUZZ_COUNT") == "1":
        operations = {label for label, _ in REACHED if not label.startswith("(")}
        ok = {label for label, status in REACHED if label in operations and 200 <= status < 300}
        print(
            f"\nsequences: {sum(REACHED.values())} requests, {len(operations)} operations, "
            f"{len(ok)} with a 2xx"
        )
        for (label, status), count in sorted(REACHED.items()):
            print(f"  {label} {status}: {count}")
