"""Every route of the URL resolver, checked for outsiders, anonymous callers and viewers.

The routes come from ``django.urls.get_resolver()``: web pages, htmx fragments, the API, files,
charts and exports. Each is either checked here or on PUBLIC (public by design, with the reason),
and a test fails on a route that is neither, and on a PUBLIC entry that no longer exists: a new
route cannot be added without its check (a path parameter no rule of PARAMETER_RULES fills fails
too).

For each route, every HTTP method its view accepts (read from the view: a class's handlers, a
function's ``require_http_methods`` family of decorators; all six when a function has none):

- a route with path parameters addresses objects of the demo project (ACME), and its parameters
  are filled with real ones; so does a write whose body names ACME (BODIES). An **outsider**
  (the project manager of another project; a user of no project) gets 404, whatever the method,
  on pages and the API alike, and nothing is written;
- a route whose path names a site-wide object (SITE_WIDE: a saved process template) answers
  the outsider, a member of another project, as any member: reads 200, writes 403; a user of no
  project gets 404;
- a route without path parameters (a list, one's own inbox, a site admin's page) never answers
  an outsider with a server error or with anything of ACME, and writes nothing of ACME's;
- **anonymous** callers get 401 (API) or a redirect to sign in (pages), and nothing is written;
- a write (POST, PUT, PATCH, DELETE) of ACME's by a **viewer** of ACME is refused and writes
  nothing, except the few on VIEWER_MAY (what a viewer may do, and why): a 403 or 404, never a
  400 for the body, since **the role is checked before the body is read**. With a valid body
  (BODIES: the project manager's same request gets past validation and permission), the viewer
  and each of the demo's other roles (OTHER_ROLES) who is refused gets the same answer with an
  empty body (EMPTY_BODIES: but for what names the project); the other writes are sent empty.

"Nothing is written": no INSERT, UPDATE or DELETE reaches the database during the request, but
for the session row and the API token's last-used time (bookkeeping, not the request's doing).

The demo is built once per module (and worker) in a transaction rolled back at the end, as in
``tests/api/test_fuzz.py``; each test, and each request in it, runs in a savepoint of its own.
"""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test import Client, TestCase
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver

ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
SAFE = {"GET", "HEAD"}

# Routes open by design (by URL name, or by the route itself when it has no name), each with why.
PUBLIC = {
    "login": "the sign-in page",
    "logout": "signing out: harmless for anyone, and ends only the caller's own session",
    "set_language": "the language switch: Django's own, before and after sign-in",
    "home": "a redirect to My work (my-work), which itself asks to sign in",
    "healthz": "the load balancer's probe: the process is up",
    "readyz": "the load balancer's probe: database and migrations",
    "api-schema": "the OpenAPI schema: the API's published contract",
    "api-docs": "the API's documentation page, rendering the schema",
    "api-token": "the token endpoint: its caller has only a password",
    "api/v1/": "the API's catch-all: a JSON 404 for every other path, to anyone",
    "calendar-feed": "a calendar app's feed: signed by the secret token in its URL "
    "(test_a_feed_token_opens_no_other_project checks the other feed)",
    "project-feed": "a project's calendar feed: signed by the secret token in its URL "
    "(test_a_feed_token_opens_no_other_project checks it)",
    "guide": "the process guide's index: the product's own documentation, no project's data",
    "guide-topic": "a topic of the process guide: the product's documentation, no data",
}

# Objects named by the path that belong to no project but to the site, each with why: what a
# member of another project (the outsider) gets is what any member of ACME gets (reads 200,
# writes refused 403 as they are not the object's creator), and a user of no project gets 404.
SITE_WIDE = {
    "process-templates": "a saved process template: shared by every project, naming no users "
    "and no project's data (selectors: any member of some project reads it; its creator and "
    "site admins change it)",
}

# Writes a viewer of the project may make, with why (the test checks they are not refused).
VIEWER_MAY = {
    ("api-cr-watch", "POST"): "watching a change request one may read: one's own subscription",
    ("api-cr-watch", "DELETE"): "no longer watching it",
    ("cr-watch", "POST"): "watching, or no longer watching, a change request one may read",
}

# The demo's other members, who send the valid bodies too: a role refused a write with a valid
# body is refused it the same way with an empty one (the role is checked before the body).
OTHER_ROLES = {
    "chen.jing": "tech_lead",
    "liu.yang": "qa",
    "zhao.min": "developer",
    "li.na": "customer_rep",
    "zhou.jie": "customer",
}

