"""Accuracy of effort estimates: MRE, MMRE, MdMRE, PRED(25), MAR and SA.

Pure, vectorised NumPy; ``actual`` and ``predicted`` are 1-D sequences of equal length.

MRE-based measures (Conte, Dunsmore and Shen 1986) divide by the actual value, which must be
positive. They are kept because the literature reports them, but they are biased towards
under-estimates; SA (Shepperd and MacDonell 2012) is the unbiased measure to judge by.

SA = 1 - MAR / MAR_P0, where MAR_P0 is the mean absolute residual of *random guessing*:
predict case i by the actual value of another case j, drawn uniformly from the other n - 1.
Langdon, Dolado, Sarro and Harman (2016) replace the sampled estimate of MAR_P0 by its exact
expectation. Derivation (as used here)::

    MAR_P0 = (1/n) sum_i (1/(n-1)) sum_{j != i} |y_i - y_j|
           = 2 / (n (n-1)) * sum_{i<j} |y_i - y_j|

and with the values sorted ascending, y_(1) <= ... <= y_(n), y_(k) is the larger of a pair
with k - 1 values and the smaller with n - k, so it enters the pair sum with weight
(k - 1) - (n - k) = 2k - n - 1::

    MAR_P0 = 2 / (n (n-1)) * sum_k (2k - n - 1) y_(k)

exact, O(n log n), no sampling and no random seed. SA is 0 for random guessing itself,
1 for a perfect predictor, and negative for one worse than guessing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from django.utils.translation import gettext as _

ArrayLike = Sequence[float] | np.ndarray


def _pair(actual: ArrayLike, predicted: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(actual, dtype=float)
    yhat = np.asarray(predicted, dtype=float)
    if y.ndim != 1 or y.shape != yhat.shape:
        raise ValueError(_("actual and predicted values must be two lists of the same length"))
    if y.size == 0:
        raise ValueError(_("no values to measure"))
    if not (np.isfinite(y).all() and np.isfinite(yhat).all()):
        raise ValueError(_("actual and predicted values must be finite numbers"))
    return y, yhat


def mre(actual: ArrayLike, predicted: ArrayLike) -> np.ndarray:
    """Magnitude of relative error per case, |y - yhat| / y (actual values must be > 0)."""
    y, yhat = _pair(actual, predicted)
    if (y <= 0).any():
        raise ValueError(_("MRE needs every actual value to be positive"))
    return np.abs(y - yhat) / y


def mmre(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Mean MRE (a fraction: 0.647 is 64.7 %)."""
    return float(mre(actual, predicted).mean())


def mdmre(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Median MRE (a fraction)."""
    return float(np.median(mre(actual, predicted)))


def pred(actual: ArrayLike, predicted: ArrayLike, level: float = 0.25) -> float:
    """PRED(level): the fraction of cases whose MRE is at most ``level`` (0.25 → PRED(25))."""
    return float((mre(actual, predicted) <= level).mean())


def mar(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Mean absolute residual, mean |y - yhat| (in the target's unit)."""
    y, yhat = _pair(actual, predicted)
    return float(np.abs(y - yhat).mean())


def mar_p0(actual: ArrayLike) -> float:
    """Exact MAR of random guessing (Langdon et al. 2016); see the module docstring."""
    y = np.sort(np.asarray(actual, dtype=float))
    n = y.size
    if y.ndim != 1 or n < 2:
        raise ValueError(_("the random-guess baseline needs at least two actual values"))
    if not np.isfinite(y).all():
        raise ValueError(_("actual values must be finite numbers"))
    weights = 2 * np.arange(1, n + 1) - n - 1
    return float(2.0 * np.dot(weights, y) / (n * (n - 1)))


def sa_from(mar_value: float, mar_p0_value: float) -> float:
    """Standardised accuracy 1 - MAR / MAR_P0 (undefined when every actual is the same)."""
    if mar_p0_value <= 0:
        raise ValueError(_("SA is undefined when every actual value is the same"))
    return 1.0 - mar_value / mar_p0_value


def sa(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Standardised accuracy of ``predicted`` against the exact random-guess baseline."""
    return sa_from(mar(actual, predicted), mar_p0(actual))


def summary(actual: ArrayLike, predicted: ArrayLike) -> dict[str, float]:
    """Every measure at once: MMRE, MdMRE, PRED25, MAR, MAR_P0, SA."""
    errors = mre(actual, predicted)
    m = mar(actual, predicted)
    p0 = mar_p0(actual)
    return {
        "MMRE": float(errors.mean()),
        "MdMRE": float(np.median(errors)),
        "PRED25": float((errors <= 0.25).mean()),
        "MAR": m,
        "MAR_P0": p0,
        "SA": sa_from(m, p0),
    }
