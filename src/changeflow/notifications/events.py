"""Which audit actions are worth telling people about, as which kind — pure, no ORM.

The audit log's actions (``cr.submit``, ``comment.created``...) are the services' vocabulary;
users and webhooks speak of kinds (``cr.submitted``, ``cr.commented``...). One audit event maps
to at most one kind; a comment that mentions people also tells each of them ``cr.mentioned``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .models import Channel, Kind

# What a user gets when they chose nothing: e-mail too only where someone waits on them.
DEFAULTS: dict[str, str] = {
    Kind.CR_SUBMITTED: Channel.IN_APP,
    Kind.STATE_CHANGED: Channel.IN_APP,
    Kind.ASSESSMENT_ADDED: Channel.IN_APP,
    Kind.VOTE_NEEDED: Channel.BOTH,
    Kind.DECIDED: Channel.BOTH,
    Kind.COMMENTED: Channel.IN_APP,
    Kind.MENTIONED: Channel.BOTH,
    Kind.SLA_BREACHED: Channel.BOTH,
    Kind.MEETING_REMINDER: Channel.BOTH,
    Kind.VOTES_RESET: Channel.BOTH,
    Kind.ASSIGNED: Channel.BOTH,
    Kind.IMPROVEMENT_OVERDUE: Channel.BOTH,
    Kind.IMPROVEMENT_DUE: Channel.IN_APP,
    Kind.RATED_LOW: Channel.BOTH,
    Kind.REPORT_READY: Channel.BOTH,
    Kind.ORDER_ISSUED: Channel.BOTH,
    Kind.ORDER_SIGNED: Channel.BOTH,
    Kind.ORDER_DECLINED: Channel.BOTH,
    Kind.DUPLICATE: Channel.BOTH,
}

# An outcome rated this low (of 1–5) tells the team: a customer unhappy with a delivered change
# is worth hearing of at once, not at the next review.
LOW_RATING = 2

# Webhook filters name kinds; "*" is every kind. A mention, an assignment or an improvement
# action's due date is personal (and internal): not for webhooks; nor is a review report (internal:
# it carries the costs).
PERSONAL_KINDS = (
    Kind.MENTIONED, Kind.ASSIGNED, Kind.IMPROVEMENT_OVERDUE, Kind.IMPROVEMENT_DUE,
    Kind.REPORT_READY,
)  # fmt: skip
WEBHOOK_KINDS = [k for k in Kind.values if k not in PERSONAL_KINDS]
TEST_KIND = "webhook.test"

_DECISIONS = {"cr.approve", "cr.reject", "cr.defer", "cr.decided", "cr.ratified",
              "cr.ratification_refused"}  # fmt: skip
_VOTE_OPENERS = {"cr.request_review", "cr.approve_emergency"}
_EXPLICIT = {
    "sla.breached": Kind.SLA_BREACHED,
    "meeting.reminder": Kind.MEETING_REMINDER,
    "votes.reset": Kind.VOTES_RESET,
    "improvement.overdue": Kind.IMPROVEMENT_OVERDUE,
    "improvement.due_soon": Kind.IMPROVEMENT_DUE,
    "review_report.generated": Kind.REPORT_READY,
    "change_order.issued": Kind.ORDER_ISSUED,
    "change_order.signed": Kind.ORDER_SIGNED,
    "change_order.declined": Kind.ORDER_DECLINED,
}
# Transitions that are not news by themselves: created without submitting is a draft.
_QUIET = {"cr.created", "cr.updated", "cr.ratify"}

MENTION = re.compile(r"(?<![\w.@])@([\w.+-]{1,150})", re.UNICODE)


def kind_of(action: str, after: Mapping[str, Any]) -> str | None:
    """The kind of notification an audit action makes, or None when it makes none."""
    if action in _EXPLICIT:
        return _EXPLICIT[action]
    if action == "cr.withdraw" and after.get("duplicate_of"):  # changes.links.mark_duplicate
        return Kind.DUPLICATE
    if action == "cr.updated" and after.get("assignee") and after.get("notify"):
        return Kind.ASSIGNED
    if action == "cr.created":
        return Kind.CR_SUBMITTED if after.get("state") == "submitted" else None
    if action == "cr.submit":
        return Kind.CR_SUBMITTED
    if action in _DECISIONS:
        return Kind.DECIDED
    if action in _VOTE_OPENERS:
        return Kind.VOTE_NEEDED
    if action in ("rating.created", "rating.changed"):
        score = after.get("score")
        return Kind.RATED_LOW if isinstance(score, int) and score <= LOW_RATING else None
    if action == "assessment.created":
        return Kind.ASSESSMENT_ADDED
    if action == "comment.created":
        return Kind.COMMENTED
    if action.startswith("cr.") and action not in _QUIET and "state" in after:
        return Kind.STATE_CHANGED
    return None


def mentions(body: str) -> list[str]:
    """The usernames written as ``@name`` in a comment, in order, each once.

    A trailing full stop belongs to the sentence, not the name (``ask @wang.lei.``).
    """
    seen: dict[str, None] = {}
    for match in MENTION.finditer(body or ""):
        seen.setdefault(match.group(1).rstrip("."), None)
    return [name for name in seen if name]


def wants(channel: str) -> tuple[bool, bool]:
    """(in-app, e-mail) for a preference."""
    return (
        channel in (Channel.IN_APP, Channel.BOTH),
        channel in (Channel.EMAIL, Channel.BOTH),
    )


def webhook_accepts(filters: list[str], kind: str) -> bool:
    return kind == TEST_KIND or "*" in filters or kind in filters
