"""Fat-finger band: a limit price must lie within ``price_band_bps`` of the reference price."""

from __future__ import annotations

from agent.model.decisions import Allow, Decision, Deny
from agent.model.enums import Side
from agent.risk.checks.types import OrderProposal, RiskContext, bps_of, missing, stale

RULE = "price_band"
CODE = "RISK_PRICE_BAND"


def check_price_band(p: OrderProposal, ctx: RiskContext) -> Decision:
    px = p.price if p.price is not None else p.quote_price
    if px is None:
        return missing(RULE, f"order price for {p.symbol} (give a limit or a quote)")
    ref = ctx.reference_prices.get(p.symbol)
    if ref is None:
        return missing(RULE, f"reference price for {p.symbol}")
    if ctx.stale(ref.as_of):
        return stale(RULE, f"reference price for {p.symbol}")
    # Only the side that hurts: buying far above, or selling far below, the reference.
    off = (px - ref.price) if p.side is Side.BUY else (ref.price - px)
    bps = bps_of(off, ref.price)
    if bps <= ctx.limits.price_band_bps:
        return Allow(RULE)
    return Deny(
        CODE,
        f"{p.side} at {px} is {bps:.0f} bps through the reference {ref.price} "
        f"(band {ctx.limits.price_band_bps} bps); check for a fat-fingered price",
        RULE,
    )
