"""OpenAPI links between the API's operations: how the answer of one call feeds the next.

A link says that a value of one operation's response (``$response.body#/key``, the ``ETag``
header) or request (``$request.path.key``, ``$request.header.Idempotency-Key``,
``$request.body``) is a parameter or the body of another operation: a created change request's
key is the path of its GET, PATCH, transitions, comments...; a GET's ``ETag`` is the
``If-Match`` of the PATCH after it; a write sent again with the same ``Idempotency-Key`` and
body replays the first answer. Clients and the docs read them; the stateful API fuzzing
(tests/api/test_fuzz_stateful.py) follows them to build sequences of calls.

drf-spectacular has no notation for links: ``add_links`` (a postprocessing hook) adds the
table ``LINKS`` to the generated document. tests/api/test_schema_links.py checks that each
link's operations and parameters exist and that each expression names what its source has.
"""

from __future__ import annotations

from typing import Any

# The expressions used below.
BODY_KEY = "$response.body#/key"
BODY_ID = "$response.body#/id"
PATH_KEY = "$request.path.key"
PATH_ID = "$request.path.id"
ETAG = "$response.header.ETag"


def _to(operation_id: str, **parameters: str) -> dict[str, Any]:
    """A Link Object to ``operation_id``; a header parameter is written ``header_If_Match``
    (a Python name holds no dash or dot) for ``header.If-Match``."""
    return {
        "operationId": operation_id,
        "parameters": {
            "header." + name[7:].replace("_", "-") if name.startswith("header_") else name: value
            for name, value in parameters.items()
        },
    }


def _replay(operation_id: str, **parameters: str) -> dict[str, Any]:
    """The same write again: the same parameters, Idempotency-Key and body. The link's body
    replaces the generated one whole (``x-schemathesis``: an extension, which OpenAPI allows
    on a Link Object), not field by field."""
    link = _to(operation_id, header_Idempotency_Key="$request.header.Idempotency-Key", **parameters)
    return {**link, "requestBody": "$request.body", "x-schemathesis": {"merge_body": False}}


def _next_actions(key: str, actions: str) -> dict[str, dict[str, Any]]:
    """Transitions by the first and the second action that a response lists as available
    (``actions``: a pointer to the list), so that sequences walk the workflow."""
    return {
        f"TakeAction{n + 1}": {
            **_to("change_requests_transitions_create", key=key),
            "requestBody": {"action": f"$response.body#{actions}/{n}/action"},
        }
        for n in range(2)
    }


def _many(parameters: dict[str, str], **targets: str) -> dict[str, dict[str, Any]]:
    """Links with the same ``parameters``: ``targets`` maps a link's name to its operation."""
    return {name: _to(operation, **parameters) for name, operation in targets.items()}


def _cr_children(key: str) -> dict[str, dict[str, Any]]:
    """What follows a change request whose key is ``key`` (an expression)."""
    return {
        **_many(
            {"key": key},
            GetChangeRequest="change_requests_retrieve",
            UpdateChangeRequest="change_requests_partial_update",
            ListTransitions="change_requests_transitions_list",
            Transition="change_requests_transitions_create",
            Comment="change_requests_comments_create",
            Attach="change_requests_attachments_create",
            Assess="change_requests_assessments_create",
            Vote="change_requests_votes_create",
            History="change_requests_history_list",
            Impact="change_requests_impact",
            Watch="change_requests_watch_create",
            AddToChangeSet="change_requests_change_set_create",
        ),
        **_next_actions(key, "/available_actions"),
    }


def _project_children(key: str) -> dict[str, dict[str, Any]]:
    """What follows a project whose key is ``key`` (an expression)."""
    return {
        **_many(
            {"key": key},
            GetProject="projects_retrieve",
            UpdateProject="projects_partial_update",
            ListMembers="project_members_list",
            SetMember="project_members_set",
            GetBoard="project_board_retrieve",
            SetBoard="project_board_update",
            CreateRequirement="project_requirements_create",
            CreateArtifact="project_artifacts_create",
            CreateBaseline="project_baselines_create",
            CreateTraceLink="project_links_create",
            CreateWebhook="project_webhooks_create",
            CreateTask="project_plan_tasks_create",
            CreateMeeting="project_meetings_create",
            CreateFreezeWindow="project_freeze_windows_create",
        ),
        # A CR of the new project: its key goes into the create's body.
        "CreateChangeRequest": {
            "operationId": "change_requests_create",
            "requestBody": {"project": key},
        },
    }


