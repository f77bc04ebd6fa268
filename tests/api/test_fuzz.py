"""Property-based fuzzing of the whole REST API against its own OpenAPI schema (schemathesis).

Every operation the server publishes at ``/api/v1/schema/`` is called in-process, through the
WSGI application, with requests that schemathesis generates from the schema: valid bodies and
parameters, and invalid ones (wrong types, missing fields, odd strings). The checks (CHECKS):

- never a 500; only status codes, content types and headers (a single object's ``ETag``) that
  the operation documents; answers that match its response schema;
- a request that breaks the schema (a wrong type; a value out of its enum, range, length,
  pattern or format; a missing required field or header) is refused with one of the API's
  error statuses (REJECTED: 400, 401, 403, 404, 405, 409, 412, 413, 415, 422, ...), never a
  2xx: bad input gets a clear error. EMPTY_IS_NOT_GIVEN lists the one exception;
- a method that a path does not document answers 405 (with ``Allow``);
- no 2xx without credentials or with wrong ones (every operation but the token endpoint
  requires them): each 2xx answer is sent again without the token and with a made-up one.

Not positive_data_acceptance: see the comment under CHECKS.

The data is the demo project (ACME, every role, a CR in every state, requirements, a baseline,
a plan, meetings, ...), built once per module and worker inside a transaction that is rolled
back at the end; each generated request runs in its own savepoint, rolled back after it, so that
one example's writes never change the next one's data. Path parameters are, most of the time,
the keys and ids of real objects (``ACME``, ``ACME-3``, ``ACME-R-1``, a real meeting and one
of its occurrences), otherwise nearly every request would end at a 404.

The project manager (wang.lei) is the main caller: the coverage phase and MAX_EXAMPLES random
examples per operation. The other kinds of caller, whose permission paths differ (a customer,
zhou.jie; a viewer, sun.yue; an outsider, a member of no project and with no e-mail address;
anonymous, no token), get a lighter run of their own over the same schema and hooks: no coverage
phase, OTHERS_EXAMPLES random examples per operation and caller. The same checks for all.

Reproducible: Hypothesis is derandomized and schemathesis has a fixed seed.
"""

from __future__ import annotations

import dataclasses
import os

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from drf_spectacular.generators import SchemaGenerator
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

# Per operation: schemathesis' coverage phase (each parameter's and field's boundary and
# wrong-type values, methods the operation does not document; it found most of the 500s), then
# MAX_EXAMPLES random ones of the fuzzing phase (valid and invalid). 149 operations this way
# took about 90 s per database in CI; the stricter CHECKS add some 30 s (the boundary values of
# Idempotency-Key, page and page_size; ignored_auth's probes): 97 -> 125 s with -n 0 on SQLite.
# A deeper run, by hand: CHANGEFLOW_FUZZ_EXAMPLES=200 CHANGEFLOW_FUZZ_SEED=<n>;
# CHANGEFLOW_FUZZ_COVERAGE=0 skips the coverage phase.
MAX_EXAMPLES = int(os.environ.get("CHANGEFLOW_FUZZ_EXAMPLES", "6"))
COVERAGE = os.environ.get("CHANGEFLOW_FUZZ_COVERAGE", "1") == "1"
SEED = int(os.environ.get("CHANGEFLOW_FUZZ_SEED", "20261206"))

# A request that breaks the schema must be refused with one of the API's error statuses
# (API.md: 400 bad input, 401/403, 404, 405, 409, 412 stale If-Match, 413 too large, 415,
# 422 business precondition, 429); never a 2xx. 5xx are not_a_server_error's.
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "412", "413", "415", "422", "429"]
CHECKS_CONFIG = {"negative_data_rejection": {"expected-statuses": REJECTED}}

CONFIG = schemathesis.config.SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "generation": {
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
        },
        # The examples phase adds nothing: the schema has no examples.
        "phases": {"examples": {"enabled": False}, "coverage": {"enabled": COVERAGE}},
        "checks": CHECKS_CONFIG,
    }
)


def _raw_schema() -> dict:
    # The very document served at /api/v1/schema/ (public: every operation, whoever asks).
    return SchemaGenerator().get_schema(request=None, public=True)


schema = schemathesis.openapi.from_dict(_raw_schema(), config=CONFIG)
# Every request, and the checks' own probes (ignored_auth's), go in-process to the WSGI app.
APP = get_wsgi_application()
schema.app = APP

