"""Calibration: how far each source of estimates has been from the actuals, and the correction.

Pure; no ORM. An estimate ``e`` and the actual ``a`` give the log ratio ``log(a / e)``:
0 is spot on, +0.1 means the actual came out about 10 % above the estimate. Ratios, not
differences, because estimation error grows with the size of the work (a 2-hour miss on a
4-hour change is not a 2-hour miss on a 400-hour one) and because they combine by averaging.

- **Bias**: the *median* log ratio of a group (a source, an estimator, a CR type): robust to
  the one change that went badly wrong, which a mean is not. The correction factor is
  ``exp(bias)``: an estimator whose actuals run 30 % over has their next estimate multiplied
  by 1.3.
- **Spread**: the median absolute deviation of the log ratios around that median, scaled by
  1.4826 so it estimates a standard deviation for normal log errors. It says how much to
  trust the corrected figure.
- A group needs ``MIN_N`` closed CRs before its bias is applied: with fewer, a correction
  follows noise. The most specific group with enough history wins (see ``pick``).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from django.utils.translation import gettext as _

MIN_N = 3
MAD_SCALE = 1.4826


@dataclass(frozen=True)
class Bias:
    n: int
    median_log_ratio: float
    spread: float  # robust sd of the log ratios (0 with one record)
    mean_log_ratio: float

    @property
    def factor(self) -> float:
        """Multiply an estimate by this to correct it: exp(median log ratio)."""
        return math.exp(self.median_log_ratio)

    @property
    def percent(self) -> float:
        """The typical miss as a percentage: +30 means the actuals ran 30 % over."""
        return (self.factor - 1) * 100

    def as_dict(self) -> dict:
        return {
            "n": self.n,
            "median_log_ratio": round(self.median_log_ratio, 6),
            "factor": round(self.factor, 6),
            "bias_percent": round(self.percent, 2),
            "spread": round(self.spread, 6),
            "mean_log_ratio": round(self.mean_log_ratio, 6),
        }


def log_ratio(estimate: float, actual: float) -> float:
    """log(actual / estimate); both must be positive."""
    if not (estimate > 0 and actual > 0):
        raise ValueError(_("an estimate and its actual must both be positive to compare"))
    return math.log(actual / estimate)


def summarise(log_ratios: Iterable[float]) -> Bias:
    """Median, robust spread and mean of a group's log ratios (at least one)."""
    r = np.asarray(list(log_ratios), dtype=float)
    if r.size == 0:
        raise ValueError(_("no closed estimates to calibrate against"))
    median = float(np.median(r))
    spread = float(MAD_SCALE * np.median(np.abs(r - median))) if r.size > 1 else 0.0
    return Bias(
        n=int(r.size), median_log_ratio=median, spread=spread, mean_log_ratio=float(r.mean())
    )


def group(records: Iterable[tuple[Hashable, float]]) -> dict[Hashable, Bias]:
    """Biases per key from (key, log ratio) pairs."""
    buckets: dict[Hashable, list[float]] = {}
    for key, value in records:
        buckets.setdefault(key, []).append(value)
    return {key: summarise(values) for key, values in buckets.items()}


def pick[K: Hashable](
    biases: Mapping[K, Bias], keys: Sequence[K], min_n: int = MIN_N
) -> tuple[K, Bias] | None:
    """The first of ``keys`` (most specific first) whose group has at least ``min_n`` records."""
    for key in keys:
        bias = biases.get(key)
        if bias is not None and bias.n >= min_n:
            return key, bias
    return None


def correct(value: float, bias: Bias | None) -> float:
    """``value`` corrected by ``bias`` (unchanged without one)."""
    return value * bias.factor if bias is not None else value
