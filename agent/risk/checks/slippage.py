"""Max slippage: the worst acceptable price may not be worse than the quote by more than
``max_slippage_bps`` (the quote is the executable price incl. fees and impact)."""

from __future__ import annotations

from agent.model.decisions import Allow, Decision, Deny
from agent.model.enums import Side
from agent.risk.checks.types import OrderProposal, RiskContext, bps_of, missing, stale

RULE = "max_slippage"
CODE = "RISK_SLIPPAGE"


def check_slippage(p: OrderProposal, ctx: RiskContext) -> Decision:
    if p.price is None:
        return missing(RULE, f"worst acceptable price for {p.symbol} (a market order needs one)")
    q = p.quote_price
    if q is None:  # a resting limit order without a quote is measured against the reference
        ref = ctx.reference_prices.get(p.symbol)
        if ref is None:
            return missing(RULE, f"quote or reference price for {p.symbol}")
        if ctx.stale(ref.as_of):
            return stale(RULE, f"reference price for {p.symbol}")
        q = ref.price
    off = (p.price - q) if p.side is Side.BUY else (q - p.price)
    bps = bps_of(off, q)
    if bps <= ctx.limits.max_slippage_bps:
        return Allow(RULE)
    return Deny(
        CODE,
        f"worst price {p.price} allows {bps:.0f} bps slippage from {q}, "
        f"limit {ctx.limits.max_slippage_bps} bps; tighten the limit price",
        RULE,
    )
