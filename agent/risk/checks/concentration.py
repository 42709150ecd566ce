"""Concentration: gross notional in one underlying after the trade, as a multiple of equity."""

from __future__ import annotations

from agent.model.decisions import Allow, Decision, Deny
from agent.risk.checks.max_notional import notional_price
from agent.risk.checks.types import ZERO, OrderProposal, RiskContext, missing, reduce_or_deny, stale

RULE = "concentration"
CODE = "RISK_CONCENTRATION"


def check_concentration(p: OrderProposal, ctx: RiskContext) -> Decision:
    if ctx.margin is None:
        return missing(RULE, "equity (margin state)")
    if ctx.stale(ctx.margin.as_of) or ctx.stale(ctx.positions_as_of):
        return stale(RULE, "equity/position snapshot")
    pt = ctx.underlying_prices.get(p.underlying)
    if pt is None:
        return missing(RULE, f"spot for {p.underlying}")
    if ctx.stale(pt.as_of):
        return stale(RULE, f"spot for {p.underlying}")
    if notional_price(p, ctx) is None:
        return missing(RULE, f"reference price for {p.symbol}")
    equity = ctx.margin.equity_dec
    if equity <= 0:
        return Deny(CODE, f"equity is {equity:.2f}; no new exposure", RULE)
    unit = pt.price * p.multiplier
    cur = ctx.underlying_gross_notional.get(p.underlying, ZERO)
    post = cur + p.size * unit
    lim = ctx.limits.max_concentration * equity
    if post <= lim or post <= cur:
        return Allow(RULE)
    return reduce_or_deny(
        CODE,
        RULE,
        (lim - cur) / unit,
        p.size,
        f"{p.underlying} gross notional would be {post / equity:.2f}x equity, "
        f"limit {ctx.limits.max_concentration}x",
    )
