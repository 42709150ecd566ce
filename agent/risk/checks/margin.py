"""Margin sufficiency after the trade: initial margin of the post-trade portfolio must fit in
equity. The post-trade scan loss is recomputed exactly on the margin grid: the grid PnL of
the portfolio plus the order size times the instrument's per-unit grid PnL (both full
revaluations, precomputed in the context), so this is the same model as
:mod:`agent.risk.margin.model`, not an approximation. A trade that lowers the requirement
is allowed even when the account is short of margin (it is how one gets out)."""

from __future__ import annotations

from agent.model.decisions import Allow, Decision, Deny
from agent.risk.checks.types import OrderProposal, RiskContext, missing, stale

RULE = "margin"
CODE = "RISK_MARGIN"


def check_margin(p: OrderProposal, ctx: RiskContext) -> Decision:
    m = ctx.margin
    if m is None:
        return missing(RULE, "margin state")
    if ctx.stale(m.as_of):
        return stale(RULE, "margin state")
    unit = ctx.unit_grid_pnl.get(p.symbol)
    if unit is None:
        return missing(RULE, f"margin grid for {p.symbol}")
    spot = ctx.underlying_prices.get(p.underlying)
    if spot is None:
        return missing(RULE, f"spot for {p.underlying}")
    if ctx.stale(spot.as_of):
        return stale(RULE, f"spot for {p.underlying}")
    u = p.underlying
    grid = m.grid_pnl.get(u)
    if grid is None:  # build_context gives zeros for an underlying the book does not hold
        return missing(RULE, f"margin grid of the book on {u}")
    q = float(p.signed_size)
    post = grid + q * unit
    worst = float(post.min())
    if worst != worst:  # NaN (min propagates it): a grid cell that could not be valued
        return missing(RULE, f"finite margin grid for {p.symbol}")
    scan = max(0.0, -worst)
    shorts = m.short_option_units.get(u, 0.0)
    if p.is_option:
        # Short option units after the trade (a sale adds, a buy covers existing shorts).
        shorts = max(0.0, shorts - q * float(p.multiplier))
    contingency = m.contingency_rate * float(spot.price) * shorts
    mm_post = m.maintenance - m.maintenance_by_underlying.get(u, 0.0) + scan + contingency
    im_post = mm_post * m.im_multiplier
    if im_post <= m.equity or im_post <= m.initial:
        return Allow(RULE)
    return Deny(
        CODE,
        f"initial margin after the trade {im_post:.2f} exceeds equity {m.equity:.2f}; "
        "add collateral or reduce the order",
        RULE,
    )
