"""Option pricing used by the strategies, the options venue's quote check and the market maker.

All Black-Scholes math goes through :func:`option_greeks`, which delegates to the risk
engine (agent.risk.pricing), so swapping the model is a one-line change here. Floats live
only inside this math; callers convert to Decimal/int at the edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from agent.errors import ValidationError
from agent.model import OptionKind
from agent.risk.pricing import black_scholes_greeks

SECONDS_PER_YEAR = 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class OptionGreeks:
    """Per one unit of underlying, in quote currency: price, delta (underlying units), gamma,
    vega (per 1.00 vol), theta (per year)."""

    price: float
    delta: float
    gamma: float
    vega: float
    theta: float


def option_greeks(
    kind: OptionKind, spot: float, strike: float, t: float, vol: float, rate: float = 0.0
) -> OptionGreeks:
    g = black_scholes_greeks(kind, spot, strike, t, vol, rate)
    return OptionGreeks(
        float(g.price), float(g.delta), float(g.gamma), float(g.vega), float(g.theta)
    )


def year_fraction(now: datetime | float, expiry: datetime | float) -> float:
    """ACT/365 years from ``now`` to ``expiry`` (datetimes or unix seconds), floored at 0."""
    a = now.timestamp() if isinstance(now, datetime) else float(now)
    b = expiry.timestamp() if isinstance(expiry, datetime) else float(expiry)
    return max(0.0, (b - a) / SECONDS_PER_YEAR)


@dataclass(frozen=True, slots=True)
class VolSurface:
    """A parametric smile per tenor: vol = atm * (t / 30d) ** term + skew * m + smile * m^2,
    with m = ln(K / S) / sqrt(t) (standardized moneyness), clamped to [floor, cap].

    Negative ``skew`` makes low strikes (puts) richer, as in crypto markets most of the time.
    """

    atm: float = 0.65
    skew: float = -0.08
    smile: float = 0.05
    term: float = 0.0
    floor: float = 0.05
    cap: float = 3.0

    def __post_init__(self) -> None:
        for name in ("atm", "floor", "cap"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ValidationError(f"vol_surface.{name}", f"{v!r} must be a positive number")
        if self.floor > self.cap:
            raise ValidationError("vol_surface.floor", f"{self.floor} exceeds cap {self.cap}")

    def vol(self, spot: float, strike: float, t: float) -> float:
        tt = max(t, 1.0 / SECONDS_PER_YEAR)
        m = math.log(strike / spot) / math.sqrt(tt)
        base = self.atm * (tt / (30 / 365)) ** self.term
        return min(self.cap, max(self.floor, base + self.skew * m + self.smile * m * m))


@dataclass(frozen=True, slots=True)
class MarketView:
    """What a model needs to value an option now: spot (quote per underlying), a vol
    surface, the risk-free rate and the valuation time (unix seconds)."""

    spot: Decimal
    surface: VolSurface
    now: float
    rate: float = 0.0

    def greeks(self, kind: OptionKind, strike: Decimal, expiry: datetime | float) -> OptionGreeks:
        s, k = float(self.spot), float(strike)
        t = year_fraction(self.now, expiry)
        return option_greeks(kind, s, k, t, self.surface.vol(s, k, t), self.rate)
