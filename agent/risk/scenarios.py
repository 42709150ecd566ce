"""Scenario engine: spot x vol shock grids with full revaluation of every position.

Shocks are relative: a spot shock of -0.1 means S * 0.9, a vol shock of +0.25 means
vol * 1.25 (floored at MIN_VOL). Each underlying is shocked on its own, holding the others
fixed, because a margin model and a risk report want "what does ETH alone do to us".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from agent.errors import ValidationError
from agent.risk._validate import FloatArray, finite
from agent.risk.portfolio import Book

DEFAULT_SPOT_SHOCKS = (-0.3, -0.2, -0.15, -0.1, -0.05, 0.0, 0.05, 0.1, 0.15, 0.2, 0.3)
DEFAULT_VOL_SHOCKS = (-0.3, 0.0, 0.3)


def revalue_underlying(
    book: Book, ui: int, spot_mult: FloatArray, vol_mult: FloatArray | float = 1.0, dt: float = 0.0
) -> FloatArray:
    """PnL (quote currency) of the positions on underlying ``ui`` in each scenario.

    ``spot_mult`` and ``vol_mult`` have shape (m,): scenario k moves that underlying's spot
    to ``S * spot_mult[k]`` and its vols to ``vol * vol_mult[k]``; ``dt`` years pass.
    """
    sel = book.und == ui
    if not sel.any():
        return np.zeros(np.shape(spot_mult))
    sub = book.subset(sel)
    s0 = float(book.spots[ui])
    base = sub.qty @ sub.unit_values(np.full(sub.n, s0))
    spot = (s0 * np.asarray(spot_mult, dtype=float))[:, None] * np.ones(sub.n)
    vm = np.asarray(vol_mult, dtype=float)
    vm = vm[:, None] if vm.ndim == 1 else vm
    return sub.unit_values(spot, vm, dt) @ sub.qty - base


@dataclass(frozen=True, slots=True)
class ScenarioGrid:
    """``pnl[u]`` has shape (len(spot_shocks), len(vol_shocks))."""

    spot_shocks: FloatArray
    vol_shocks: FloatArray
    pnl: dict[str, FloatArray]

    def worst(self, underlying: str) -> tuple[float, float, float]:
        """(pnl, spot_shock, vol_shock) of the worst cell for ``underlying``."""
        g = self.pnl[underlying]
        i, j = np.unravel_index(int(np.argmin(g)), g.shape)
        return float(g[i, j]), float(self.spot_shocks[i]), float(self.vol_shocks[j])


def scenario_grid(
    book: Book,
    spot_shocks: ArrayLike = DEFAULT_SPOT_SHOCKS,
    vol_shocks: ArrayLike = DEFAULT_VOL_SHOCKS,
    dt: float = 0.0,
) -> ScenarioGrid:
    """Full-revaluation PnL grid per underlying."""
    ss = finite("spot_shocks", spot_shocks)
    vs = finite("vol_shocks", vol_shocks)
    if (ss <= -1).any():
        raise ValidationError("spot_shocks", "a shock of -100% or less leaves no price")
    sm = np.repeat(1.0 + ss, vs.size)
    vm = np.tile(1.0 + vs, ss.size)
    pnl = {
        u: revalue_underlying(book, i, sm, vm, dt).reshape(ss.size, vs.size)
        for i, u in enumerate(book.underlyings)
    }
    return ScenarioGrid(ss, vs, pnl)
