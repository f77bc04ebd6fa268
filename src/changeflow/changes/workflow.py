"""The change-request lifecycle as a pure transition table with guards.

No ORM here: services build a ``Context`` from the database and ask ``evaluate`` whether an
action may happen; the table is what the exhaustive tests read.

Checks run in a fixed order, and the first that fails decides the answer:
1. who may take the action (role, requester, never approving one's own CR) → ``forbidden``
2. whether the action leads anywhere from the current state → ``state``
3. business preconditions (type and priority set, an assessment, actuals...) → ``precondition``
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from django.db.models import TextChoices
from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _


class State(TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    TRIAGED = "triaged", _("Triaged")
    ASSESSING = "assessing", _("Assessing")
    IN_REVIEW = "in_review", _("In review")
    APPROVED = "approved", _("Approved")
    IMPLEMENTING = "implementing", _("Implementing")
    VERIFYING = "verifying", _("Verifying")
    CLOSED = "closed", _("Closed")
    REJECTED = "rejected", _("Rejected")
    DEFERRED = "deferred", _("Deferred")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    RETURNED = "returned", _("Returned for information")


FINAL_STATES = frozenset({State.CLOSED, State.REJECTED, State.WITHDRAWN})


class Action(StrEnum):
    SUBMIT = "submit"
    TRIAGE = "triage"
    RETURN = "return"
    START_ASSESSMENT = "start_assessment"
    REQUEST_REVIEW = "request_review"
    APPROVE = "approve"
    REJECT = "reject"
    DEFER = "defer"
    REOPEN = "reopen"
    APPROVE_EMERGENCY = "approve_emergency"
    RATIFY = "ratify"
    START_IMPLEMENTATION = "start_implementation"
    SUBMIT_VERIFICATION = "submit_verification"
    VERIFY = "verify"
    REJECT_VERIFICATION = "reject_verification"
    WITHDRAW = "withdraw"


# The actions' names: the choices of the API's ``action`` (named in the schema's
# ENUM_NAME_OVERRIDES, where another ``action`` enum exists).
ACTION_NAMES = tuple(a.value for a in Action)

ACTION_LABELS: dict[Action, Promise] = {
    Action.SUBMIT: _("Submit"),
    Action.TRIAGE: _("Triage"),
    Action.RETURN: _("Return to requester"),
    Action.START_ASSESSMENT: _("Start assessment"),
    Action.REQUEST_REVIEW: _("Request review"),
    Action.APPROVE: _("Approve (delegated)"),
    Action.REJECT: _("Reject (delegated)"),
    Action.DEFER: _("Defer (delegated)"),
    Action.REOPEN: _("Reopen"),
    Action.APPROVE_EMERGENCY: _("Emergency approval"),
    Action.RATIFY: _("Ratify"),
    Action.START_IMPLEMENTATION: _("Start implementation"),
    Action.SUBMIT_VERIFICATION: _("Submit for verification"),
    Action.VERIFY: _("Verify and close"),
    Action.REJECT_VERIFICATION: _("Reject verification"),
    Action.WITHDRAW: _("Withdraw"),
}

PM = "project_manager"
TL = "tech_lead"
QA = "qa"
DEV = "developer"
CUSTOMER_REP = "customer_rep"
CUSTOMER = "customer"
VIEWER = "viewer"
ROLES = (PM, TL, QA, DEV, CUSTOMER_REP, CUSTOMER, VIEWER)
CUSTOMER_ROLES = frozenset({CUSTOMER, CUSTOMER_REP})


@dataclass(frozen=True)
class Transition:
    action: Action
    sources: frozenset[State]
    target: State | None  # None: the state does not change
    roles: frozenset[str]
    requester_may: bool = False  # the CR's requester may take it whatever their role
    decides: bool = False  # an approval-like act: never by the CR's requester
    board_only: bool = False  # applied by the board's votes, never called directly
    chair_may: bool = False  # the chair of the project's board may take it whatever their role


def _t(action, sources, target, roles, **kw) -> Transition:
    return Transition(action, frozenset(sources), target, frozenset(roles), **kw)


S = State
PRE_APPROVAL = (S.DRAFT, S.SUBMITTED, S.TRIAGED, S.ASSESSING, S.IN_REVIEW, S.RETURNED, S.DEFERRED)
ALL_STATES = tuple(State)

TABLE: dict[Action, Transition] = {
    t.action: t
    for t in (
        _t(Action.SUBMIT, [S.DRAFT, S.RETURNED], S.SUBMITTED, [PM], requester_may=True),
        _t(Action.TRIAGE, [S.SUBMITTED], S.TRIAGED, [PM, TL]),
        _t(Action.RETURN, [S.SUBMITTED, S.TRIAGED, S.ASSESSING, S.IN_REVIEW], S.RETURNED, [PM, TL]),
        _t(Action.START_ASSESSMENT, [S.TRIAGED], S.ASSESSING, [PM, TL]),
        _t(Action.REQUEST_REVIEW, [S.ASSESSING], S.IN_REVIEW, [PM, TL]),
        _t(Action.APPROVE, [S.ASSESSING, S.IN_REVIEW], S.APPROVED, [PM], decides=True),
        _t(Action.REJECT, [S.ASSESSING, S.IN_REVIEW], S.REJECTED, [PM], decides=True),
        _t(Action.DEFER, [S.ASSESSING, S.IN_REVIEW], S.DEFERRED, [PM], decides=True),
        _t(Action.REOPEN, [S.DEFERRED], S.TRIAGED, [PM]),
        _t(
            Action.APPROVE_EMERGENCY,
            [S.TRIAGED, S.ASSESSING, S.IN_REVIEW],
            S.IMPLEMENTING,
            [PM],
            decides=True,
            chair_may=True,
        ),
        _t(Action.RATIFY, ALL_STATES, None, [], decides=True, board_only=True),
        _t(Action.START_IMPLEMENTATION, [S.APPROVED], S.IMPLEMENTING, [PM, TL]),
        _t(Action.SUBMIT_VERIFICATION, [S.IMPLEMENTING], S.VERIFYING, [PM, TL, DEV]),
        _t(Action.VERIFY, [S.VERIFYING], S.CLOSED, [QA, PM], decides=True),
        _t(Action.REJECT_VERIFICATION, [S.VERIFYING], S.IMPLEMENTING, [QA, PM]),
        _t(Action.WITHDRAW, PRE_APPROVAL, S.WITHDRAWN, [PM], requester_may=True),
    )
}


@dataclass(frozen=True)
class Context:
    """Plain facts about one CR and one actor, gathered by the service layer."""

    state: State
    role: str | None  # the actor's role in the CR's project (None: not a member)
    is_admin: bool = False
    is_requester: bool = False
    is_chair: bool = False  # chairs the board of the CR's project
    emergency: bool = False
    ratification_pending: bool = False
    has_title_and_description: bool = True
    type_set: bool = False
    priority_set: bool = False
    has_comment: bool = False
    # The current assessment gives effort, schedule, cost and at least one risk statement.
    assessment_complete: bool = False
    # The current assessment is at or under every delegation threshold the project sets.
    within_delegation: bool = False
    actual_effort_recorded: bool = False
    in_freeze: bool = False
    # The CR proposes requirement edits (a change set) that have not been applied yet.
    change_set_unapplied: bool = False
    # The CR is billable (it has a change order) and its current order is not signed yet.
    change_order_unsigned: bool = False
    # The keys of the CRs this one depends on (``depends_on`` links) that are not implemented
    # yet (not verifying or closed); ``blocked_hidden`` more of them the actor cannot see.
    blocked_by: tuple[str, ...] = ()
    blocked_hidden: int = 0


@dataclass(frozen=True)
class Denial:
    kind: str  # "forbidden" | "state" | "precondition"
    code: str
    message: Promise = field(compare=False)


def _may_act(t: Transition, ctx: Context) -> bool:
    if ctx.role == VIEWER and not ctx.is_admin:
        return False
    if ctx.is_admin or ctx.role in t.roles:
        return True
    if t.chair_may and ctx.is_chair and ctx.role is not None:
        return True
    return t.requester_may and ctx.is_requester and ctx.role is not None


def _precondition(action: Action, ctx: Context) -> Denial | None:
    def need(code: str, message: Promise) -> Denial:
        return Denial("precondition", code, message)

    if action is Action.SUBMIT and not ctx.has_title_and_description:
        return need("missing_fields", _("A title and a description are required to submit."))
    if action is Action.TRIAGE and not (ctx.type_set and ctx.priority_set):
        return need("classification_required", _("Set the type and the priority to triage."))
    if action in (Action.RETURN, Action.REJECT_VERIFICATION) and not ctx.has_comment:
        return need("comment_required", _("Say in a comment what is missing or wrong."))
    if action is Action.REQUEST_REVIEW and not ctx.assessment_complete:
        return need(
            "assessment_required",
            _("A current impact assessment with effort, schedule, cost and a risk statement "
              "is required."),
        )  # fmt: skip
    if action in (Action.APPROVE, Action.REJECT, Action.DEFER):
        if not ctx.assessment_complete:
            return need(
                "assessment_required",
                _("A delegated decision needs a complete current impact assessment."),
            )
        if not ctx.within_delegation:
            return need(
                "above_delegation",
                _("The assessment exceeds the delegated thresholds: the board decides by vote."),
            )
    if action is Action.APPROVE_EMERGENCY and not ctx.emergency:
        return need("not_emergency", _("Only a CR flagged as an emergency can be approved so."))
    if action is Action.START_IMPLEMENTATION and ctx.in_freeze and not ctx.emergency:
        return need("freeze_window", _("Implementation cannot start inside a change freeze."))
    if action is Action.START_IMPLEMENTATION and ctx.change_order_unsigned and not ctx.emergency:
        # Emergency changes proceed at once; their order is signed as they are ratified.
        return need(
            "change_order_unsigned",
            _("The customer has not signed this change's change order yet: implementation "
              "starts once it is signed (or withdrawn)."),
        )  # fmt: skip
    blocked = ctx.blocked_by or ctx.blocked_hidden
    if action is Action.START_IMPLEMENTATION and blocked and not ctx.emergency:
        # Emergency changes are exempt, as from the change order's hold.
        return need("dependencies_open", _blocked_message(ctx))
    if action is Action.SUBMIT_VERIFICATION and ctx.change_set_unapplied:
        return need(
            "change_set_unapplied",
            _("Apply the change set to the requirements before submitting for verification."),
        )
    if action is Action.VERIFY and not ctx.actual_effort_recorded:
        return need("actuals_required", _("Record the actual effort before verifying."))
    return None


def _blocked_message(ctx: Context) -> Promise:
    keys: str | Promise = ", ".join(ctx.blocked_by)
    if ctx.blocked_hidden:
        hidden = format_lazy(_("{count} you cannot see"), count=ctx.blocked_hidden)
        sep = ", " if keys else ""
        keys = format_lazy("{keys}{sep}{hidden}", keys=keys, sep=sep, hidden=hidden)
    return format_lazy(
        _("This change depends on change requests not implemented yet: {keys}. Implementation "
          "starts once they are (verifying or closed), or once the links are removed."),
        keys=keys,
    )  # fmt: skip


def evaluate(action: Action | str, ctx: Context) -> Denial | None:
    """``None`` when ``action`` may be taken now; otherwise why not."""
    try:
        action = Action(action)
    except ValueError:
        return Denial("invalid", "unknown_action", _("Unknown action."))
    t = TABLE[action]
    if t.board_only:
        return Denial("forbidden", "board_only", _("The board's votes decide this."))
    if not _may_act(t, ctx):
        return Denial("forbidden", "role", _("Your role does not allow this action."))
    if t.decides and ctx.is_requester:
        return Denial(
            "forbidden", "own_change_request", _("Nobody may decide on a CR they requested.")
        )
    if ctx.state not in t.sources:
        return Denial("state", "invalid_transition", _("Not possible in the current state."))
    return _precondition(action, ctx)


def target_state(action: Action | str, state: State) -> State:
    t = TABLE[Action(action)]
    return state if t.target is None else t.target


def available_actions(ctx: Context) -> list[Action]:
    """The actions this actor may take now; a comment is assumed to come with the action."""
    ctx_with_comment = Context(**{**ctx.__dict__, "has_comment": True})
    return [a for a in Action if evaluate(a, ctx_with_comment) is None]


def can_edit(ctx: Context) -> bool:
    """Edit a CR's descriptive fields and classification."""
    if ctx.state in FINAL_STATES or (ctx.role == VIEWER and not ctx.is_admin):
        return False
    if ctx.is_admin or ctx.role in (PM, TL):
        return True
    return ctx.is_requester and ctx.role is not None and ctx.state in (S.DRAFT, S.RETURNED)


