"""Board policy as pure functions: who is eligible, the tally, the verdict, delegation.

No ORM here. The Change Control Board issue grows this module (weights, required and veto
roles, unanimity); the service layer only ever calls ``decide`` and ``within_delegation``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

DEFAULT_BOARD_ROLES = ("project_manager", "tech_lead", "qa", "customer_rep")
DECISIONS = ("approve", "reject", "defer", "abstain")
# When a full board splits evenly, the safe outcome is to decide later.
TIE_VERDICT = "defer"


@dataclass(frozen=True)
class Tally:
    eligible: int
    quorum: int
    cast: int
    counts: Mapping[str, int]
    verdict: str | None  # "approve" | "reject" | "defer" | None while undecided

    def as_dict(self) -> dict:
        return {
            "eligible": self.eligible,
            "quorum": self.quorum,
            "cast": self.cast,
            "counts": {d: self.counts.get(d, 0) for d in DECISIONS},
            "verdict": self.verdict,
        }


def eligible_voters(
    members: Iterable[tuple[str, str]],
    *,
    requester: str,
    roles: Iterable[str] = DEFAULT_BOARD_ROLES,
) -> list[str]:
    """Members (username, role) of the board roles, the requester excluded."""
    allowed = set(roles)
    return sorted({u for u, r in members if r in allowed and u != requester})


def decide(eligible: Iterable[str], votes: Mapping[str, str]) -> Tally:
    """Simple majority of the eligible members, quorum a majority.

    - A decision that more than half of the eligible members chose wins at once: no later vote
      can change it.
    - Once every eligible member has voted (so the quorum is met), the decision with the most
      non-abstaining votes wins; a tie, or nobody but abstainers, defers the CR.
    - Votes from anyone not eligible are ignored.
    """
    voters = set(eligible)
    n = len(voters)
    quorum = n // 2 + 1 if n else 0
    valid = {u: d for u, d in votes.items() if u in voters}
    counts = Counter(valid.values())
    cast = len(valid)
    verdict: str | None = None
    if n:
        for decision in ("approve", "reject", "defer"):
            if counts[decision] * 2 > n:
                verdict = decision
        if verdict is None and cast == n:
            ranked = sorted(((counts[d], d) for d in ("approve", "reject", "defer")), reverse=True)
            top, second = ranked[0], ranked[1]
            verdict = top[1] if top[0] > second[0] else TIE_VERDICT
    return Tally(n, quorum, cast, dict(counts), verdict)


def within_delegation(
    *,
    effort_hours: Decimal | None,
    cost: Decimal | None,
    schedule_days: Decimal | None,
    max_effort_hours: Decimal | None,
    max_cost: Decimal | None,
    max_schedule_days: Decimal | None,
) -> bool:
    """True when at least one threshold is set and the assessment is at or under each one set."""
    pairs = [
        (effort_hours, max_effort_hours),
        (cost, max_cost),
        (schedule_days, max_schedule_days),
    ]
    if all(limit is None for _, limit in pairs):
        return False
    return all(limit is None or (value is not None and value <= limit) for value, limit in pairs)
