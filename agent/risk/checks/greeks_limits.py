"""Post-trade delta and vega limits per underlying (portfolio Greeks + order x unit Greeks).
A trade that moves a breached Greek towards zero is always allowed."""

from __future__ import annotations

from agent.model.decisions import Allow, Decision, Deny
from agent.risk.checks.types import OrderProposal, RiskContext, lookup, missing, stale

RULE = "greeks_limits"
CODE = "RISK_GREEKS_LIMIT"


def check_greeks(p: OrderProposal, ctx: RiskContext) -> Decision:
    dl = lookup(ctx.limits.max_abs_delta, p.underlying)
    vl = lookup(ctx.limits.max_abs_vega, p.underlying)
    if dl is None and vl is None:
        return Allow(RULE, "no Greek limits for this underlying")
    if ctx.stale(ctx.greeks_as_of):
        return stale(RULE, "portfolio Greeks")
    unit = ctx.unit_greeks.get(p.symbol)
    if unit is None:
        return missing(RULE, f"unit Greeks for {p.symbol}")
    cur = ctx.portfolio_greeks.get(p.underlying)
    if cur is None:  # build_context gives zeros for an underlying the book does not hold
        return missing(RULE, f"portfolio Greeks for {p.underlying}")
    cur_d, cur_v = cur.delta, cur.vega
    q = float(p.signed_size)
    post_d = cur_d + q * unit.delta
    post_v = cur_v + q * unit.vega
    if post_d != post_d or post_v != post_v:  # NaN: a Greek that could not be computed
        return missing(RULE, f"finite Greeks for {p.symbol}")
    if dl is not None and abs(post_d) > float(dl) and abs(post_d) > abs(cur_d):
        return Deny(CODE, f"{p.underlying} delta would be {post_d:.4f}, limit +-{dl}", RULE)
    if vl is not None and abs(post_v) > float(vl) and abs(post_v) > abs(cur_v):
        return Deny(CODE, f"{p.underlying} vega would be {post_v:.2f}, limit +-{vl}", RULE)
    return Allow(RULE)
