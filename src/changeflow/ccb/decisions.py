"""Reads about the board's work that need the changes app: a CR's decision so far (API and CR
page), each member's pending votes, unratified emergency approvals, and the supervision of
approved changes through implementation to close.

Kept apart from ``selectors`` because ``changes.services`` imports ``selectors``; these import
``changes`` in turn.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import (
    Case,
    CharField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone

from changeflow.accounts.models import Project, User
from changeflow.changes import services as change_services
from changeflow.changes.models import ChangeRequest, Ratification, Vote, VotePurpose
from changeflow.changes.serializers import VoteSerializer
from changeflow.changes.workflow import State
from changeflow.core.access import restrict
from changeflow.core.db.expressions import JSONArrayHas

from . import policy, selectors
from .models import VotingSnapshot


def _round(cr: ChangeRequest, purpose: str) -> int:
    return cr.review_round if purpose == VotePurpose.DECISION else 1


def voting_now() -> dict[str, Case]:
    """``change_services.vote_purpose`` and ``_round`` as SQL, the annotations ``vote_purpose``
    and ``vote_round`` of a CR open for votes (the two are kept in step by a test)."""
    ratifying = Q(ratification=Ratification.PENDING)
    return {
        "vote_purpose": Case(
            When(ratifying, then=Value(VotePurpose.RATIFICATION.value)),
            default=Value(VotePurpose.DECISION.value),
            output_field=CharField(),
        ),
        "vote_round": Case(
            When(ratifying, then=Value(1)), default=F("review_round"), output_field=IntegerField()
        ),
    }


def decision_body(*, user: User, cr: ChangeRequest) -> dict[str, Any]:
    """``GET /change-requests/{key}/decision/``: what is voted on, the policy, the tally, the
    verdict so far, who votes, what is still needed, and the votes of this round."""
    purpose = change_services.vote_purpose(cr)
    rnd: int | None = None
    live: dict[str, str] = {}
    votes = Vote.objects.none()
    if purpose:
        rnd = _round(cr, purpose)
        voting = selectors.voting_for(cr, purpose, rnd)
        live = change_services.live_votes(cr, purpose, rnd)
        votes = (
            restrict(Vote.objects, user)
            .filter(change_request=cr, purpose=purpose, round=rnd)
            .select_related("voter")
            .order_by("signed_at", "id")
        )  # (read below, after the tally)
    else:
        voting = selectors.voting(cr.project, requester=cr.requested_by.username)
    tally = policy.evaluate(voting.policy, voting.eligible, live)
    rows = VoteSerializer(votes, many=True).data
    return {
        "purpose": purpose,
        "round": rnd,
        "board_configured": selectors.board_of(cr.project) is not None,
        "policy": voting.policy.as_dict(),
        "tally": tally.details(),
        "verdict": tally.verdict,
        "eligible_members": voting.eligible,
        "still_needed": policy.still_needed(tally, voting.policy),
        "votes": [v for v in rows if not v["voided_at"]],
        "voided_votes": [v for v in rows if v["voided_at"]],
    }


@dataclass(frozen=True)
class MemberRow:
    username: str
    role: str
    weight: Any
    vote: Vote | None
    is_chair: bool


def cr_board_panel(*, user: User, cr: ChangeRequest) -> dict[str, Any]:
    """The context of ``ccb/_cr_board.html`` on the CR page: the board, each member's vote,
    signature meaning and comment, the tally and in words what is still needed."""
    purpose = change_services.vote_purpose(cr)
    board = None
    if not purpose:
        if cr.decision_mode != "board" and cr.ratification in ("", "pending"):
            return {"board_purpose": None, "board": board, "board_past_votes": []}
        decided = (
            restrict(Vote.objects, user)
            .filter(change_request=cr, voided_at__isnull=True)
            .select_related("voter")
            .order_by("purpose", "round", "signed_at")
        )
        return {
            "board_purpose": None,
            "board": board,
            "board_past_votes": list(decided),
        }
    rnd = _round(cr, purpose)
    voting = selectors.voting_for(cr, purpose, rnd)
    # The board this review started with (the project's may have changed since).
    board = selectors.snapshot_take(cr, purpose, rnd).board
    all_votes = list(
        restrict(Vote.objects, user)
        .filter(change_request=cr, purpose=purpose, round=rnd)
        .select_related("voter")
        .order_by("signed_at", "id")
    )
    live = {v.voter.username: v for v in all_votes if v.voided_at is None}
    tally = policy.evaluate(
        voting.policy, voting.eligible, {u: v.decision for u, v in live.items()}
    )
    chair = board.chair.username if board and board.chair else None
    members = [
        MemberRow(
            u,
            voting.policy.roles.get(u, ""),
            voting.policy.weight(u),
            live.get(u),
            u == chair,
        )
        for u in voting.eligible
    ]
    needed = policy.still_needed(tally, voting.policy)
    return {
        "board_purpose": purpose,
        "board": board,
        "board_members": members,
        "board_tally": tally,
        "board_needed": needed,
        "board_policy": voting.policy,
        "board_voided": [v for v in all_votes if v.voided_at is not None],
        # The requester is among the eligible only as the sole holder of a required role.
        "board_can_vote": user.username in voting.eligible,
        "board_my_vote": live.get(user.username),
        "board_meanings": {
            d: change_services.signature_meaning(
                key=cr.key,
                purpose=purpose,
                decision=d,
                role=voting.policy.roles.get(user.username, ""),
            )  # fmt: skip
            for d in ("approve", "reject", "defer", "abstain")
        },
    }


def _open_for_votes(user: User) -> QuerySet[ChangeRequest]:
    """The CRs open for votes that ``user`` sees, each annotated with what is voted on now
    (``voting_now``), less those where ``user`` has cast a vote that counts in that round (a
    voided vote is to be cast again). A site admin votes only where a member (``restrict``
    lets them see all)."""
    qs = (
        restrict(ChangeRequest.objects, user)
        .filter(Q(state=State.IN_REVIEW) | Q(ratification=Ratification.PENDING))
        .annotate(**voting_now())
        .exclude(
            Exists(
                Vote.objects.filter(
                    change_request=OuterRef("pk"),
                    purpose=OuterRef("vote_purpose"),
                    round=OuterRef("vote_round"),
                    voter=user,
                    voided_at__isnull=True,
                )
            )
        )
    )
    if user.is_superuser:
        qs = qs.filter(project_id__in=user.memberships.values("project_id"))
    return qs


def _round_snapshot() -> QuerySet[VotingSnapshot]:
    """The snapshot of the round an ``_open_for_votes`` row is voted on now."""
    return VotingSnapshot.objects.filter(
        change_request=OuterRef("pk"),
        purpose=OuterRef("vote_purpose"),
        round=OuterRef("vote_round"),
    )


def _voted_on(cr: ChangeRequest) -> tuple[str, int]:
    """The purpose and round an ``_open_for_votes`` row is voted on now (its annotations)."""
    return cr.vote_purpose, cr.vote_round  # type: ignore[attr-defined]


def awaiting_vote(user: User) -> QuerySet[ChangeRequest]:
    """The CRs on which ``user`` may vote now and has not: their round's snapshot lists them
    (the snapshot's eligible list leaves requesters out). CRs without a snapshot yet are
    ``unsnapped``'s."""
    return _open_for_votes(user).filter(
        Exists(_round_snapshot().filter(JSONArrayHas("eligible", user.username)))
    )


def unsnapped(user: User) -> QuerySet[ChangeRequest]:
    """CRs open for votes whose round has no snapshot (the transition into the vote takes
    it; rows from before snapshots existed do not have one): ``pending_votes`` takes it."""
    return _open_for_votes(user).exclude(Exists(_round_snapshot()))


def _eligible_unsnapped(user: User, crs: QuerySet[ChangeRequest]) -> list[ChangeRequest]:
    """Of ``unsnapped(user)``, the CRs where ``user`` votes, their snapshot taken now."""
    return [
        cr for cr in crs if user.username in selectors.snapshot_take(cr, *_voted_on(cr)).eligible
    ]


def pending_votes(*, user: User) -> list[dict[str, Any]]:
    """The CRs on which ``user`` may vote now and has not (a voided vote is to be cast
    again), oldest first. Two queries whatever the number of CRs (and a snapshot taken for
    each CR that has none yet, as ``unsnapped`` says)."""
    if not user.is_authenticated:
        return []
    related = ("project", "requested_by")
    crs = list(awaiting_vote(user).select_related(*related))
    crs += _eligible_unsnapped(user, unsnapped(user).select_related(*related))
    crs.sort(key=lambda cr: (cr.state_changed_at, cr.pk))
    rows = []
    for cr in crs:
        purpose, rnd = _voted_on(cr)
        rows.append({"cr": cr, "purpose": purpose, "round": rnd, "since": cr.state_changed_at})
    return rows


def unsnapped_pending_count(user: User) -> int:
    """How many of ``unsnapped(user)`` await ``user``'s vote (their snapshots taken now): to
    add to ``awaiting_vote(user)``'s count, when ``unsnapped(user)`` is not empty."""
    return len(_eligible_unsnapped(user, unsnapped(user).select_related("project", "requested_by")))


def ratification_due(cr: ChangeRequest, days: int) -> dt.datetime:
    """When the board must have ratified ``cr``'s emergency approval: ``days`` after it."""
    return cr.state_changed_at + dt.timedelta(days=days)


def unratified(
    *, user: User, project: Project | None = None, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Emergency approvals the board has not ratified yet, oldest first, each with its
    deadline (the board's ``ratification_days`` after the approval) and whether it is past."""
    from changeflow.core.models import AuditEvent

    qs = (
        restrict(ChangeRequest.objects, user)
        .filter(ratification=Ratification.PENDING)
        .select_related("project", "requested_by")
    )
    if project is not None:
        qs = qs.filter(project_id=project.pk)
    crs = list(qs)
    approved_at = dict(
        AuditEvent.objects.filter(
            object_type="change_request", object_key__in=[cr.key for cr in crs],
            action="cr.approve_emergency",
        ).values_list("object_key", "at")
    ) if crs else {}  # fmt: skip
    now = now or timezone.now()
    rows: list[dict[str, Any]] = []
    days_of: dict[int, int] = {}
    for cr in crs:
        if cr.project_id not in days_of:
            days_of[cr.project_id] = selectors.ratification_days(cr.project)
        since = approved_at.get(cr.key) or cr.state_changed_at
        due = since + dt.timedelta(days=days_of[cr.project_id])
        rows.append(
            {"cr": cr, "approved_at": since, "due": due, "overdue": due < now,
             "days": days_of[cr.project_id]}
        )  # fmt: skip
    rows.sort(key=lambda r: (r["approved_at"], r["cr"].pk))
    return rows


SUPERVISED_STATES = (State.APPROVED, State.IMPLEMENTING, State.VERIFYING, State.CLOSED)


def supervision(*, user: User, project: Project, include_closed: bool = True) -> list[dict]:
    """Approved CRs through implementation to close (§4.2 监督变更实施): owner (the assignee
    when one is set, else whoever started the implementation), due date (the CR's desired
    date), overdue when the due date has passed and the CR is not closed."""
    states = SUPERVISED_STATES if include_closed else SUPERVISED_STATES[:-1]
    crs = list(
        restrict(ChangeRequest.objects, user)
        .filter(project_id=project.pk, state__in=states)
        .select_related("project", "requested_by")
        .order_by("desired_date", "state_changed_at", "id")
    )
    owners = _owners(crs)
    today = timezone.localdate()
    rows = []
    for cr in crs:
        due = cr.desired_date
        rows.append(
            {
                "cr": cr,
                "owner": owners.get(cr.pk, ""),
                "due": due,
                "overdue": bool(due and due < today and cr.state != State.CLOSED),
                "ratification": cr.ratification,
            }
        )
    return rows


def _owners(crs: list[ChangeRequest]) -> dict[int, str]:
    """Who owns each CR's implementation: its assignee if the model has one (another
    engineer's field), else the actor of its latest ``start_implementation``."""
    owners: dict[int, str] = {}
    for cr in crs:
        assignee = getattr(cr, "assignee", None)
        if assignee is not None:
            owners[cr.pk] = assignee.username
    missing = {cr.key: cr.pk for cr in crs if cr.pk not in owners}
    if missing:
        from changeflow.core.models import AuditEvent

        for key, actor in (
            AuditEvent.objects.filter(
                object_type="change_request",
                object_key__in=list(missing),
                action__in=("cr.start_implementation", "cr.approve_emergency"),
            )
            .order_by("seq")
            .values_list("object_key", "actor")
        ):
            owners[missing[key]] = actor
    return owners
