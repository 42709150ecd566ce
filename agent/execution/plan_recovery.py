"""After a restart (or a receipt that did not come in time): settle routed children from the
chain, never by guessing.

A plan's batch on one chain is tagged ``<parent>@<chain id>#<attempt>`` in the TxEngine's
journal (write-ahead TxSigned); the plans are on the parent's stream (RoutePlanned). For every
open routed parent, each of its plans and each chain: the engine's records of that batch say
what happened. Mined -> each open child's fill from the receipt's Transfer logs between the Safe
and that child's pool (the pool the executor checked before signing), under the same trade ids
as the live path, so nothing is applied twice; reverted -> the children are rejected; never
signed -> nothing can be on chain, the children expire; still pending -> they stay open. A
parent whose children are all settled gets its end (FILLED by its children's fills, else
CANCELLED with the remainder).
"""

from __future__ import annotations

from typing import Any

from agent.execution.legs import pool_fill, resolve_pair
from agent.execution.plan import PlanExecutor
from agent.oms.events import OrderExpired, OrderRejected, OrderSubmitted, OrderUnknown
from agent.oms.order import OrderState
from agent.oms.tx import TxState
from agent.routing.plan import LegKind, PlannedChild, RoutePlan

_MINED = (TxState.MINED, TxState.CONFIRMED)


def batch_id(parent_id: str, chain_id: int, attempt: int) -> str:
    return f"{parent_id}@{chain_id}#{attempt}"


async def recover_plans(ex: PlanExecutor, only: Any = None) -> list[str]:
    """Settle what the chain says about every open routed parent (``only``: a predicate on the
    parent Order, e.g. one pair's, whose decimals ``ex`` has); returns the parents touched."""
    m = ex.manager
    for w in ex.chains.values():
        await w.executor.start()  # replays the tx stream, re-broadcasts, reads receipts
        await w.executor.engine.poll()
        await w.executor.engine.flush()
    m.sync()
    touched = []
    for parent_id, plans in list(m.store.plans.items()):
        parent = m.store.get(parent_id)
        if parent is None or parent.state.terminal or (only is not None and not only(parent)):
            continue
        for attempt, plan in enumerate(plans):
            for chain_id, kids in _on_chain(plan).items():
                if await _settle(ex, plan, chain_id, attempt, kids):
                    touched.append(parent_id)
        if parent_id in touched:
            left = ex._remaining(parent_id)
            if left > 0:
                await ex._finish(parent_id, "ROUTE_UNFILLED", f"{ex._qty(left)} unfilled")
    return sorted(set(touched))


def _on_chain(plan: RoutePlan) -> dict[int, list[PlannedChild]]:
    out: dict[int, list[PlannedChild]] = {}
    for c in plan.children:
        if c.kind is not LegKind.CEX and c.chain_id is not None:
            out.setdefault(c.chain_id, []).append(c)
    return out


async def _settle(
    ex: PlanExecutor, plan: RoutePlan, chain_id: int, attempt: int, kids: list[PlannedChild]
) -> bool:
    m = ex.manager
    open_kids = [
        c
        for c in kids
        if (o := m.store.get(c.client_order_id)) is not None and not o.state.terminal
    ]
    w = ex.chains.get(chain_id)
    if not open_kids or w is None:
        return False
    bid = batch_id(plan.parent_id, chain_id, attempt)
    recs = [r for r in w.executor.engine.records.values() if r.client_order_id == bid]
    mined = [r for r in recs if r.state in _MINED]
    events: list[Any] = []
    if not recs:
        for c in open_kids:
            if m.store.orders[c.client_order_id].state is OrderState.ACCEPTED:
                events.append(OrderExpired(c.client_order_id, "never signed: nothing was sent"))
    elif mined and mined[0].success:
        r = mined[0]
        receipt = await w.rpc.get_transaction_receipt(r.tx_hash)
        if receipt is None:  # reorged out between the poll and this read: next pass
            return False
        logs = receipt.get("logs") or ()
        pairs = [(w.symbol(plan.base), w.symbol(plan.quote)), (plan.base, plan.quote)]
        for c in open_kids:
            o = m.store.orders[c.client_order_id]
            if o.state in (OrderState.ACCEPTED, OrderState.UNKNOWN):
                await m.record_async([OrderSubmitted(c.client_order_id, c.venue_id, r.tx_hash)])
            ref = dict(c.venue_ref or {})
            pool = str(ref.get("pool") or c.venue_id.partition(":")[2])
            b, q = resolve_pair(w.manifest, c, ref, pairs)
            base, quote = pool_fill(logs, c.side, pool, b, q, w.safe)
            await ex._fill(plan, c, r.tx_hash, base, quote)
        return True
    elif mined:
        h = mined[0].tx_hash
        events += [OrderRejected(c.client_order_id, "TX_REVERTED", f"batch {h} reverted")
                   for c in open_kids]  # fmt: skip
    elif all(r.state is TxState.DROPPED for r in recs):
        events += [
            OrderUnknown(c.client_order_id, "the batch was dropped and its nonce used elsewhere")
            for c in open_kids
            if m.store.orders[c.client_order_id].state is not OrderState.UNKNOWN
        ]
    if events:
        await m.record_async(events)
    return bool(events)
