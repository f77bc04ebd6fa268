"""Expert estimation: three-point (PERT) estimates and the Wideband-Delphi trigger.

Pure functions over plain numbers; no ORM. Each estimator gives an optimistic ``o``, a most
likely ``m`` and a pessimistic ``p`` figure (effort, duration or cost: the unit is the caller's).

Per estimator, the PERT (beta) approximation::

    mean = (o + 4m + p) / 6        sd = (p - o) / 6

Across estimators the aggregate is an **equal-weight mixture** of their distributions: its
mean is the mean of the estimators' means, and by the law of total variance its variance is
the mean of their variances (each one's own uncertainty) *plus* the variance of their means
(their disagreement, population form). So disagreement widens the aggregate; averaging the
variances alone would hide it, and pooling them as if the estimates were independent
measurements (variance / n) would understate it further.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.translation import gettext as _

# A relative spread (range of the estimators' means over their mean) above this opens a
# Wideband-Delphi round. 0.25 echoes PRED(25): estimators more than 25 % apart disagree.
DEFAULT_DELPHI_THRESHOLD = 0.25


class InvalidEstimate(ValueError):
    """A three-point estimate that is negative, not finite, or not ordered o <= m <= p."""


@dataclass(frozen=True)
class ThreePoint:
    """One estimator's optimistic, most likely and pessimistic figures."""

    optimistic: float
    most_likely: float
    pessimistic: float

    def __post_init__(self) -> None:
        o, m, p = self.optimistic, self.most_likely, self.pessimistic
        if not all(math.isfinite(v) for v in (o, m, p)):
            raise InvalidEstimate(_("a three-point estimate must be made of finite numbers"))
        if o < 0:
            raise InvalidEstimate(_("a three-point estimate cannot be negative"))
        if not o <= m <= p:
            raise InvalidEstimate(
                _(
                    "a three-point estimate must satisfy optimistic <= most likely <= "
                    "pessimistic (got %(o)s, %(m)s, %(p)s)"
                )
                % {"o": o, "m": m, "p": p}
            )

    @property
    def mean(self) -> float:
        """PERT mean (o + 4m + p) / 6."""
        return (self.optimistic + 4 * self.most_likely + self.pessimistic) / 6

    @property
    def sd(self) -> float:
        """PERT standard deviation (p - o) / 6."""
        return (self.pessimistic - self.optimistic) / 6

    @property
    def variance(self) -> float:
        return self.sd**2


@dataclass(frozen=True)
class Aggregate:
    """Several estimators' three-point estimates, combined (see the module docstring)."""

    n: int
    means: tuple[float, ...]
    sds: tuple[float, ...]
    mean: float  # mean of the estimators' PERT means
    sd: float  # sqrt(mean of variances + population variance of the means)
    spread: float  # max mean - min mean
    relative_spread: float  # spread / mean (0 when the mean is 0)

    def as_dict(self) -> dict:
        return {
            "n": self.n,
            "means": list(self.means),
            "sds": list(self.sds),
            "mean": self.mean,
            "sd": self.sd,
            "spread": self.spread,
            "relative_spread": self.relative_spread,
        }


def _as_three_points(estimates: Sequence[ThreePoint | Sequence[float]]) -> list[ThreePoint]:
    points = [e if isinstance(e, ThreePoint) else ThreePoint(*map(float, e)) for e in estimates]
    if not points:
        raise InvalidEstimate(_("at least one three-point estimate is needed"))
    return points


def aggregate(estimates: Sequence[ThreePoint | Sequence[float]]) -> Aggregate:
    """PERT mean and sd per estimator and combined across estimators.

    ``estimates`` holds ``ThreePoint`` objects or ``(o, m, p)`` triples, one per estimator.
    """
    points = _as_three_points(estimates)
    means = tuple(p.mean for p in points)
    sds = tuple(p.sd for p in points)
    n = len(points)
    mean = sum(means) / n
    within = sum(s * s for s in sds) / n
    between = sum((m - mean) ** 2 for m in means) / n
    spread = max(means) - min(means)
    return Aggregate(
        n=n,
        means=means,
        sds=sds,
        mean=mean,
        sd=math.sqrt(within + between),
        spread=spread,
        relative_spread=spread / mean if mean else 0.0,
    )


def needs_delphi_round(
    estimates: Sequence[ThreePoint | Sequence[float]],
    threshold: float = DEFAULT_DELPHI_THRESHOLD,
) -> bool:
    """True when the estimators disagree enough to open a Wideband-Delphi round.

    Disagreement is the relative spread of their PERT means, ``(max - min) / mean``; a round
    opens when it *exceeds* ``threshold`` (equal is still agreement). One estimator never
    disagrees with itself. All-zero estimates have no spread.
    """
    if threshold < 0 or not math.isfinite(threshold):
        raise ValueError(_("the Delphi threshold must be a non-negative number"))
    agg = aggregate(estimates)
    return agg.n > 1 and agg.relative_spread > threshold
