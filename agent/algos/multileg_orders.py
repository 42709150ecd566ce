"""A multi-leg strategy as OMS orders: one parent (the package) and one child per leg and
for the delta hedge, in the one OMS journal, so `agent orders` lists options fills with the
swaps and CEX orders.

The parent is one package (quantity 1, its price the net premium per package); each leg is
a child on ``options@<chain>`` (quantity = the leg's size in underlying units, price =
premium per unit), the hedge a child on ``uniswap-v3@<chain>``. The children's quantities
are in different instruments, so they are not allocated out of the parent's quantity: their
pre-trade checks are the multi-leg executor's own (quote checks, risk, funds) and the
signing policy the module executor applies to the batch; their OrderAccepted names them.

Outcomes, all from the one Safe transaction: mined -> every child and the parent FILLED
(the hedge at the price its Transfer logs show); refused before signing -> DENIED;
reverted (simulated or mined) -> REJECTED. Nothing partial: the batch is atomic.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from agent.execution.fills import transfers
from agent.model import OrderType, Side, TimeInForce
from agent.oms.events import (
    OrderAccepted,
    OrderDenied,
    OrderFilled,
    OrderInitialized,
    OrderRejected,
    OrderSubmitted,
)
from agent.oms.manager import OrderManager

STRATEGY = "multileg"
CHECKS = ("multileg.quotes", "multileg.risk", "multileg.funds")


def hedge_amounts(
    logs: Sequence[dict[str, Any]], safe: str, market: str, underlying: str, quote: str, side: Side
) -> tuple[int, int]:
    """(underlying, quote) base units the hedge swap moved, from the Transfer logs: the pool
    is the Safe's counterparty in the underlying other than the options market."""
    s, m = safe.lower(), market.lower()
    pools: set[str] = set()
    base = 0
    for f, t, a in transfers(logs, underlying):
        peer = f if side is Side.BUY else t
        mine = t if side is Side.BUY else f
        if mine.lower() == s and peer.lower() not in (s, m):
            pools.add(peer.lower())
            base += a
    paid = 0
    for f, t, a in transfers(logs, quote):
        peer = t if side is Side.BUY else f
        mine = f if side is Side.BUY else t
        if mine.lower() == s and peer.lower() in pools:
            paid += a
    return base, paid


class MultilegOrders:
    """Records one strategy's parent and child orders through ``manager``."""

    def __init__(self, manager: OrderManager, chain_id: int) -> None:
        self.manager = manager
        self.venue = f"options@{chain_id}"
        self.hedge_venue = f"uniswap-v3@{chain_id}"

    @staticmethod
    def new_id() -> str:
        return f"ml-{uuid.uuid4().hex[:16]}"

    def ids(self, parent_id: str, plan: Any) -> list[str]:
        kids = [f"{parent_id}-L{i}" for i in range(len(plan.legs))]
        return kids + ([f"{parent_id}-H"] if plan.hedge is not None else [])

    async def open(self, parent_id: str, plan: Any, underlying_decimals: int) -> None:
        """Parent and children, INITIALIZED -> ACCEPTED (the checks already ran)."""
        s = plan.strategy
        side = Side.SELL if plan.net_premium >= 0 else Side.BUY  # premium received: a sale
        evs: list[Any] = [
            OrderInitialized(
                parent_id,
                s.name,
                side,
                Decimal(1),
                OrderType.MARKET,
                None,
                TimeInForce.FOK,
                self.venue,
                None,
                strategy=STRATEGY,
            ),
            OrderAccepted(parent_id, CHECKS),
        ]
        for cid, f in zip(self.ids(parent_id, plan), plan.legs, strict=False):
            evs += [
                OrderInitialized(
                    cid,
                    f.leg.option.symbol,
                    f.leg.side,
                    f.leg.size,
                    OrderType.MARKET,
                    None,
                    TimeInForce.FOK,
                    self.venue,
                    parent_id,
                    strategy=STRATEGY,
                ),
                OrderAccepted(cid, CHECKS),
            ]
        if plan.hedge is not None:
            h = plan.hedge
            evs += [
                OrderInitialized(
                    f"{parent_id}-H",
                    f"{s.underlying}/{s.quote}",
                    h.side,
                    Decimal(h.amount).scaleb(-underlying_decimals),
                    OrderType.MARKET,
                    None,
                    TimeInForce.FOK,
                    self.hedge_venue,
                    parent_id,
                    strategy=STRATEGY,
                ),
                OrderAccepted(f"{parent_id}-H", CHECKS),
            ]
        await self.manager.record_async(evs)

    async def sent(self, parent_id: str, plan: Any, tx_hash: str) -> None:
        evs: list[Any] = [OrderSubmitted(parent_id, self.venue, tx_hash)]
        for cid in self.ids(parent_id, plan):
            venue = self.hedge_venue if cid.endswith("-H") else self.venue
            evs.append(OrderSubmitted(cid, venue, tx_hash))
        await self.manager.record_async(evs)

    async def filled(
        self, parent_id: str, plan: Any, tx_hash: str, logs: Sequence[dict[str, Any]], ctx: Any
    ) -> None:
        """``ctx``: (safe, market, underlying token, quote token) for the hedge's fill."""
        evs: list[Any] = []
        for cid, f in zip(self.ids(parent_id, plan), plan.legs, strict=False):
            evs.append(OrderFilled(cid, tx_hash, f.leg.size, abs(f.premium) / f.leg.size))
        if plan.hedge is not None:
            safe, market, u, q = ctx
            base, paid = hedge_amounts(logs, safe, market, u.address, q.address, plan.hedge.side)
            qty = Decimal(base).scaleb(-u.decimals)
            h = self.manager.store.orders[f"{parent_id}-H"]
            if qty > 0 and paid > 0:
                px = Decimal(paid).scaleb(-q.decimals) / qty
                evs.append(OrderFilled(h.client_order_id, tx_hash, h.quantity, px))
            else:  # the logs do not show the swap: say so rather than invent a price
                evs.append(OrderRejected(h.client_order_id, "HEDGE_NOT_SEEN", f"{tx_hash} logs"))
        evs.append(OrderFilled(parent_id, tx_hash, Decimal(1), abs(plan.net_premium)))
        await self.manager.record_async(evs)

    async def failed(
        self, parent_id: str, plan: Any, code: str, reason: str, *, denied: bool
    ) -> None:
        """Refused by a policy before signing: DENIED; a revert (simulated, so nothing was
        sent, or mined): REJECTED."""
        evs: list[Any] = []
        for cid in [parent_id, *self.ids(parent_id, plan)]:
            o = self.manager.store.get(cid)
            if o is None or o.state.terminal:
                continue
            if denied:
                evs.append(OrderDenied(cid, code, reason, "policy"))
            else:
                evs.append(OrderRejected(cid, code, reason))
        await self.manager.record_async(evs)
