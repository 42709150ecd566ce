"""Boundary validation for the risk math: reject NaN, inf and out-of-range inputs by name.

The pricing and VaR kernels assume clean float64 arrays; this is the one place that makes
them so, raising :class:`agent.errors.ValidationError` naming the offending field and the
first bad value, so nothing downstream ever sees a NaN it did not create itself.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from agent.errors import ValidationError

FloatArray = NDArray[np.float64]


def finite(name: str, value: ArrayLike) -> FloatArray:
    """``value`` as a float64 array; every element must be finite."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValidationError(name, f"is not numeric ({e})", "pass numbers") from e
    # One SIMD reduction on the happy path: NaN and inf propagate into the sum. Only a sum
    # that is not finite (a bad element, or a genuine overflow) pays for the full scan.
    if not np.isfinite(arr.sum()) and not np.isfinite(arr).all():
        bad = arr[~np.isfinite(arr)].flat[0]
        raise ValidationError(name, f"contains {bad}", "pass finite numbers (no NaN or inf)")
    return arr


def positive(name: str, value: ArrayLike) -> FloatArray:
    """Finite and strictly positive (prices, vols, sizes)."""
    arr = finite(name, value)
    if arr.size and not arr.min() > 0:
        bad = arr[~(arr > 0)].flat[0]
        raise ValidationError(name, f"must be > 0, got {bad}", "pass a positive value")
    return arr


def non_negative(name: str, value: ArrayLike) -> FloatArray:
    """Finite and >= 0 (times to expiry: 0 means expired, priced at intrinsic)."""
    arr = finite(name, value)
    if arr.size and not arr.min() >= 0:
        bad = arr[~(arr >= 0)].flat[0]
        raise ValidationError(name, f"must be >= 0, got {bad}", "pass years to expiry, e.g. 0.25")
    return arr


def probability(name: str, value: float) -> float:
    """A confidence level strictly between 0 and 1."""
    v = float(finite(name, value))
    if not 0.0 < v < 1.0:
        raise ValidationError(name, f"{v} is outside (0, 1)", "e.g. 0.99 for 99%")
    return v
