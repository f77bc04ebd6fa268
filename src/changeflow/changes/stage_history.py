"""The stage history of change requests made before ``StateChange`` existed, read back from the
audit log (the data migration ``changes.0007`` calls :func:`backfill`).

Every state change was audited in the same transaction as the change: ``cr.created`` (its
``after.state``: ``draft``, or ``submitted`` when created and submitted at once), each
transition ``cr.<action>`` (``before.state`` → ``after.state``) and the board's ``cr.decided``.
Events of other kinds (edits, ratifications, comments) carry no state move and are skipped.
"""

from __future__ import annotations

from typing import Any

from .workflow import State

BATCH = 1000


def moves(event: dict[str, Any]) -> list[tuple[str, str]]:
    """The (from, to) state moves one audit event of a CR records (none for most)."""
    action, before, after = event["action"], event["before"] or {}, event["after"] or {}
    if not action.startswith("cr.") or not isinstance(after, dict):
        return []
    to_state = after.get("state")
    if to_state not in State.values:
        return []
    if action == "cr.created":
        if to_state == State.DRAFT:
            return [("", State.DRAFT)]
        return [("", State.DRAFT), (State.DRAFT, to_state)]
    from_state = before.get("state") if isinstance(before, dict) else None
    if from_state not in State.values or from_state == to_state:
        return []
    return [(from_state, to_state)]


def backfill(*, audit_event, change_request, state_change, user) -> int:
    """Make the ``StateChange`` rows of every CR that has none, from its audit events; the
    models are passed in (the migration's historical ones). Returns the number of rows made."""
    done = set(state_change.objects.values_list("change_request_id", flat=True).distinct())
    crs = {
        key: (pk, project_id)
        for key, pk, project_id in change_request.objects.values_list("key", "pk", "project_id")
        if pk not in done
    }
    if not crs:
        return 0
    users = dict(user.objects.values_list("username", "pk"))
    events = (
        audit_event.objects.filter(object_type="change_request", action__startswith="cr.")
        .order_by("seq")
        .values("action", "object_key", "actor", "at", "before", "after")
    )
    rows, made = [], 0
    for event in events.iterator(chunk_size=BATCH):
        target = crs.get(event["object_key"])
        if target is None:
            continue
        for from_state, to_state in moves(event):
            rows.append(
                state_change(
                    change_request_id=target[0],
                    project_id=target[1],
                    from_state=from_state,
                    to_state=to_state,
                    at=event["at"],
                    actor_id=users.get(event["actor"]),
                )  # fmt: skip
            )
        if len(rows) >= BATCH:
            state_change.objects.bulk_create(rows)
            made, rows = made + len(rows), []
    state_change.objects.bulk_create(rows)
    return made + len(rows)
