"""Risk and margin engine: pricing and Greeks, implied vol, portfolio aggregation, scenarios,
VaR/ES, portfolio margin and liquidation, pre-trade checks and the gate, monitoring, hedging.

Floats and numpy live only here (inside the math); amounts that are signed or sent stay
Decimal/int elsewhere. See docs/risk.md for the margin model.
"""
