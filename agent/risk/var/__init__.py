"""Value at Risk and Expected Shortfall: historical, parametric delta-gamma, Monte Carlo with
full revaluation; and a backtest (Kupiec POF, Basel traffic light)."""

from agent.risk.var.backtest import (
    BacktestResult,
    TrafficLight,
    backtest_var,
    basel_traffic_light,
    jump_diffusion_prices,
    kupiec_pof,
)
from agent.risk.var.common import VaRResult
from agent.risk.var.historical import historical_var
from agent.risk.var.montecarlo import monte_carlo_var
from agent.risk.var.parametric import delta_gamma_var

__all__ = [
    "BacktestResult",
    "TrafficLight",
    "VaRResult",
    "backtest_var",
    "basel_traffic_light",
    "delta_gamma_var",
    "historical_var",
    "jump_diffusion_prices",
    "kupiec_pof",
    "monte_carlo_var",
]