def can_link(ctx: Context) -> bool:
    """Link the CR to another, or remove one of its links: whoever may edit the CR (a link is
    part of what the CR says), so its requester too while it is a draft or returned; not once
    it is closed, rejected or withdrawn."""
    return can_edit(ctx)


def can_assign(ctx: Context) -> bool:
    """Choose or clear the CR's assignee: managers and tech leads, while the CR is open."""
    if ctx.state in FINAL_STATES:
        return False
    return ctx.is_admin or ctx.role in (PM, TL)


def can_name_requester(role: str | None, *, is_admin: bool = False) -> bool:
    """Record a CR on someone else's behalf (a call, a meeting): managers and tech leads only,
    so that nobody can make another member the requester — who may then not decide on it."""
    return is_admin or role in (PM, TL)


def can_record_actuals(ctx: Context) -> bool:
    """Record actual effort, cost and schedule while the change is implemented or verified."""
    if ctx.state not in (S.IMPLEMENTING, S.VERIFYING):
        return False
    return ctx.is_admin or ctx.role in (PM, TL, DEV)


def reachable_states() -> frozenset[State]:
    """Every state the table can reach from ``draft`` (used by the invariant tests)."""
    seen = {State.DRAFT}
    frontier = [State.DRAFT]
    while frontier:
        state = frontier.pop()
        for t in TABLE.values():
            if state in t.sources:
                nxt = t.target or state
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
    return frozenset(seen)
