"""Multi-leg option strategies: domain types (straddle, strangle, vertical, iron condor,
generic N-leg), their net Greeks and exact max loss, computed before anything is signed."""

from agent.strategies.analytics import (
    LegRisk,
    NetGreeks,
    StrategyRisk,
    max_loss,
    payoff_at,
    strategy_risk,
)
from agent.strategies.legs import (
    Leg,
    Strategy,
    StrategyKind,
    iron_condor,
    straddle,
    strangle,
    vertical_spread,
)
from agent.strategies.pricing import MarketView, VolSurface, option_greeks, year_fraction

__all__ = [
    "Leg",
    "LegRisk",
    "MarketView",
    "NetGreeks",
    "Strategy",
    "StrategyKind",
    "StrategyRisk",
    "VolSurface",
    "iron_condor",
    "max_loss",
    "option_greeks",
    "payoff_at",
    "straddle",
    "strangle",
    "strategy_risk",
    "vertical_spread",
    "year_fraction",
]
