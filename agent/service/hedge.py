"""The delta hedger as a daemon loop: the whole fund's Greeks (agent.service.risk) through
agent.risk.hedger, each proposal journaled (``HedgeProposed``, stream ``hedger``) and streamed
as an alert; executed only when ``[hedger] execute = true``, then as a swap through the
chain's pipeline: the trading state, the risk gate and the policy judge it like any order."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agent.journal.codec import event_type

STREAM = "hedger"


@event_type
@dataclass(frozen=True, slots=True)
class HedgeProposed:
    client_order_id: str
    underlying: str
    side: str
    size: Decimal
    delta: Decimal  # the fund's delta it was proposed from (risk math: a float, as repr)
    target: Decimal
    execute: bool  # whether the daemon sends it (the order's own events follow if so)


def hedger_of(config: Any) -> Any:
    """agent.risk.hedger.DeltaHedger over the ``[hedger.routes]`` (spot pairs on a chain)."""
    from agent.model.instruments import Spot
    from agent.risk.hedger import DeltaHedger, HedgeConfig, HedgeRoute

    h = config.hedger
    routes = {
        u: HedgeRoute(Spot(u, r.quote), r.chain or next(iter(config.wallets)), r.lot,
                      r.max_size, r.max_slippage_bps)
        for u, r in h.routes.items()
    }  # fmt: skip
    return DeltaHedger(
        HedgeConfig(
            routes,
            band={u: r.band for u, r in h.routes.items()},
            target={u: r.target for u, r in h.routes.items()},
        )
    )


async def fund_greeks(chains: dict[str, Any], vols: dict[str, float], cex: dict[str, Any]) -> Any:
    import asyncio

    from agent.risk.portfolio import Book, aggregate_greeks
    from agent.service.risk import fund_portfolio

    pf, _ = await fund_portfolio(chains, vols, cex)
    if not pf.market.underlyings:
        return []
    return await asyncio.to_thread(lambda: aggregate_greeks(Book.build(pf.portfolio, pf.market)))
