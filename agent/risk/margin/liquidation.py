"""Liquidation price per underlying: the spot at which equity equals maintenance margin.

Holding every other underlying fixed, ``h(x) = equity(S x) - MM(S x)`` is evaluated on a
log-spaced bracket of spot multipliers around today's spot; the nearest sign change below
and above 1 is refined with Brent's method. Both the equity and the maintenance margin are
revalued in full at each candidate spot (the grid is re-centred there), so options' convexity
and the short-option contingency move with the price.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from agent.risk.margin.model import MarginParams, grid_pnl, short_option_units
from agent.risk.portfolio import Book

_SCAN = np.geomspace(0.02, 10.0, 81)


@dataclass(frozen=True, slots=True)
class LiquidationLevel:
    """``down``/``up``: spot below/above today's at which the account is liquidated (None
    if none within 0.02x..10x); ``now``: already at or past maintenance."""

    underlying: str
    spot: float
    down: float | None
    up: float | None
    now: bool


def _health(book: Book, ui: int, params: MarginParams, mults: np.ndarray) -> np.ndarray:
    """equity - MM when underlying ``ui`` trades at ``spot * m`` for each m in ``mults``."""
    out = np.empty(mults.size)
    eq0 = book.equity()
    shorts = short_option_units(book)
    sel = book.und == ui
    sub = book.subset(sel)
    s0 = float(book.spots[ui])
    base = sub.qty @ sub.unit_values(np.full(sub.n, s0))
    others_mm = None
    for j, m in enumerate(mults):
        scale = np.ones(len(book.underlyings))
        scale[ui] = m
        pnl = grid_pnl(book, params, scale)
        per_mm = np.maximum(0.0, -pnl.min(axis=0)) + (
            params.short_option_contingency * book.spots * scale * shorts
        )
        if others_mm is None:
            others_mm = float(per_mm.sum() - per_mm[ui])
        moved = sub.qty @ sub.unit_values(np.full(sub.n, s0 * m))
        out[j] = eq0 + (moved - base) - (others_mm + float(per_mm[ui]))
    return out


def liquidation_prices(book: Book, params: MarginParams | None = None) -> list[LiquidationLevel]:
    params = params or MarginParams()
    out = []
    for ui, u in enumerate(book.underlyings):
        s0 = float(book.spots[ui])
        h = _health(book, ui, params, _SCAN)
        h1 = float(_health(book, ui, params, np.array([1.0]))[0])
        if h1 <= 0:
            out.append(LiquidationLevel(u, s0, s0, s0, True))
            continue

        def f(m: float, ui: int = ui) -> float:
            return float(_health(book, ui, params, np.array([m]))[0])

        down = up = None
        below = np.flatnonzero((_SCAN < 1.0) & (h <= 0))
        if below.size:
            j = below[-1]
            lo, hi = _SCAN[j], min(_SCAN[j + 1], 1.0) if j + 1 < _SCAN.size else 1.0
            hi = hi if f(hi) > 0 else 1.0
            down = s0 * brentq(f, lo, hi, xtol=1e-10, rtol=1e-12)
        above = np.flatnonzero((_SCAN > 1.0) & (h <= 0))
        if above.size:
            j = above[0]
            lo = _SCAN[j - 1] if _SCAN[j - 1] > 1.0 else 1.0
            lo = lo if f(lo) > 0 else 1.0
            up = s0 * brentq(f, lo, _SCAN[j], xtol=1e-10, rtol=1e-12)
        out.append(LiquidationLevel(u, s0, down, up, False))
    return out
