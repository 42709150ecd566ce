"""Max position per instrument (|size| after the trade) and per underlying (gross units)."""

from __future__ import annotations

from agent.model.decisions import Allow, Decision
from agent.risk.checks.types import ZERO, OrderProposal, RiskContext, lookup, reduce_or_deny, stale

RULE = "max_position"
CODE = "RISK_MAX_POSITION"


def check_max_position(p: OrderProposal, ctx: RiskContext) -> Decision:
    if ctx.stale(ctx.positions_as_of):
        return stale(RULE, "position snapshot")
    cur = ctx.positions.get(p.symbol, ZERO)
    post = cur + p.signed_size
    headroom = None
    lim = lookup(ctx.limits.max_position, p.symbol)
    if lim is not None and abs(post) > lim and abs(post) > abs(cur):
        # Largest size in the order's direction that keeps |position| <= lim.
        headroom = lim - cur if p.signed_size > 0 else lim + cur
        reason = f"{p.symbol} position would be {post}, limit {lim}"
    ulim = lookup(ctx.limits.max_underlying_position, p.underlying)
    if ulim is not None:
        gross = ctx.underlying_gross.get(p.underlying, ZERO)
        # Gross units grow by the trade unless it shrinks an existing position.
        shrink = min(p.size, abs(cur)) if cur * p.signed_size < 0 else ZERO
        post_gross = gross + (p.size - 2 * shrink) * p.multiplier
        if post_gross > ulim and post_gross > gross:
            room = (ulim - gross) / p.multiplier + 2 * shrink
            if headroom is None or room < headroom:
                headroom = room
                reason = f"{p.underlying} gross position would be {post_gross}, limit {ulim}"
    if headroom is None:
        return Allow(RULE)
    return reduce_or_deny(CODE, RULE, min(headroom, p.size), p.size, reason)
