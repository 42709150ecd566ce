"""Pre-trade checks, one per file. Each is a pure function ``(OrderProposal, RiskContext)
-> Allow | Deny | Reduce``; :data:`DEFAULT_CHECKS` is the order the gate runs them in
(cheap and categorical first, so a halted desk is refused before any arithmetic)."""

from agent.risk.checks.concentration import check_concentration
from agent.risk.checks.greeks_limits import check_greeks
from agent.risk.checks.margin import check_margin
from agent.risk.checks.max_notional import check_max_notional
from agent.risk.checks.max_position import check_max_position
from agent.risk.checks.price_band import check_price_band
from agent.risk.checks.rate_limit import check_order_rate
from agent.risk.checks.slippage import check_slippage
from agent.risk.checks.trading_state import check_trading_state
from agent.risk.checks.types import (
    GreeksPoint,
    MarginState,
    OrderProposal,
    PricePoint,
    RiskContext,
    RiskLimits,
)
from agent.risk.checks.venue_exposure import check_venue_exposure

DEFAULT_CHECKS = (
    ("trading_state", check_trading_state),
    ("order_rate", check_order_rate),
    ("max_order_notional", check_max_notional),
    ("price_band", check_price_band),
    ("max_slippage", check_slippage),
    ("max_position", check_max_position),
    ("venue_exposure", check_venue_exposure),
    ("concentration", check_concentration),
    ("greeks_limits", check_greeks),
    ("margin", check_margin),
)

__all__ = [
    "DEFAULT_CHECKS",
    "GreeksPoint",
    "MarginState",
    "OrderProposal",
    "PricePoint",
    "RiskContext",
    "RiskLimits",
    "check_concentration",
    "check_greeks",
    "check_margin",
    "check_max_notional",
    "check_max_position",
    "check_order_rate",
    "check_price_band",
    "check_slippage",
    "check_trading_state",
    "check_venue_exposure",
]