# What the role check needs of a body, sent as the "empty" body: the project a new change
# request is for. Any other write is sent empty.
EMPTY_BODIES: dict[tuple[str, str], dict] = {
    ("api-cr-list", "POST"): {"project": "ACME"},
}
# Writes where whom the role allows depends on what the body asks: every member but the viewer
# may make some transition (a developer submits for verification, QA verifies, a requester
# withdraws), so a refusal for one action says nothing of an empty body.
BODY_DECIDES = {
    ("api-cr-transitions", "POST"): "which transition: each has its own roles",
    ("cr-transition", "POST"): "which transition: each has its own roles",
    ("api-meeting-list", "POST"): "which kind: the customer representative runs customer "
    "meetings, the project manager and the board's chair CCB meetings",
    ("meeting-occurrence-post", "POST"): "which operation (op): a board member votes, an "
    "action item's owner marks it done, whoever runs the meeting does the rest",
}

# Valid bodies for writes, so that the viewer's refusal is the role's and not the body's: the
# project manager's same request gets past validation and permission (2xx or 3xx, or 409/422: a
# state precondition). A bytes value is sent as a file (multipart); "{...}" names a real object
# (EXTRAS). A write without a body here is sent empty: the viewer must still be refused (403, 404,
# or the empty body's 400/415/422) and write nothing.
MEETING = {"title": "m", "starts_at": "2027-01-05T10:00:00+08:00", "timezone": "Asia/Shanghai"}
TASK = {"optimistic": 1, "most_likely": 2, "pessimistic": 3}
NO_FIELD_ROWS = {"field-TOTAL_FORMS": "0", "field-INITIAL_FORMS": "0"}  # a template's formset
BODIES: dict[tuple[str, str], dict] = {
    ("api-cr-list", "POST"): {"project": "ACME", "title": "t", "description": "x"},
    ("api-cr-transitions", "POST"): {"action": "withdraw"},
    ("api-cr-comments", "POST"): {"body": "x"},
    ("api-cr-import", "POST"): {"file": b"title\nRoute import\n", "format": "csv"},
    ("api-cr-attachments", "POST"): {"file": b"%PDF-1.4 x"},
    ("api-cr-votes", "POST"): {"decision": "approve", "password": "{password}"},
    ("api-requirement-list", "POST"): {"title": "t", "text": "x"},
    ("api-baseline-list", "POST"): {"name": "B-route"},
    ("api-artifact-list", "POST"): {"kind": "test", "title": "t"},
    ("api-link-list", "POST"): {"source": "{artifact}", "target": "{requirement}",
                                "kind": "verifies"},
    ("api-cr-change-set", "POST"): {"op": "add", "fields": {"title": "t", "text": "x"}},
    ("api-cr-change-set-edit", "PATCH"): {"fields": {"title": "t2"}},
    ("api-plan", "PUT"): {"tasks": [{"key": "RT1", **TASK}]},
    ("api-plan-tasks", "POST"): {"key": "RT1", **TASK},
    ("api-plan-deps", "POST"): {"predecessor": "{task}", "successor": "{task2}"},
    ("api-plan-milestones", "POST"): {"name": "m", "task": "{task}", "target_date": "2027-01-01"},
    ("api-cr-change-plan", "PUT"): {"tasks": [{"key": "C1", **TASK}]},
    ("api-communication-list", "POST"): {"channel": "phone", "summary": "x",
                                         "occurred_at": "2026-12-01T10:00:00+08:00"},
    ("api-meeting-list", "POST"): {"kind": "ccb", **MEETING},
    ("api-agenda-list", "POST"): {"title": "x"},
    ("api-agenda-item", "PATCH"): {"outcome": "", "rationale": "x"},
    ("api-attendance", "PUT"): {"attendance": [{"username": "wang.lei", "status": "present"}]},
    ("api-meeting-votes", "POST"): {"item": "{item}", "decision": "approve",
                                    "password": "{password}"},
    ("api-action-list", "POST"): {"title": "a", "owner": "wang.lei", "due_date": "2027-01-01"},
    ("api-action-detail", "PATCH"): {"done": True},
    ("api-cr-estimates", "POST"): {"effort": TASK},
    ("cr-transition", "POST"): {"action": "withdraw"},
    ("cr-comment", "POST"): {"body": "x"},
    ("cr-import", "POST"): {"file": b"title\nRoute import\n", "format": "csv"},
    ("cr-attach", "POST"): {"file": b"%PDF-1.4 x"},
    ("cr-vote", "POST"): {"decision": "approve", "password": "{password}"},
    ("cr-simulate", "POST"): {"iterations": "200"},
    ("cr-simulation-assess", "POST"): {"level": "P80"},
    ("cr-estimate", "POST"): {"effort_optimistic": "1", "effort_most_likely": "2",
                              "effort_pessimistic": "3"},
    ("meeting-occurrence-post", "POST"): {"op": "agenda", "title": "x"},
    ("plan-edit", "POST"): {"key": "RT1", "name": "x", "optimistic": "1", "most_likely": "2",
                            "pessimistic": "3"},
    ("api-improvement-list", "POST"): {"title": "t", "owner": "wang.lei",
                                       "due_date": "2027-01-01"},
    ("api-improvement-detail", "PATCH"): {"progress": 50},
    ("api-improvement-transitions", "POST"): {"action": "start"},
    ("improvement-create", "POST"): {"title": "t", "owner": "wang.lei", "due_date": "2027-01-01"},
    ("improvement-edit", "POST"): {"title": "t", "owner": "chen.jing", "due_date": "2027-01-01"},
    ("improvement-progress", "POST"): {"progress": "50"},
    ("improvement-transition", "POST"): {"action": "start"},
    ("api-cr-case", "POST"): {"outcome": "success", "lessons": "x", "tags": ["t"]},
    ("api-cr-case", "PUT"): {"outcome": "failure", "root_causes": "x"},
    ("api-review-report-list", "POST"): {"kind": "on_demand", "from": "2026-01-01",
                                         "to": "2026-02-01"},
    ("review-report-generate", "POST"): {"kind": "on_demand", "from": "2026-01-01",
                                         "to": "2026-02-01"},
    ("api-review-schedule", "PUT"): {"frequency": "monthly"},
    ("review-schedule", "POST"): {"frequency": "monthly"},
    ("case-edit", "POST"): {"outcome": "success", "lessons": "x", "tags": "t"},
    ("api-crtemplate-list", "POST"): {"name": "route template"},
    ("api-crtemplate-detail", "PATCH"): {"description": "x"},
    ("crtemplate-create", "POST"): {"name": "route template", **NO_FIELD_ROWS},
    ("crtemplate-edit", "POST"): {"name": "route template 2", **NO_FIELD_ROWS},
    ("crtemplate-archive", "POST"): {"archived": "1"},
    ("crtemplate-move", "POST"): {"direction": "down"},
    ("api-project-process-apply", "POST"): {"preset": "standard", "parts": ["review_schedule"]},
    ("api-process-template", "PATCH"): {"description": "x"},
    ("process-apply", "POST"): {"confirm": "1", "source": "preset:standard",
                                "parts": "review_schedule"},
    ("process-save", "POST"): {"name": "route process"},
    ("process-template-detail", "POST"): {"name": "route process", "description": "",
                                          "document": '{{"version": 1}}'},  # format_map
    ("process-template-archive", "POST"): {"archived": "1"},
    ("api-order-list", "POST"): {"change_request": "{cr}", "amount": "100.00"},
    ("api-order-detail", "PATCH"): {"amount": "100.00"},
    ("api-order-issue", "POST"): {},
    ("api-order-withdraw", "POST"): {"reason": "x"},
    ("order-create", "POST"): {"cr": "{cr}", "amount": "100", "currency": "CNY",
                               "schedule_delta_days": "1"},
    ("order-edit", "POST"): {"amount": "100", "currency": "CNY", "schedule_delta_days": "1"},
    ("order-withdraw", "POST"): {"reason": "x"},
    ("api-cr-links", "POST"): {"kind": "relates_to", "target": "{cr2}"},
    ("api-cr-mark-duplicate", "POST"): {"original": "{cr2}"},
    ("cr-link-add", "POST"): {"kind": "relates_to", "target": "{cr2}"},
    ("cr-mark-duplicate", "POST"): {"original": "{cr2}"},
    ("api-cr-bulk", "POST"): {"keys": ["{cr}"], "operation": "priority", "priority": "P1"},
    ("project-detail", "POST"): {"keys": "{cr}", "operation": "priority", "priority": "P1"},
    ("cr-list", "POST"): {"keys": "{cr}", "operation": "priority", "priority": "P1"},
    ("ccb-freeze-create", "POST"):  {"name": "f", "starts_at": "2027-02-01 00:00",
                                    "ends_at": "2027-02-02 00:00", "reason": "x"},
}  # fmt: skip


