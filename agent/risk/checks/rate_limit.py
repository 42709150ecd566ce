"""Order-rate limit: at most ``max_orders`` submissions in any ``rate_window``."""

from __future__ import annotations

from agent.model.decisions import Allow, Decision, Deny
from agent.risk.checks.types import OrderProposal, RiskContext

RULE = "order_rate"
CODE = "RISK_ORDER_RATE"


def check_order_rate(p: OrderProposal, ctx: RiskContext) -> Decision:
    since = ctx.now - ctx.limits.rate_window
    # recent_orders is appended in time order: count from the end, stop at the window edge.
    n = 0
    for t in reversed(ctx.recent_orders):
        if t <= since:
            break
        n += 1
    if n < ctx.limits.max_orders:
        return Allow(RULE)
    return Deny(
        CODE,
        f"{n} orders in the last {ctx.limits.rate_window.total_seconds():g}s, "
        f"limit {ctx.limits.max_orders}; wait before sending more",
        RULE,
    )