# The callers other than the project manager: the customer (zhou.jie), the viewer (sun.yue), an
# outsider (a member of no project) and anonymous (no token). Their permission paths differ (403,
# 404, 401), so does what they may read; errors may hide there too. A lighter run for each (about
# 1,200 requests, some 20 s more with -n 2): no coverage phase, OTHERS_EXAMPLES random examples
# per operation. The same schema (document and hooks: the real path parameters), its own
# configuration. Deeper, by hand: CHANGEFLOW_FUZZ_OTHERS_EXAMPLES=50, and
# CHANGEFLOW_FUZZ_OTHERS_COVERAGE=1 runs their coverage phase too.
OTHERS = ("customer", "viewer", "outsider", "anonymous")
OTHERS_EXAMPLES = int(os.environ.get("CHANGEFLOW_FUZZ_OTHERS_EXAMPLES", "2"))
OTHERS_COVERAGE = os.environ.get("CHANGEFLOW_FUZZ_OTHERS_COVERAGE", "0") == "1"
OTHERS_CONFIG = schemathesis.config.SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "generation": {
            "max-examples": OTHERS_EXAMPLES,
            "deterministic": True,
            "database": "none",
        },
        "phases": {"examples": {"enabled": False}, "coverage": {"enabled": OTHERS_COVERAGE}},
        "checks": CHECKS_CONFIG,
    }
)
others_schema = dataclasses.replace(schema, config=OTHERS_CONFIG.projects.get(schema.raw_schema))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    # The documented ETag of a single object's GET.
    response_headers_conformance,
    # A request that breaks the schema (a wrong type, a value out of its enum, range, length,
    # pattern or format, a missing required field) is refused: REJECTED above, never a 2xx.
    negative_data_rejection,
    # A method an operation's path does not document answers 405 with an Allow header.
    unsupported_method,
    # A request without a required header is refused (400/401/403/406/415/422). No operation
    # documents a required header today: this guards the first one that does.
    missing_required_header,
    # An operation that requires authentication (all but POST /api/v1/auth/token/) answers no
    # 2xx without credentials or with wrong ones: each 2xx is sent again without the token and
    # with a made-up one.
    ignored_auth,
]
# Not positive_data_acceptance (a request that matches the schema is accepted): a valid request
# may rightly be refused with a 400 by rules the schema cannot state (a member who is not in
# the project, a window that ends before it starts, a wrong password),
# with a 404 for an object that does not exist, or a 409/422 by the workflow. Its failures
# would all have to be ignored.

# Operation -> query parameters that the server takes as not given when they are sent empty,
# as every list filter of the API does (Django forms, django-filter); the schema cannot say "a
# date, or empty". negative_data_rejection does not count an empty one of these as invalid.
EMPTY_IS_NOT_GIVEN = {
    "GET /api/v1/audit/": {"since", "until"},
    "GET /api/v1/change-requests/": {"created_after", "created_before"},
}

# Schema violations found by this module and not fixed yet: the one check left out for the one
# operation, each with its reason. Everything else runs every check above.
KNOWN: dict[str, dict] = {}


CALLS = [0]  # requests made in this worker (printed with -s when CHANGEFLOW_FUZZ_COUNT=1)


# Real path parameter values, per path template; filled by the ``world`` fixture of this worker.
REAL: dict[str, list[dict]] = {}


