"""Shared VaR plumbing: the result type, tail statistics, history alignment."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from agent.errors import ValidationError
from agent.risk._validate import FloatArray, positive, probability
from agent.risk.portfolio import Book

DAYS_PER_YEAR = 365.0


@dataclass(frozen=True, slots=True)
class VaRResult:
    """Loss figures are positive numbers in the book's quote currency: VaR is the loss not
    exceeded with probability ``confidence`` over ``horizon_days``; ES the mean loss beyond it."""

    method: str
    confidence: float
    horizon_days: int
    var: float
    es: float
    n_scenarios: int
    pnl: FloatArray | None = field(default=None, repr=False)


def check_params(confidence: float, horizon_days: int) -> tuple[float, int]:
    c = probability("confidence", confidence)
    if not isinstance(horizon_days, int) or horizon_days < 1:
        raise ValidationError("horizon_days", f"{horizon_days} must be an integer >= 1")
    return c, horizon_days


def tail(pnl: FloatArray, confidence: float) -> tuple[float, float]:
    """(VaR, ES) of a PnL sample: the loss at the (1 - confidence) quantile and the mean loss
    of the scenarios at or beyond it (the k worst, k = ceil(n (1 - c)))."""
    n = pnl.size
    k = max(1, math.ceil(n * (1.0 - confidence) - 1e-9))
    worst = np.partition(pnl, k - 1)[:k]
    var = -float(worst.max())
    es = -float(worst.mean())
    return var, es


def log_returns(book: Book, history: Mapping[str, ArrayLike], horizon_days: int) -> FloatArray:
    """Overlapping ``horizon_days`` log returns, shape (n, n_underlyings), from aligned daily
    price series (same length, same dates, oldest first) for every underlying of the book."""
    cols = []
    for u in book.underlyings:
        if u not in history:
            raise ValidationError(f"history[{u}]", "is missing", "give a daily price series")
        p = positive(f"history[{u}]", history[u])
        if p.ndim != 1 or p.size <= horizon_days + 1:
            raise ValidationError(
                f"history[{u}]", f"needs more than {horizon_days + 1} daily prices"
            )
        cols.append(np.log(p[horizon_days:] / p[:-horizon_days]))
    lengths = {c.size for c in cols}
    if len(lengths) > 1:
        raise ValidationError("history", "series have different lengths", "align them by date")
    return np.stack(cols, axis=1) if cols else np.zeros((0, 0))


def revalue_all(book: Book, spot_mult: FloatArray, dt: float) -> FloatArray:
    """Exact full-revaluation PnL per scenario; ``spot_mult`` is (n, n_underlyings).
    Chunked so the (scenarios x positions) intermediate stays within cache-friendly sizes."""
    base = float(book.qty @ book.unit_values(book.spots[book.und]))
    out = np.empty(spot_mult.shape[0])
    step = max(1, 2_000_000 // max(book.n, 1))
    for a in range(0, spot_mult.shape[0], step):
        s = spot_mult[a : a + step][:, book.und] * book.spots[book.und]
        out[a : a + step] = book.unit_values(s, 1.0, dt) @ book.qty - base
    return out
