"""Per-venue exposure: gross notional held at one venue (counterparty risk for a CEX,
contract risk on-chain) after the trade."""

from __future__ import annotations

from agent.model.decisions import Allow, Decision
from agent.risk.checks.max_notional import notional_price
from agent.risk.checks.types import (
    ZERO,
    OrderProposal,
    RiskContext,
    lookup,
    missing,
    reduce_or_deny,
    stale,
)

RULE = "venue_exposure"
CODE = "RISK_VENUE_EXPOSURE"


def check_venue_exposure(p: OrderProposal, ctx: RiskContext) -> Decision:
    lim = lookup(ctx.limits.max_venue_exposure, p.venue)
    if lim is None:
        return Allow(RULE, "no limit for this venue")
    if ctx.stale(ctx.positions_as_of):
        return stale(RULE, "position snapshot")
    pt = notional_price(p, ctx)
    if pt is None:
        return missing(RULE, f"reference price for {p.symbol}")
    if ctx.stale(pt.as_of):
        return stale(RULE, f"reference price for {p.symbol}")
    unit = pt.price * p.multiplier
    cur = ctx.venue_exposure.get(p.venue, ZERO)
    post = cur + p.size * unit  # conservative: a closing trade is not netted per venue
    if post <= lim:
        return Allow(RULE)
    return reduce_or_deny(
        CODE,
        RULE,
        (lim - cur) / unit,
        p.size,
        f"{p.venue} exposure would be {post:.2f}, limit {lim}",
    )