def _real_path_parameters(project) -> dict[str, list[dict]]:
    """For each path template, the path parameters of objects that exist in ``project``."""
    from changeflow.changes.models import Attachment, ChangeRequest, ImportJob
    from changeflow.comms.models import QuarantinedMail
    from changeflow.crtemplates.models import CRTemplate
    from changeflow.impact.models import PlanDependency, PlanMilestone, PlanTask, SimulationRun
    from changeflow.meetings.models import ActionItem, AgendaItem, Meeting, Occurrence
    from changeflow.meetings.recurrence import occurrence_key
    from changeflow.notifications.models import Webhook
    from changeflow.orders.models import ChangeOrder
    from changeflow.processes.models import ProcessTemplate
    from changeflow.reports.models import ImprovementAction
    from changeflow.requirements.models import (
        Artifact,
        Baseline,
        ChangeSetEdit,
        Requirement,
        TraceLink,
    )

    key = project.key
    crs = list(ChangeRequest.objects.filter(project=project).values_list("key", flat=True))
    reqs = list(Requirement.objects.filter(project=project).values_list("key", flat=True))
    arts = list(Artifact.objects.filter(project=project).values_list("key", flat=True))
    usernames = list(project.memberships.values_list("user__username", flat=True))
    baselines = list(Baseline.objects.filter(project=project).values_list("name", flat=True))

    def ids(qs) -> list[dict]:
        return [{"key": key, "id": pk} for pk in qs.values_list("pk", flat=True)]

    def cr_ids(qs, cr_field="change_request__key") -> list[dict]:
        return [{"key": k, "id": pk} for pk, k in qs.values_list("pk", cr_field)]

    occurrences = [
        {"key": key, "id": o.meeting_id, "occ": occurrence_key(o.starts_at)}
        for o in Occurrence.objects.filter(meeting__project=project)
    ]

    def in_occurrence(model, name: str) -> list[dict]:
        rows = model.objects.filter(occurrence__meeting__project=project)
        return [
            {"key": key, "id": r.occurrence.meeting_id,
             "occ": occurrence_key(r.occurrence.starts_at), name: r.pk}
            for r in rows.select_related("occurrence")
        ]  # fmt: skip

    items = in_occurrence(AgendaItem, "item")
    actions = in_occurrence(ActionItem, "action")
    tasks = [
        {"key": key, "task": t}
        for t in PlanTask.objects.filter(plan__project=project).values_list("key", flat=True)
    ]
    cr_sims = SimulationRun.objects.filter(project=project, change_request__isnull=False)
    plan_sims = SimulationRun.objects.filter(project=project, change_request__isnull=True)
    return {
        "key:project": [{"key": key}],
        "key:cr": [{"key": k} for k in crs],
        "key:requirement": [{"key": k} for k in reqs],
        "key:artifact": [{"key": k} for k in arts],
        "username": [{"key": key, "username": u} for u in usernames],
        "name": [{"key": key, "name": n} for n in baselines],
        "attachments": [
            {"key": k, "id": pk}
            for pk, k in Attachment.objects.filter(change_request__project=project).values_list(
                "pk", "change_request__key"
            )
        ],
        "change-set": cr_ids(ChangeSetEdit.objects.filter(change_request__project=project)),
        "cr-simulations": cr_ids(cr_sims),
        "plan-simulations": ids(plan_sims),
        "meetings": ids(Meeting.objects.filter(project=project)),
        "occurrences": occurrences,
        "agenda": items,
        "actions": actions,
        "links": ids(TraceLink.objects.filter(project=project)),
        "webhooks": ids(Webhook.objects.filter(project=project)),
        "freeze-windows": ids(project.freeze_windows.all()),
        "dependencies": ids(PlanDependency.objects.filter(plan__project=project)),
        "milestones": ids(PlanMilestone.objects.filter(plan__project=project)),
        "tasks": tasks,
        "quarantine": ids(QuarantinedMail.objects.filter(project=project)),
        "cr-templates": ids(CRTemplate.objects.filter(project=project)),
        "import-jobs": ids(ImportJob.objects.filter(project=project)),
        "process-templates": [
            {"id": pk} for pk in ProcessTemplate.objects.values_list("pk", flat=True)
        ],
        "improvements": [
            {"key": key, "akey": k}
            for k in ImprovementAction.objects.filter(project=project).values_list("key", flat=True)
        ],
        "change-orders": [
            {"key": key, "number": n}
            for n in ChangeOrder.objects.filter(project=project)
            .exclude(state="superseded")
            .values_list("number", flat=True)
        ],
        "crs": crs,
    }


def _kind_of(path: str) -> str:
    """Which kind of real object a path template addresses (a key of ``REAL``)."""
    for marker, kind in (
        ("changes/import/{id}", "import-jobs"),
        ("{action}", "actions"),
        ("{item}", "agenda"),
        ("{occ}", "occurrences"),
        ("meetings/{id}", "meetings"),
        ("{username}", "username"),
        ("{name}", "name"),
        ("{task}", "tasks"),
        ("attachments/{id}", "attachments"),
        ("change-set/{id}", "change-set"),
        ("plan/simulations/{id}", "plan-simulations"),
        ("simulations/{id}", "cr-simulations"),
        ("links/{id}", "links"),
        ("webhooks/{id}", "webhooks"),
        ("freeze-windows/{id}", "freeze-windows"),
        ("dependencies/{id}", "dependencies"),
        ("milestones/{id}", "milestones"),
        ("quarantine/{id}", "quarantine"),
        ("cr-templates/{id}", "cr-templates"),
        ("process-templates/{id}", "process-templates"),
        ("{akey}", "improvements"),
        ("change-orders/{number}", "change-orders"),
    ):
        if marker in path:
            return kind
    for prefix, kind in (
        ("/api/v1/projects/", "key:project"),
        ("/api/v1/change-requests/", "key:cr"),
        ("/api/v1/requirements/", "key:requirement"),
        ("/api/v1/artifacts/", "key:artifact"),
    ):
        if path.startswith(prefix):
            return kind
    raise AssertionError(f"no real objects known for {path}")


def _as_documented(operation, values: dict) -> bool:
    """Whether drawn path parameters have their documented types (and enum): the schema's path
    parameters are plain integers and strings."""
    for parameter in operation.path_parameters:
        documented, value = parameter.definition["schema"], values.get(parameter.name)
        if documented.get("type") == "integer":
            valid = isinstance(value, int) and not isinstance(value, bool)
        else:
            valid = isinstance(value, str) and value in documented.get("enum", [value])
        if not valid:
            return False
    return True