def _in_project(expression: str, **targets: str) -> dict[str, dict[str, Any]]:
    """Links to objects of the project in the request's path, whose id is ``expression``."""
    name = {"$response.body#/name": "name", "$response.body#/key": "task"}.get(expression, "id")
    return _many({"key": PATH_KEY, name: expression}, **targets)


# (operationId of the source, status code of its answer) -> {link name: Link Object}.
LINKS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    # Change requests: create -> everything done to a CR; GET/PATCH/transition -> the next PATCH
    # with the ETag in If-Match; a create or PATCH sent again with its Idempotency-Key.
    ("change_requests_create", "201"): {
        **_cr_children(BODY_KEY),
        "GetProject": _to("projects_retrieve", key="$response.body#/project"),
        "ReplayCreate": _replay("change_requests_create"),
    },
    ("change_requests_retrieve", "200"): {
        "UpdateIfMatch": _to("change_requests_partial_update", key=PATH_KEY, header_If_Match=ETAG),
        "ListTransitions": _to("change_requests_transitions_list", key=PATH_KEY),
        **_next_actions(PATH_KEY, "/available_actions"),
    },
    ("change_requests_transitions_list", "200"): _next_actions(PATH_KEY, "/actions"),
    ("change_requests_partial_update", "200"): {
        "GetChangeRequest": _to("change_requests_retrieve", key=PATH_KEY),
        "UpdateIfMatch": _to("change_requests_partial_update", key=PATH_KEY, header_If_Match=ETAG),
        "ReplayUpdate": _replay(
            "change_requests_partial_update",
            key=PATH_KEY,
            header_If_Match="$request.header.If-Match",
        ),
    },
    ("change_requests_transitions_create", "200"): {
        "GetChangeRequest": _to("change_requests_retrieve", key=PATH_KEY),
        "ListTransitions": _to("change_requests_transitions_list", key=PATH_KEY),
        "Transition": _to("change_requests_transitions_create", key=PATH_KEY),
        "UpdateIfMatch": _to("change_requests_partial_update", key=PATH_KEY, header_If_Match=ETAG),
        "ReplayTransition": _replay("change_requests_transitions_create", key=PATH_KEY),
        **_next_actions(PATH_KEY, "/available_actions"),
    },
    ("change_requests_comments_create", "201"): {
        "ListComments": _to("change_requests_comments_list", key=PATH_KEY),
        "ReplayComment": _replay("change_requests_comments_create", key=PATH_KEY),
    },
    ("change_requests_attachments_create", "201"): {
        "ListAttachments": _to("change_requests_attachments_list", key=PATH_KEY),
        "DownloadAttachment": _to("change_requests_attachments_download", key=PATH_KEY, id=BODY_ID),
    },
    ("change_requests_assessments_create", "201"): {
        "ListAssessments": _to("change_requests_assessments_list", key=PATH_KEY),
        "GetChangeRequest": _to("change_requests_retrieve", key=PATH_KEY),
    },
    ("change_requests_votes_create", "201"): {
        "ListVotes": _to("change_requests_votes_list", key=PATH_KEY),
        "GetDecision": _to("change_requests_decision_retrieve", key=PATH_KEY),
    },
    ("change_requests_change_set_create", "201"): {
        "GetEdit": _to("change_requests_change_set_edit_retrieve", key=PATH_KEY, id=BODY_ID),
        "UpdateEdit": _to("change_requests_change_set_edit_update", key=PATH_KEY, id=BODY_ID),
        "DeleteEdit": _to("change_requests_change_set_edit_destroy", key=PATH_KEY, id=BODY_ID),
        "PreviewRebase": _to("change_requests_change_set_rebase_preview", key=PATH_KEY, id=BODY_ID),
        "GetChangeSet": _to("change_requests_change_set_retrieve", key=PATH_KEY),
    },
    # Projects: create -> members, board, and the objects made inside a project.
    ("projects_create", "201"): _project_children(BODY_KEY),
    ("project_members_set", "201"): {
        "ListMembers": _to("project_members_list", key=PATH_KEY),
        "RemoveMember": _to(
            "project_members_destroy", key=PATH_KEY, username="$response.body#/username"
        ),
    },
    ("project_board_update", "200"): {
        "GetBoard": _to("project_board_retrieve", key=PATH_KEY),
    },
    # Requirements: create -> GET/PATCH (each PATCH a new version) -> versions; a baseline of
    # the project -> its diff; trace links -> review, impact.
    ("project_requirements_create", "201"): {
        **_many(
            {"key": BODY_KEY},
            GetRequirement="requirements_retrieve",
            UpdateRequirement="requirements_partial_update",
            RequirementVersions="requirements_versions_list",
        ),
        "CreateBaseline": _to("project_baselines_create", key=PATH_KEY),
        "ReplayCreate": _replay("project_requirements_create", key=PATH_KEY),
    },
    ("requirements_retrieve", "200"): {
        "UpdateIfMatch": _to("requirements_partial_update", key=PATH_KEY, header_If_Match=ETAG),
        "RequirementVersions": _to("requirements_versions_list", key=PATH_KEY),
    },
    ("requirements_partial_update", "200"): {
        "GetRequirement": _to("requirements_retrieve", key=PATH_KEY),
        "RequirementVersions": _to("requirements_versions_list", key=PATH_KEY),
        "UpdateIfMatch": _to("requirements_partial_update", key=PATH_KEY, header_If_Match=ETAG),
        "CreateBaseline": _to("project_baselines_create", key="$response.body#/project"),
    },
    ("project_artifacts_create", "201"): _many(
        {"key": BODY_KEY},
        GetArtifact="artifacts_retrieve",
        UpdateArtifact="artifacts_partial_update",
        ArtifactVersions="artifacts_versions_list",
    ),
    ("artifacts_retrieve", "200"): {
        "UpdateIfMatch": _to("artifacts_partial_update", key=PATH_KEY, header_If_Match=ETAG),
    },
    ("artifacts_partial_update", "200"): {
        "ArtifactVersions": _to("artifacts_versions_list", key=PATH_KEY),
        "UpdateIfMatch": _to("artifacts_partial_update", key=PATH_KEY, header_If_Match=ETAG),
    },
    ("project_baselines_create", "201"): _in_project(
        "$response.body#/name",
        GetBaseline="project_baselines_retrieve",
        BaselineDiff="project_baselines_diff",
    ),
    ("project_links_create", "201"): {
        **_in_project(
            BODY_ID,
            GetTraceLink="project_links_retrieve",
            DeleteTraceLink="project_links_destroy",
            ReviewTraceLink="project_links_review",
        ),
        "Matrix": _to("project_matrix", key=PATH_KEY),
    },
    # Webhooks -> their deliveries.
    ("project_webhooks_create", "201"): _in_project(
        BODY_ID,
        GetWebhook="project_webhooks_retrieve",
        UpdateWebhook="project_webhooks_partial_update",
        DeleteWebhook="project_webhooks_destroy",
        ListDeliveries="project_webhooks_deliveries_list",
        TestWebhook="project_webhooks_test",
    ),
    ("project_webhooks_test", "202"): {
        "ListDeliveries": _to("project_webhooks_deliveries_list", key=PATH_KEY, id=PATH_ID),
    },
    ("project_plan_tasks_create", "201"): _in_project(
        BODY_KEY,
        GetTask="project_plan_tasks_retrieve",
        UpdateTask="project_plan_tasks_update",
        DeleteTask="project_plan_tasks_destroy",
    ),
    ("project_meetings_create", "201"): _in_project(
        BODY_ID,
        GetMeeting="project_meetings_retrieve",
        UpdateMeeting="project_meetings_update",
        ListOccurrences="project_meetings_occurrences_list",
    ),
    ("project_freeze_windows_create", "201"): _in_project(
        BODY_ID, DeleteFreezeWindow="project_freeze_windows_destroy"
    ),
}


def add_links(result, generator, request, public):
    """drf-spectacular postprocessing hook: ``LINKS`` into the responses they start from."""
    responses = {
        operation["operationId"]: operation["responses"]
        for methods in result.get("paths", {}).values()
        for operation in methods.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    for (source, status), links in LINKS.items():
        response = responses.get(source, {}).get(status)
        # A source the document lacks (a schema generated for some of the endpoints only)
        # gets no links; tests/api/test_schema_links.py sees that every one was placed.
        if response is not None:
            response.setdefault("links", {}).update(links)
    return result
