"""Trading state (the desk's kill switch): ACTIVE allows; HALTED denies every new order
(cancels never pass through the gate, so they always go out); REDUCING allows only orders
that reduce risk: shrink the position in the instrument without flipping it, or move the
underlying's delta towards zero without overshooting."""

from __future__ import annotations

from agent.model.decisions import Allow, Decision, Deny
from agent.model.enums import TradingState
from agent.risk.checks.types import ZERO, OrderProposal, RiskContext, stale

RULE = "trading_state"


def check_trading_state(p: OrderProposal, ctx: RiskContext) -> Decision:
    st = ctx.trading_state
    if st is TradingState.ACTIVE:
        return Allow(RULE)
    if st is TradingState.HALTED:
        return Deny("RISK_TRADING_HALTED", "trading is halted; only cancels are accepted", RULE)
    if st is not TradingState.REDUCING:
        return Deny("RISK_TRADING_STATE", f"unknown trading state {st!r}", RULE)
    if ctx.stale(ctx.positions_as_of):
        return stale(RULE, "position snapshot")
    cur = ctx.positions.get(p.symbol, ZERO)
    if cur * p.signed_size < 0 and p.size <= abs(cur):
        return Allow(RULE, "reduces the position")
    unit = ctx.unit_greeks.get(p.symbol)
    g = ctx.portfolio_greeks.get(p.underlying)
    if unit is not None and g is not None and not ctx.stale(ctx.greeks_as_of):
        post = g.delta + float(p.signed_size) * unit.delta
        if abs(post) < abs(g.delta) and post * g.delta >= 0:
            return Allow(RULE, "reduces delta")
    return Deny(
        "RISK_TRADING_REDUCING",
        "trading state is REDUCING: only orders that reduce a position or delta are allowed",
        RULE,
    )