def _empty(route: Route, method: str, world) -> dict | None:
    """The body sent as empty: nothing, or only what names the project (EMPTY_BODIES)."""
    body = EMPTY_BODIES.get((route.name, method))
    return None if body is None else _filled(body, world["extras"])


def _filled(value, extras: dict):
    """``value`` with its "{name}" strings replaced by the real objects' values."""
    if isinstance(value, str):
        return value.format_map(extras)
    if isinstance(value, dict):
        return {k: _filled(v, extras) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(v, extras) for v in value]
    return value


# What each kind of path parameter names. The first rule whose pattern is found in the route
# decides; ``<str:key>`` alone is decided by the route's first segment.
PARAMETER_RULES = (
    (r"changes/import/<int:id>", "import-jobs"),
    (r"<int:item>", "agenda"),
    (r"<int:action>", "actions"),
    (r"<str:occ>", "occurrences"),
    (r"meetings/<int:id>", "meetings"),
    (r"improvement(s|-actions)/<str:akey>", "improvements"),
    (r"reports/<int:number>", "review-reports"),
    (r"change-orders/<int:number>", "change-orders"),
    (r"members/<str:username>", "members"),
    (r"baselines/<str:name>", "baselines"),
    (r"tasks/<str:task>", "tasks"),
    (r"plan/<str:what>/<str:ref>", "plan-task-ref"),
    (r"plan/<str:what>", "plan-what"),
    (r"attachments/<int:pk>", "attachments"),
    (r"change-set/<int:(id|edit_id)>", "change-set"),
    (r"plan/simulations/<int:id>", "plan-simulations"),
    (r"simulations/<int:(id|pk)>", "cr-simulations"),
    (r"(change-requests|changes)/<str:key>/links/<int:(id|pk)>", "cr-links"),
    (r"links/<int:(id|pk)>", "links"),
    (r"webhooks/<int:(id|pk)>", "webhooks"),
    (r"cr-templates/<int:(id|pk)>", "cr-templates"),
    (r"process-templates/<int:(id|pk)>", "process-templates"),
    (r"freeze-windows/<int:(id|pk)>", "freeze-windows"),
    (r"dependencies/<int:id>", "dependencies"),
    (r"milestones/<int:id>", "milestones"),
    (r"quarantine/<int:(id|pk)>/<str:action>", "quarantine-action"),
    (r"quarantine/<int:(id|pk)>", "quarantine"),
    (r"notifications/<int:pk>", "notifications"),
    (r"tokens/<int:token_id>", "tokens"),
    (r"tasks/<uuid:task_id>", "background-tasks"),
)
KEY_BY_PREFIX = (
    ("projects/", "project"),
    ("changes/", "cr"),
    ("change-requests/", "cr"),
    ("requirements/", "requirement"),
    ("artifacts/", "artifact"),
)


