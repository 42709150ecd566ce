"""Portfolio margin in the style of venues' risk-based margin (Deribit PM, CME SPAN).

Per underlying ``u``:
  scan loss        = max(0, -min over the spot x vol shock grid of the full-revaluation PnL)
  contingency      = short_option_contingency * S_u * (underlying units of short options)
  maintenance_u    = scan loss + contingency
Portfolio:
  maintenance (MM) = sum over underlyings (no cross-underlying offsets: conservative)
  initial (IM)     = im_multiplier * MM
  equity           = cash + mark value of every position
  margin ratio     = MM / equity (>= 1 means liquidation; inf when equity <= 0)
  available        = equity - IM (what a new trade may consume)

The contingency charges short options for what a finite grid cannot see (gap moves beyond
the grid, vol-of-vol), as Deribit's "short option contingency" does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from agent.errors import ValidationError
from agent.risk._validate import FloatArray, finite
from agent.risk.portfolio import MIN_VOL, OPTION, Book
from agent.risk.pricing.black import price_unchecked

_SPOT = tuple(np.round(np.linspace(-0.15, 0.15, 13), 6))
_VOL = (-0.3, 0.0, 0.3)


@dataclass(frozen=True, slots=True)
class MarginParams:
    spot_shocks: tuple[float, ...] = _SPOT
    vol_shocks: tuple[float, ...] = _VOL
    short_option_contingency: float = 0.01
    im_multiplier: float = 1.25

    def __post_init__(self) -> None:
        ss = finite("margin.spot_shocks", self.spot_shocks)
        finite("margin.vol_shocks", self.vol_shocks)
        if ss.size == 0 or (ss <= -1).any():
            raise ValidationError("margin.spot_shocks", "must be non-empty and > -1")
        if not 0 <= self.short_option_contingency < 1:
            raise ValidationError("margin.short_option_contingency", "must be in [0, 1)")
        if not self.im_multiplier >= 1:
            raise ValidationError("margin.im_multiplier", "must be >= 1", "e.g. 1.25")

    def grid(self) -> tuple[FloatArray, FloatArray]:
        """(spot multipliers, vol multipliers), flattened spot-major."""
        ss = np.asarray(self.spot_shocks, dtype=float)
        vs = np.asarray(self.vol_shocks, dtype=float)
        return np.repeat(1.0 + ss, vs.size), np.tile(1.0 + vs, ss.size)


@dataclass(frozen=True, slots=True)
class UnderlyingMargin:
    underlying: str
    spot: float
    scan_loss: float
    worst_spot_shock: float
    worst_vol_shock: float
    contingency: float
    maintenance: float
    grid_pnl: FloatArray = field(repr=False)  # flattened like MarginParams.grid()


@dataclass(frozen=True, slots=True)
class MarginReport:
    equity: float
    maintenance: float
    initial: float
    per_underlying: tuple[UnderlyingMargin, ...]

    @property
    def margin_ratio(self) -> float:
        return self.maintenance / self.equity if self.equity > 0 else float("inf")

    @property
    def available(self) -> float:
        return self.equity - self.initial

    def underlying(self, name: str) -> UnderlyingMargin | None:
        for m in self.per_underlying:
            if m.underlying == name:
                return m
        return None


def grid_pnl(book: Book, params: MarginParams, spot_scale: FloatArray | None = None) -> FloatArray:
    """PnL per (scenario, underlying), shape (n_scenarios, n_underlyings), in one pass over
    all positions (each position sees only its own underlying's shock).

    ``spot_scale`` (per underlying) moves the base spots first; the PnL is then relative to
    the value at the moved base. Used to find liquidation prices."""
    sm, vm = params.grid()
    spots = book.spots if spot_scale is None else book.spots * spot_scale
    n_und = len(book.underlyings)
    # Linear positions (spot, perps) move by qty * S * (m - 1): no pricing needed.
    lin = book.kind != OPTION
    lin_units = np.bincount(book.und[lin], weights=book.qty[lin], minlength=n_und)
    out = np.outer(sm - 1.0, lin_units * spots)
    opt = ~lin
    if opt.any():
        und = book.und[opt]
        s0 = spots[und]
        w, k, t = book.w[opt], book.strike[opt], book.t[opt]
        v, r, q, qty = book.vol[opt], book.rate[opt], book.carry[opt], book.qty[opt]
        base = price_unchecked(w, s0, k, t, v, r, q)
        vals = price_unchecked(
            w, sm[:, None] * s0, k, t, np.maximum(vm[:, None] * v, MIN_VOL), r, q
        )
        vals -= base
        vals *= qty
        onehot = np.zeros((und.size, n_und))
        onehot[np.arange(und.size), und] = 1.0
        out += vals @ onehot
    return out


def short_option_units(book: Book) -> FloatArray:
    """Underlying units of short options per underlying."""
    short = np.where((book.kind == OPTION) & (book.qty < 0), -book.qty, 0.0)
    return np.bincount(book.und, weights=short, minlength=len(book.underlyings))


def compute_margin(book: Book, params: MarginParams | None = None) -> MarginReport:
    params = params or MarginParams()
    pnl = grid_pnl(book, params)
    sm, vm = params.grid()
    shorts = short_option_units(book)
    per = []
    for i, u in enumerate(book.underlyings):
        col = pnl[:, i]
        k = int(np.argmin(col))
        scan = max(0.0, -float(col[k]))
        cont = params.short_option_contingency * float(book.spots[i]) * float(shorts[i])
        per.append(
            UnderlyingMargin(
                underlying=u,
                spot=float(book.spots[i]),
                scan_loss=scan,
                worst_spot_shock=float(sm[k] - 1.0),
                worst_vol_shock=float(vm[k] - 1.0),
                contingency=cont,
                maintenance=scan + cont,
                grid_pnl=col.copy(),
            )
        )
    mm = sum(m.maintenance for m in per)
    return MarginReport(
        equity=book.equity(),
        maintenance=mm,
        initial=mm * params.im_multiplier,
        per_underlying=tuple(per),
    )
