"""Black-Scholes for the simulator's option marks and Greeks (floats: this is risk math).

Kept self-contained on purpose so the simulator does not depend on agent.risk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def _n(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


@dataclass(frozen=True, slots=True)
class Greeks:
    price: float
    delta: float
    gamma: float
    vega: float  # per 1 vol point (0.01)
    theta: float  # per day
    rho: float  # per 1% rate


def black_scholes(
    spot: float, strike: float, t_years: float, vol: float, is_call: bool, rate: float = 0.0
) -> Greeks:
    if t_years <= 0 or vol <= 0:
        intrinsic = max(0.0, spot - strike) if is_call else max(0.0, strike - spot)
        delta = (1.0 if spot > strike else 0.0) if is_call else (-1.0 if spot < strike else 0.0)
        return Greeks(intrinsic, delta, 0.0, 0.0, 0.0, 0.0)
    sq = vol * math.sqrt(t_years)
    d1 = (math.log(spot / strike) + (rate + 0.5 * vol * vol) * t_years) / sq
    d2 = d1 - sq
    disc = math.exp(-rate * t_years)
    if is_call:
        price = spot * _n(d1) - strike * disc * _n(d2)
        delta = _n(d1)
        theta = -spot * _pdf(d1) * vol / (2 * math.sqrt(t_years)) - rate * strike * disc * _n(d2)
        rho = strike * t_years * disc * _n(d2)
    else:
        price = strike * disc * _n(-d2) - spot * _n(-d1)
        delta = _n(d1) - 1.0
        theta = -spot * _pdf(d1) * vol / (2 * math.sqrt(t_years)) + rate * strike * disc * _n(-d2)
        rho = -strike * t_years * disc * _n(-d2)
    gamma = _pdf(d1) / (spot * sq)
    vega = spot * _pdf(d1) * math.sqrt(t_years)
    return Greeks(price, delta, gamma, vega / 100.0, theta / 365.0, rho / 100.0)


def smile_vol(base_vol: float, spot: float, strike: float) -> float:
    """A mild smile so IVs differ across strikes (tests look at mark_iv per strike)."""
    m = math.log(strike / spot)
    return max(0.05, base_vol * (1.0 + 0.8 * m * m - 0.1 * m))
