"""Vectorized Black-Scholes (spot, with carry) and Black-76 (forward) prices, Greeks and
implied volatility. See :mod:`agent.risk.pricing.black` and :mod:`agent.risk.pricing.iv`."""

from agent.risk.pricing.black import (
    Greeks,
    black76_greeks,
    black76_price,
    black_scholes_greeks,
    black_scholes_price,
    omega,
)
from agent.risk.pricing.iv import IVResult, IVStatus, implied_vol

__all__ = [
    "Greeks",
    "IVResult",
    "IVStatus",
    "black76_greeks",
    "black76_price",
    "black_scholes_greeks",
    "black_scholes_price",
    "implied_vol",
    "omega",
]