@schema.hook("flatmap_path_parameters")
def _real_objects_mostly(context, path_parameters):
    """Three times in four, the path names objects that exist (the generated value otherwise,
    which exercises the 404s and the parsing of odd keys)."""
    if not path_parameters or not _as_documented(context.operation, path_parameters):
        # A negative case's invalid path parameter stays: a real object's would make it valid.
        return st.just(path_parameters)
    real = REAL.get(_kind_of(context.operation.path), [])
    if not real:
        return st.just(path_parameters)
    chosen = st.sampled_from(real).map(lambda values: {**path_parameters, **values})
    # Real objects first: the first example Hypothesis tries (its simplest) then names one.
    return st.one_of(chosen, chosen, chosen, st.just(path_parameters))


def _queued_import(project, pm) -> None:
    """A background import of change requests, queued (its task never runs here): the job's
    endpoint then has a real job to answer with."""
    from changeflow.changes import import_jobs
    from changeflow.changes import io as cr_io

    raw = b"title\nFuzz job\n"
    import_jobs.import_job_create(
        user=pm, project=project, raw=raw, parsed=cr_io.parse(raw, filename="job.csv"),
        filename="job.csv",
    )  # fmt: skip


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The demo project, built once for this module in this worker, rolled back at the end;
    the headers of each caller (``pm``, the ``OTHERS``, ``admin``).

    The tests' own ``db`` fixture nests its transaction (a savepoint) inside this one."""
    from changeflow.accounts import services as accounts
    from changeflow.demo import _Demo

    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            demo = _Demo()
            demo.build()
            _queued_import(demo.project, demo.users["wang.lei"])
            outsider = accounts.user_create(
                username="outsider", password=None, display_name="Outsider (no project)"
            )
            callers = {
                "pm": demo.users["wang.lei"],
                # Only for test_fuzz_stateful.py: the one who may create projects.
                "admin": demo.users["admin"],
                "customer": demo.users["zhou.jie"],
                "viewer": demo.users["sun.yue"],
                "outsider": outsider,
            }
            REAL.clear()
            REAL.update(_real_path_parameters(demo.project))
            headers = {
                caller: {"Authorization": f"Token {accounts.token_create(user=user)}"}
                for caller, user in callers.items()
            }
            yield {**headers, "anonymous": {}}
        finally:
            if os.environ.get("CHANGEFLOW_FUZZ_COUNT") == "1":
                print(f"\nfuzz: {CALLS[0]} requests")
            REAL.clear()
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def in_process(world, db):
    """Requests through the WSGI handler on the test's own connection: as Django's test client
    does, the handler must not close the connection at the end of each request (that would end
    the test's transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield world
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@schema.parametrize()
@hypothesis.settings(
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=MAX_EXAMPLES,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_api_against_its_schema(case, in_process):
    _call_and_check(case, in_process["pm"])


@pytest.mark.parametrize("caller", OTHERS)
@others_schema.parametrize()
@hypothesis.settings(
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=OTHERS_EXAMPLES,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_api_against_its_schema_as_others(case, caller, in_process):
    """The same checks for the callers who are not the project manager."""
    _call_and_check(case, in_process[caller])


def _only_empty_filters(case) -> bool:
    """Whether the only invalid part of a negative case is one or more EMPTY_IS_NOT_GIVEN query
    parameters sent empty."""
    names = EMPTY_IS_NOT_GIVEN.get(case.operation.label)
    data = case.meta.phase.data if case.meta is not None else None
    if not names or data is None or not case.meta.generation.mode.is_negative:
        return False
    named = {data.parameter} if data.parameter else {m.parameter for m in data.mutations}
    return (
        data.parameter_location == ParameterLocation.QUERY
        and bool(named)
        and named <= names
        and all((case.query or {}).get(name) in ("", [""]) for name in named)
    )


# Operations whose authentication ignored_auth has confirmed in this worker (a 2xx whose
# probes, without the token and with a made-up one, were refused). As in schemathesis' own
# runner, once is enough: enforcement is the operation's, not the request's or the caller's.
# The anonymous caller's requests are checked every time (they carry no token to remove).
AUTH_CONFIRMED: set[str] = set()


def _call_and_check(case, headers: dict) -> None:
    CALLS[0] += 1
    excluded = set(KNOWN.get(case.operation.label, {}))
    if _only_empty_filters(case):
        excluded.add(negative_data_rejection)
    if headers and case.operation.label in AUTH_CONFIRMED:
        excluded.add(ignored_auth)
    checks = [check for check in CHECKS if check not in excluded]
    # The checks run inside the savepoint too: ignored_auth's probes are requests of their own.
    with transaction.atomic():
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=checks, headers=headers)
        finally:
            transaction.set_rollback(True)
    if headers and ignored_auth in checks and 200 <= response.status_code < 300:
        AUTH_CONFIRMED.add(case.operation.label)
