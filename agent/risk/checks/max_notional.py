"""Max order notional: size x price x multiplier, options at underlying notional."""

from __future__ import annotations

from agent.model.decisions import Allow, Decision
from agent.risk.checks.types import (
    OrderProposal,
    PricePoint,
    RiskContext,
    missing,
    reduce_or_deny,
    stale,
)

RULE = "max_order_notional"
CODE = "RISK_MAX_NOTIONAL"


def notional_price(p: OrderProposal, ctx: RiskContext) -> PricePoint | None:
    """The price per instrument unit that notional is measured in: the underlying's spot for
    options (exposure, not premium), the instrument's reference price otherwise."""
    if p.is_option:
        return ctx.underlying_prices.get(p.underlying)
    return ctx.reference_prices.get(p.symbol)


def check_max_notional(p: OrderProposal, ctx: RiskContext) -> Decision:
    pt = notional_price(p, ctx)
    if pt is None:
        return missing(RULE, f"reference price for {p.symbol}")
    if ctx.stale(pt.as_of):
        return stale(RULE, f"reference price for {p.symbol}")
    # A buy limited above the reference may pay its limit: measure at the worse of the two.
    px = pt.price if p.is_option or p.price is None else max(pt.price, p.price)
    unit = px * p.multiplier
    notional = p.size * unit
    limit = ctx.limits.max_order_notional
    if notional <= limit:
        return Allow(RULE)
    return reduce_or_deny(
        CODE, RULE, limit / unit, p.size, f"order notional {notional:.2f} exceeds {limit}"
    )