@dataclass(frozen=True)
class Route:
    route: str  # the pattern, e.g. "api/v1/projects/<str:key>/"
    name: str  # the URL name, or the route when it has none
    callback: object

    @property
    def api(self) -> bool:
        return self.route.startswith("api/v1/")

    @property
    def kwargs(self) -> list[str]:
        return re.findall(r"<(?:\w+:)?(\w+)>", self.route)

    @property
    def kind(self) -> str:
        if self.api:
            return "api"
        if re.search(r"export|chart|\.ics|minutes\.|download|/raw/|attachments/<", self.route):
            return "file"
        return "page"


def _walk(resolver: URLResolver, prefix: str = ""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            route = prefix + str(entry.pattern)
            yield Route(route, entry.name or route, entry.callback)


ROUTES = list(_walk(get_resolver()))


def methods_of(callback) -> tuple[str, ...]:
    """The HTTP methods the view answers (OPTIONS aside): a class's handlers, or the list of a
    function's ``require_http_methods`` (``require_GET``, ``require_POST``...: exactly those,
    so no HEAD with ``require_GET``); all of them when
    a function view has no such decorator."""
    cls = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if cls is not None:
        names = [m for m in cls.http_method_names if m != "options" and hasattr(cls, m)]
        if "get" in names and "head" not in names:
            names.append("head")  # View.setup() answers HEAD with GET
        return tuple(m for m in ALL_METHODS if m.lower() in names)
    function = callback
    while function is not None:
        for cell in inspect.getclosurevars(function).nonlocals.values():
            if (
                isinstance(cell, list | tuple | set)
                and cell
                and all(isinstance(m, str) and m in ALL_METHODS for m in cell)
            ):
                # Exactly the list: require_GET refuses HEAD (require_safe allows it).
                return tuple(m for m in ALL_METHODS if m in cell)
        function = getattr(function, "__wrapped__", None)
    return ALL_METHODS


def _kind_of_parameters(route: Route) -> str:
    for pattern, kind in PARAMETER_RULES:
        if re.search(pattern, route.route):
            return kind
    path = route.route.removeprefix("api/v1/")
    for prefix, kind in KEY_BY_PREFIX:
        if path.startswith(prefix):
            return kind
    raise AssertionError(f"{route.name}: no rule says what its parameters {route.kwargs} name")


CHECKED = [r for r in ROUTES if r.name not in PUBLIC]
CASES = [pytest.param(r, m, id=f"{r.name} {m}") for r in CHECKED for m in methods_of(r.callback)]


# ---------------------------------------------------------------------------- the data


def _first(model, **filters):
    """The first ``model`` row matching ``filters``: the demo has one, or this test says so."""
    row = model.objects.filter(**filters).first()
    assert row is not None, f"the demo has no {model.__name__} with {filters}"
    return row


def _real_parameters(project, users) -> dict[str, dict]:
    """For each kind of path parameter, the values of one real object of ``project``."""
    from django_tasks_db.models import DBTaskResult

    from changeflow.accounts import services as accounts
    from changeflow.accounts.models import ApiToken
    from changeflow.ccb.models import FreezeWindow
    from changeflow.changes import import_jobs
    from changeflow.changes import io as cr_io
    from changeflow.changes.models import Attachment, ChangeRequest, ChangeRequestLink
    from changeflow.comms.models import QuarantinedMail
    from changeflow.comms.services import mail_quarantine
    from changeflow.crtemplates.models import CRTemplate
    from changeflow.impact.models import PlanDependency, PlanMilestone, PlanTask, SimulationRun
    from changeflow.impact.plans import simulation_start
    from changeflow.impact.tasks import run_simulation
    from changeflow.meetings.models import ActionItem, AgendaItem, Occurrence
    from changeflow.meetings.recurrence import occurrence_key
    from changeflow.notifications.models import Notification, Webhook
    from changeflow.orders.models import ChangeOrder
    from changeflow.processes.models import ProcessTemplate
    from changeflow.reports.models import ImprovementAction, ReviewReport
    from changeflow.requirements.models import (
        Artifact,
        Baseline,
        ChangeSetEdit,
        Requirement,
        TraceLink,
    )

    key = project.key
    pm = users["wang.lei"]
    accounts.token_create(user=pm)
    mail_quarantine(raw=b"Subject: x\r\n\r\nbody", reason="test", source="imap", project=project)
    # A failed background task, for the site admins' retry button.
    simulation_start(user=pm, project=project, iterations=200, seed=1)  # of the plan alone
    failed = run_simulation.enqueue(_first(SimulationRun, project=project).pk)
    DBTaskResult.objects.filter(pk=failed.id).update(status="FAILED")
    # A queued background import of change requests (its task never runs here).
    raw = b"title\nRoute job\n"
    job = import_jobs.import_job_create(
        user=pm, project=project, raw=raw, parsed=cr_io.parse(raw, filename="job.csv"),
        filename="job.csv",
    )  # fmt: skip
    occurrence = _first(Occurrence, meeting__project=project)
    occ = {"key": key, "id": occurrence.meeting_id, "occ": occurrence_key(occurrence.starts_at)}
    agenda = _first(AgendaItem, occurrence=occurrence)
    action = _first(ActionItem, occurrence__meeting__project=project)
    task = _first(PlanTask, plan__project=project)
    cr_sim = _first(SimulationRun, project=project, change_request__isnull=False)
    plan_sim = _first(SimulationRun, project=project, change_request__isnull=True)
    edit = _first(ChangeSetEdit, change_request__project=project)
    attachment = _first(Attachment, change_request__project=project)
    # An open change request: its writes are possible, so that a refusal means something.
    cr = _first(ChangeRequest, project=project, state="in_review")
    found = {
        "project": {"key": key},
        "cr": {"key": cr.key},
        "requirement": {"key": _first(Requirement, project=project).key},
        "artifact": {"key": _first(Artifact, project=project).key},
        "members": {"key": key, "username": "zhou.jie"},
        "baselines": {"key": key, "name": _first(Baseline, project=project).name},
        "tasks": {"key": key, "task": task.key},
        "plan-what": {"key": key, "what": "task"},
        "plan-task-ref": {"key": key, "what": "task", "ref": task.key},
        "attachments": {"key": attachment.change_request.key, "pk": attachment.pk},
        "change-set": {"key": edit.change_request.key, "id": edit.pk, "edit_id": edit.pk},
        "cr-simulations": {"key": cr_sim.change_request.key, "id": cr_sim.pk, "pk": cr_sim.pk},
        "plan-simulations": {"key": key, "id": plan_sim.pk},
        "meetings": {"key": key, "id": occurrence.meeting_id},
        "improvements": {"key": key,
                         "akey": _first(ImprovementAction, project=project, status="open").key},
        "review-reports": {"key": key, "number": _first(ReviewReport, project=project).number},
        # The order issued and awaiting the customer's signature: its writes are possible.
        "change-orders": {"key": key,
                          "number": _first(ChangeOrder, project=project, state="issued").number},
        "occurrences": occ,
        "agenda": {**occ, "item": agenda.pk},
        "actions": {
            "key": key,
            "id": action.occurrence.meeting_id,
            "occ": occurrence_key(action.occurrence.starts_at),
            "action": action.pk,
        },
        "links": {"key": key, "id": (link := _first(TraceLink, project=project)).pk,
                  "pk": link.pk},
        # The dependency of the CR being assessed: its editors may remove it.
        "cr-links": {"key": (dep := _first(ChangeRequestLink, from_cr__project=project,
                                           kind="depends_on")).from_cr.key,
                     "id": dep.pk, "pk": dep.pk},
        # Another open CR, linked to none: what a new link names.
        "cr2": {"key": _first(ChangeRequest, project=project, state="submitted").key},
        "webhooks": {"key": key, "id": (hook := _first(Webhook, project=project)).pk,
                     "pk": hook.pk},
        "cr-templates": {"key": key,
                         "id": (form := _first(CRTemplate, project=project, archived=False)).pk,
                         "pk": form.pk},
        "process-templates": {"id": (saved := _first(ProcessTemplate)).pk, "pk": saved.pk},
        "freeze-windows": {
            "key": key,
            "id": (window := _first(FreezeWindow, project=project)).pk,
            "pk": window.pk,
        },
        "dependencies": {"key": key,
                         "id": _first(PlanDependency, plan__project=project).pk},
        "milestones": {"key": key,
                       "id": _first(PlanMilestone, plan__project=project).pk},
        "quarantine": {"key": key,
                       "id": (mail := _first(QuarantinedMail, project=project)).pk,
                       "pk": mail.pk},
        "quarantine-action": {"key": key, "id": mail.pk, "pk": mail.pk, "action": "resolve"},
        "notifications": {"pk": _first(Notification, user__memberships__project=project).pk},
        "tokens": {"token_id": _first(ApiToken, user=pm).pk},
        "background-tasks": {"task_id": failed.id},
        "import-jobs": {"key": key, "id": job.pk},
    }  # fmt: skip
    return found


def url_of(route: Route, values: dict) -> str:
    """The route with its parameters filled (formats by what the route serves)."""

    def fill(match: re.Match) -> str:
        name = match.group(1)
        if name == "fmt":
            if "reports/<int:number>" in route.route or "change-orders/" in route.route:
                return "pdf"
            return "md" if "minutes" in route.route else "svg"
        return str(values[name])

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", fill, route.route)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The demo project, its viewer, an outsider who manages another project, a user of no
    project; built once for this module in this worker, rolled back at the end."""
    from changeflow.accounts import services as accounts
    from changeflow.demo import _Demo
    from changeflow.impact.models import PlanTask
    from tests.factories import PASSWORD, make_project, make_user

    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            demo = _Demo()
            # What the demo leaves for after its commit (notifications, similarity features,
            # queued tasks) is done as it would be.
            with TestCase.captureOnCommitCallbacks(execute=True):
                demo.build()
            outsider = make_user("outsider")
            make_project("OTHER", manager=outsider, customer="Other Corp")
            callers = {
                "outsider": outsider,
                "loner": make_user("loner"),
                "viewer": demo.users["sun.yue"],
                "pm": demo.users["wang.lei"],
                **{role: demo.users[name] for name, role in OTHER_ROLES.items()},
            }
            real = _real_parameters(demo.project, demo.users)
            for user in (
                callers["pm"],
                callers["viewer"],
                *(callers[r] for r in OTHER_ROLES.values()),
            ):  # to sign votes
                user.set_password(PASSWORD)
                user.save(update_fields=["password"])
            tasks = list(PlanTask.objects.filter(plan__project=demo.project).order_by("pk"))
            extras = {
                "password": PASSWORD,
                "requirement": real["requirement"]["key"],
                "artifact": real["artifact"]["key"],
                "task": tasks[-1].key,  # the last task before the first: no such link yet
                "task2": tasks[0].key,
                "item": real["agenda"]["item"],
                "cr": real["cr"]["key"],
                "cr2": real["cr2"]["key"],
            }
            # Signed in once, here: a session and a token each, outside the tests' savepoints.
            sessions = {who: Client() for who in callers}
            for who, client in sessions.items():
                client.force_login(callers[who])
            yield {
                "project": demo.project,
                "callers": callers,
                "real": real,
                "extras": extras,
                "sessions": sessions,
                "tokens": {who: accounts.token_create(user=u) for who, u in callers.items()},
            }
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


# ---------------------------------------------------------------------------- the calls

WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
BOOKKEEPING = (
    re.compile(r'^\s*\w+\s+(INTO\s+|FROM\s+)?"?django_session"?', re.IGNORECASE),
    re.compile(r'^\s*UPDATE\s+"?accounts_apitoken"?\s+SET\s+"?last_used_at"?', re.IGNORECASE),
)


@dataclass
class Answer:
    status: int
    location: str
    body: bytes
    writes: list[str]


def _encoded(route: Route, data: dict | None) -> tuple[bytes, str]:
    if data and any(isinstance(v, bytes) for v in data.values()):
        files = {
            k: SimpleUploadedFile(f"{k}.pdf", v, "application/pdf") if isinstance(v, bytes) else v
            for k, v in data.items()
        }
        return encode_multipart(BOUNDARY, files), MULTIPART_CONTENT
    if route.api:
        return json.dumps(data or {}).encode(), "application/json"
    return urlencode(data or {}).encode(), "application/x-www-form-urlencoded"


def call(route: Route, method: str, url: str, who: str | None, world, data=None) -> Answer:
    """``method`` on ``url`` as ``who`` (None: anonymous) with ``data``: a token for the API, a
    session for pages; inside a savepoint rolled back after it; with the writes it made."""
    client, headers = Client(), {}
    if who is not None and route.api:
        headers["Authorization"] = f"Token {world['tokens'][who]}"
    elif who is not None:
        client = world["sessions"][who]
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        body, content_type = _encoded(route, data)
        response = client.generic(
            method, url, data=body, headers=headers, content_type=content_type
        )
        content = b"".join(response.streaming_content) if response.streaming else response.content
        transaction.set_rollback(True)
    writes = [
        q["sql"][:160]
        for q in queries.captured_queries
        if WRITE.match(q["sql"]) and not any(b.match(q["sql"]) for b in BOOKKEEPING)
    ]
    return Answer(response.status_code, response.get("Location", ""), content, writes)


def _anonymous_refused(route: Route, answer: Answer) -> bool:
    if route.api:
        return answer.status == 401
    return answer.status == 302 and answer.location.startswith("/signin/")


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "method"), CASES)
def test_route(world, route: Route, method: str):
    values = world["real"][_kind_of_parameters(route)] if route.kwargs else {}
    url = url_of(route, values)
    project = world["project"]
    data = BODIES.get((route.name, method))
    if data is not None:
        data = _filled(data, {**world["extras"], **values})
    # ACME's: named by the path, or by the body (a change request posted to the list).
    of_the_project = bool(route.kwargs) or data is not None
    problems = []

    anonymous = call(route, method, url, None, world, data)
    if not _anonymous_refused(route, anonymous):
        problems.append(f"anonymous got {anonymous.status} {anonymous.location}")
    if anonymous.writes:
        problems.append(f"anonymous wrote {anonymous.writes}")

    site_wide = bool(route.kwargs) and _kind_of_parameters(route) in SITE_WIDE
    for who in ("outsider", "loner"):
        answer = call(route, method, url, who, world, data)
        if site_wide and who == "outsider":  # a member of some project, as any other
            expected = 200 if method in SAFE else 403
            if answer.status != expected:
                problems.append(f"{who} got {answer.status}, not {expected}")
            if method not in SAFE and answer.writes:
                problems.append(f"{who} wrote {answer.writes}")
        elif of_the_project:
            if answer.status != 404:
                problems.append(f"{who} got {answer.status}, not 404")
            if answer.writes:
                problems.append(f"{who} wrote {answer.writes}")
        else:
            if answer.status >= 500:
                problems.append(f"{who} got {answer.status}")
            if project.key.encode() in answer.body:
                problems.append(f"{who} was shown {project.key!r}")
            ours = [w for w in answer.writes if project.key in w]
            if ours:
                problems.append(f"{who} wrote {ours}")

    if method not in SAFE and of_the_project:
        answer = call(route, method, url, "viewer", world, data)
        if (route.name, method) in VIEWER_MAY:
            if answer.status >= 400:
                problems.append(f"the viewer, who may, got {answer.status}")
        else:
            if answer.status not in (403, 404):
                problems.append(f"the viewer got {answer.status}, not 403 or 404")
            if answer.writes:
                problems.append(f"the viewer wrote {answer.writes}")
            if data is not None:  # the role is checked before the body: empty, it is the same
                empty = call(route, method, url, "viewer", world, _empty(route, method, world))
                if empty.status != answer.status:
                    problems.append(f"the viewer's empty body got {empty.status}")
        if data is not None:
            pm = call(route, method, url, "pm", world, data)
            if pm.status >= 400 and pm.status not in (409, 422):
                problems.append(f"the body is not valid: the PM got {pm.status} {pm.body[:300]}")
            for role in OTHER_ROLES.values() if (route.name, method) not in BODY_DECIDES else ():
                answer = call(route, method, url, role, world, data)
                if answer.status in (403, 404):
                    empty = call(route, method, url, role, world, _empty(route, method, world))
                    if empty.status != answer.status:
                        problems.append(
                            f"the {role}, refused ({answer.status}), got {empty.status} when the"
                            " body was empty"
                        )
    assert not problems, f"{method} {url}: " + "; ".join(problems)


# ---------------------------------------------------------------------------- the coverage


def test_every_route_is_checked_or_public():
    """A route is checked (its parameters known, at least one method) or on PUBLIC; and every
    PUBLIC entry (and VIEWER_MAY entry) is a route that exists."""
    names = {r.name for r in ROUTES}
    assert set(PUBLIC) - names == set(), "on PUBLIC but no such route"
    assert set(SITE_WIDE) <= {kind for _pattern, kind in PARAMETER_RULES}, "SITE_WIDE: no rule"
    assert {n for n, _ in VIEWER_MAY} - names == set(), "on VIEWER_MAY but no such route"
    for table in (EMPTY_BODIES, BODY_DECIDES):
        assert set(table) - set(BODIES) == set(), "an entry without a valid body in BODIES"
    assert len(names) == len(ROUTES), "two routes of one name: name them apart"
    for route in CHECKED:
        assert methods_of(route.callback), route.name
        if route.kwargs:
            _kind_of_parameters(route)  # raises for parameters no rule fills
    checked = {(c.values[0].name, c.values[1]) for c in CASES}
    assert {r.name for r in CHECKED} == {name for name, _ in checked}


def test_methods_are_read_from_the_views():
    """The discovery of methods on examples of each kind of view."""
    from django.views.decorators.http import require_GET, require_http_methods, require_POST

    @require_POST
    def post_only(request): ...

    @require_http_methods(["GET", "POST"])
    def get_and_post(request): ...

    @require_GET
    def get_only(request): ...

    def anything(request): ...

    assert methods_of(post_only) == ("POST",)
    assert methods_of(get_and_post) == ("GET", "POST")
    assert methods_of(get_only) == ("GET",)
    assert methods_of(anything) == ALL_METHODS
    by_name = {r.name: r for r in ROUTES}
    assert methods_of(by_name["api-cr-detail"].callback) == ("GET", "HEAD", "PATCH")
    assert methods_of(by_name["cr-transition"].callback) == ("POST",)


def test_every_function_view_of_ours_says_which_methods_it_answers():
    """A function view without ``require_safe``/``require_POST``/... answers PUT, PATCH and
    DELETE as it answers GET; each of ours names its methods (classes name theirs)."""
    unbounded = sorted(
        r.name
        for r in ROUTES
        if not hasattr(r.callback, "view_class")
        and not hasattr(r.callback, "cls")
        and getattr(r.callback, "__module__", "").startswith("changeflow")
        and methods_of(r.callback) == ALL_METHODS
    )
    assert unbounded == ["api/v1/"]  # the API's catch-all: a JSON 404 whatever the method


@pytest.mark.django_db
def test_a_feed_token_opens_no_other_project(world):
    """The calendar feeds are signed by the token in their URL: the outsider's own token opens
    their own feed, and not ACME's."""
    from changeflow.meetings.services import calendar_token_create

    token = calendar_token_create(user=world["callers"]["outsider"])
    client = Client()
    assert client.get(f"/calendar/feed/{token}.ics").status_code == 200
    assert client.get(f"/calendar/feed/{token}/OTHER.ics").status_code == 200
    assert client.get(f"/calendar/feed/{token}/ACME.ics").status_code == 404
    assert client.get("/calendar/feed/made-up/ACME.ics").status_code == 404
