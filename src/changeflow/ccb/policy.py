"""Board policy as pure functions: who is eligible, the tally, the verdict, delegation.

No ORM here. ``evaluate(policy, eligible, votes)`` is the whole policy: quorum, the rule
(simple majority, unanimity, weighted threshold), member weights, required roles and veto
roles. ``decide(eligible, votes)`` is the default board (simple majority, quorum a majority).

The semantics, in the order they are applied:

1. Only eligible members' votes count; no eligible member means no verdict ever.
2. No verdict without quorum: at least ``quorum`` eligible members (abstainers included)
   have voted. The default quorum is a majority of the eligible members; a configured quorum
   larger than the eligible members (the requester is excluded at run time, unless they are
   the only holder of a required role) is capped at them.
3. A reject by a member holding a veto role rejects.
4. The rule, over the non-abstaining votes (abstentions count for quorum only):
   - ``majority`` (heads): a decision more than half of the eligible members chose wins at
     once; once everyone has voted the decision with the most votes wins, a tie defers;
   - ``unanimous``: approve when every non-abstaining member approved; any reject rejects;
     otherwise defer;
   - ``weighted``: approve when the approving weight is at least ``threshold`` of the
     non-abstaining weight; otherwise the heavier of reject and defer (a tie defers).
   Nobody but abstainers defers.
5. Approve needs, for each required role, an approval from a member holding it; when no
   holder can approve any more, what would have been approved is deferred.
6. A verdict is given only when no further vote can change it (or when everyone has voted):
   approve and defer wait for every veto holder, approve for a required role's holder.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

DEFAULT_BOARD_ROLES = ("project_manager", "tech_lead", "qa", "customer_rep")
DECISIONS = ("approve", "reject", "defer", "abstain")
OUTCOMES = ("approve", "reject", "defer")
RULES = ("majority", "unanimous", "weighted")
# When a full board splits evenly, the safe outcome is to decide later.
TIE_VERDICT = "defer"


@dataclass(frozen=True)
class Policy:
    """How a board decides. Weights and roles are keyed by username (default weight 1)."""

    rule: str = "majority"
    threshold: Fraction | Decimal | None = None  # weighted: share in (0, 1]
    quorum: int | None = None  # None: a majority of the eligible members
    weights: Mapping[str, Fraction | Decimal | int] = field(default_factory=dict)
    roles: Mapping[str, str] = field(default_factory=dict)
    required_roles: tuple[str, ...] = ()
    veto_roles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"unknown rule {self.rule!r}")
        if self.rule == "weighted":
            t = self.threshold
            if t is None or not 0 < Fraction(t) <= 1:
                raise ValueError("a weighted rule needs a threshold in (0, 1]")
        if self.quorum is not None and self.quorum < 1:
            raise ValueError("quorum must be at least 1")
        if any(Fraction(w) <= 0 for w in self.weights.values()):
            raise ValueError("weights must be positive")

    def weight(self, username: str) -> Fraction:
        return Fraction(self.weights.get(username, 1))

    def as_dict(self) -> dict:
        return {
            "rule": self.rule,
            "threshold": None if self.threshold is None else str(self.threshold),
            "quorum": self.quorum,
            "required_roles": list(self.required_roles),
            "veto_roles": list(self.veto_roles),
        }


DEFAULT_POLICY = Policy()


@dataclass(frozen=True)
class Tally:
    eligible: int
    quorum: int
    cast: int
    counts: Mapping[str, int]
    verdict: str | None  # "approve" | "reject" | "defer" | None while undecided
    weights: Mapping[str, Fraction] = field(default_factory=dict)
    vetoed_by: str | None = None
    required_missing: tuple[str, ...] = ()  # required roles without an approval yet
    pending: tuple[str, ...] = ()  # eligible members who have not voted

    def as_dict(self) -> dict:
        return {
            "eligible": self.eligible,
            "quorum": self.quorum,
            "cast": self.cast,
            "counts": {d: self.counts.get(d, 0) for d in DECISIONS},
            "verdict": self.verdict,
        }

    def details(self) -> dict:
        """``as_dict`` plus the weights, the veto and what is still needed."""
        return {
            **self.as_dict(),
            "weights": {d: _num(self.weights.get(d, Fraction(0))) for d in DECISIONS},
            "vetoed_by": self.vetoed_by,
            "required_missing": list(self.required_missing),
            "pending": list(self.pending),
        }


def _num(value: Fraction) -> str:
    """A weight as a short decimal string ("2", "1.5", "0.333333")."""
    if value.denominator == 1:
        return str(value.numerator)
    return format(Decimal(value.numerator) / Decimal(value.denominator), "f").rstrip("0")


def eligible_voters(
    members: Iterable[tuple[str, str]],
    *,
    requester: str,
    roles: Iterable[str] | None = DEFAULT_BOARD_ROLES,
    required_roles: Iterable[str] = (),
) -> list[str]:
    """Members (username, role) of the board roles (None: any role), the requester excluded —
    unless the requester is the only member holding a role whose approval the board requires.
    Then their approval is the required sign-off nobody else can give (typically the customer
    representative who filed the change accepting its cost and schedule), and excluding them
    would leave a board that can never approve what they ask for."""
    allowed = None if roles is None else set(roles)
    seated = {(u, r) for u, r in members if allowed is None or r in allowed}
    eligible = {u for u, _r in seated if u != requester}
    held_by_others = {r for u, r in seated if u != requester}
    required = set(required_roles)
    if any(u == requester and r in required - held_by_others for u, r in seated):
        eligible.add(requester)
    return sorted(eligible)


def _majority(s: Mapping[str, Fraction], pending: Fraction, total: Fraction) -> str | None:
    for d in OUTCOMES:
        if s[d] * 2 > total:
            return d
    if pending:
        return None
    ranked = sorted(((s[d], d) for d in OUTCOMES), reverse=True)
    return ranked[0][1] if ranked[0][0] > ranked[1][0] else TIE_VERDICT


def _unanimous(s: Mapping[str, Fraction], pending: Fraction) -> str | None:
    if s["reject"]:
        return "reject"
    if pending:
        return None
    if s["approve"] and not s["defer"]:
        return "approve"
    return "defer"


def _weighted(s: Mapping[str, Fraction], pending: Fraction, t: Fraction) -> str | None:
    a, r, d = s["approve"], s["reject"], s["defer"]
    if a and a >= t * (a + r + d + pending):
        return "approve"  # even if every pending member voted against
    if pending:
        if a + pending >= t * (a + r + d + pending):
            return None  # approval is still possible
        if r > d + pending:
            return "reject"
        if d >= r + pending:
            return "defer"
        return None
    if a + r + d == 0:
        return TIE_VERDICT
    return "reject" if r > d else "defer"


def evaluate(policy: Policy, eligible: Iterable[str], votes: Mapping[str, str]) -> Tally:
    """The tally of ``votes`` among ``eligible`` under ``policy``, with the verdict so far."""
    voters = set(eligible)
    n = len(voters)
    quorum = min(policy.quorum, n) if policy.quorum is not None else (n // 2 + 1 if n else 0)
    valid = {u: d for u, d in votes.items() if u in voters and d in DECISIONS}
    counts = Counter(valid.values())
    weights = {d: Fraction(0) for d in DECISIONS}
    for u, d in valid.items():
        weights[d] += policy.weight(u)
    pending_users = sorted(voters - set(valid))
    role = policy.roles.get
    required_missing = tuple(
        r
        for r in policy.required_roles
        if not any(role(u) == r and d == "approve" for u, d in valid.items())
    )
    veto = sorted(u for u, d in valid.items() if d == "reject" and role(u) in policy.veto_roles)

    def tally(verdict: str | None) -> Tally:
        return Tally(
            n, quorum, len(valid), dict(counts), verdict, weights,
            veto[0] if veto else None, required_missing, tuple(pending_users),
        )  # fmt: skip

    if not n or len(valid) < quorum:
        return tally(None)
    if veto:
        return tally("reject")
    if policy.rule == "majority":
        heads = {d: Fraction(counts[d]) for d in OUTCOMES}
        verdict = _majority(heads, Fraction(len(pending_users)), Fraction(n))
    elif policy.rule == "unanimous":
        verdict = _unanimous(weights, Fraction(len(pending_users)))
    else:
        pending_weight = sum((policy.weight(u) for u in pending_users), Fraction(0))
        assert policy.threshold is not None  # a weighted Policy cannot be made without one
        verdict = _weighted(weights, pending_weight, Fraction(policy.threshold))
    if verdict in ("approve", "defer") and any(role(u) in policy.veto_roles for u in pending_users):
        return tally(None)  # a veto could still come
    if verdict == "approve" and required_missing:
        if any(role(u) in required_missing for u in pending_users):
            return tally(None)  # the required approval could still come
        verdict = "defer"  # it never will: the board cannot approve
    return tally(verdict)


def decide(eligible: Iterable[str], votes: Mapping[str, str]) -> Tally:
    """The default board: simple majority of the eligible members, quorum a majority."""
    return evaluate(DEFAULT_POLICY, eligible, votes)


DELEGATION_LIMITS = ("max_effort_hours", "max_cost", "max_schedule_days", "max_risk_exposure")


def within_delegation(
    *,
    effort_hours: Decimal | None,
    cost: Decimal | None,
    schedule_days: Decimal | None,
    max_effort_hours: Decimal | None,
    max_cost: Decimal | None,
    max_schedule_days: Decimal | None,
    risk_exposure: Decimal | None = None,
    max_risk_exposure: Decimal | None = None,
) -> bool:
    """True when at least one threshold is set and the assessment is at or under each one set.

    ``risk_exposure`` is the assessment's largest single risk exposure (probability × impact):
    one likely, severe risk is what a PM should not accept alone, however many small ones
    there are. A figure that is unknown (None) is never under its threshold.
    """
    pairs = [
        (effort_hours, max_effort_hours),
        (cost, max_cost),
        (schedule_days, max_schedule_days),
        (risk_exposure, max_risk_exposure),
    ]
    if all(limit is None for _, limit in pairs):
        return False
    return all(limit is None or (value is not None and value <= limit) for value, limit in pairs)


def problems(
    *,
    members: Mapping[str, str],
    rule: str,
    threshold: Decimal | Fraction | None,
    quorum: int | None,
    required_roles: Iterable[str],
    veto_roles: Iterable[str],
) -> dict[str, tuple[str, dict[str, object]]]:
    """Why a board (``members``: username → role) could never reach a verdict under this
    policy, by field; empty when it can. Pure, so that the form, the API and the tests agree.

    Unsatisfiable: no member; a quorum larger than the board; a required or veto role no
    member holds; a weighted rule without a threshold in (0, 1]; an unknown rule. Each
    problem is ``(code, parameters)``: the caller words it in the user's language.
    """
    found: dict[str, tuple[str, dict[str, object]]] = {}
    held = set(members.values())
    if not members:
        found["members"] = ("no_members", {})
    if rule not in RULES:
        found["rule"] = ("unknown_rule", {"rule": rule})
    if rule == "weighted" and (threshold is None or not 0 < Fraction(threshold) <= 1):
        found["threshold"] = ("threshold_needed", {})
    elif threshold is not None and not 0 < Fraction(threshold) <= 1:
        found["threshold"] = ("threshold_range", {})
    if quorum is not None and (quorum < 1 or quorum > len(members)):
        found["quorum"] = ("quorum_too_large", {"q": quorum, "n": len(members)})
    missing = [r for r in required_roles if r not in held]
    if missing:
        found["required_roles"] = ("role_not_held", {"roles": ", ".join(missing)})
    missing = [r for r in veto_roles if r not in held]
    if missing:
        found["veto_roles"] = ("role_not_held", {"roles": ", ".join(missing)})
    return found


def still_needed(tally: Tally, policy: Policy) -> dict[str, object]:
    """What the board still needs for a verdict, in plain figures for the CR page: votes to
    reach quorum, required roles without an approval, veto holders who have not voted."""
    role = policy.roles.get
    return {
        "votes_to_quorum": max(0, tally.quorum - tally.cast),
        "required_roles": list(tally.required_missing),
        "veto_pending": sorted(
            {r for u in tally.pending if (r := role(u)) is not None and r in policy.veto_roles}
        ),
        "pending": list(tally.pending),
    }
