"""Unified portfolio margin across CEX and on-chain positions, and liquidation prices.
The model is written up, with a worked example, in docs/risk.md."""

from agent.risk.margin.liquidation import LiquidationLevel, liquidation_prices
from agent.risk.margin.model import MarginParams, MarginReport, UnderlyingMargin, compute_margin

__all__ = [
    "LiquidationLevel",
    "MarginParams",
    "MarginReport",
    "UnderlyingMargin",
    "compute_margin",
    "liquidation_prices",
]
