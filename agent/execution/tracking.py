"""Bring swap orders in line with the chain: on start (recovery) and on every tracking pass.

The tx engine owns the transaction stream: it replays it, re-broadcasts journaled bytes,
and journals TxMined/TxConfirmed/TxReorged/TxDropped. This module only derives the ORDER
events from those facts (agent.oms.reconcile's rules: an order whose fate is unknown stays
UNKNOWN; a mined swap gives its fill from the receipt's Transfer logs, under the same trade
id the live pipeline uses, so it is never applied twice), and journals them through the OMS.
Tx-level differences are left to the engine, which is the only writer of its stream.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from agent.deploy.manifest import Manifest
from agent.execution.fills import fill_event, safe_legs
from agent.model import Side
from agent.oms.chain_facts import RpcChainFacts
from agent.oms.events import OrderExpired
from agent.oms.manager import OrderManager
from agent.oms.order import Order, OrderState
from agent.oms.reconcile import Receipt, diff_chain
from agent.oms.recovery import gather_chain_facts
from agent.oms.store import _ORDER_EVENTS
from agent.oms.tx import TxRecord
from agent.wallet.executor import ModuleExecutor


@dataclass(frozen=True, slots=True)
class TrackReport:
    tx_events: int  # journaled by the engine this pass
    order_events: list[Any]  # journaled through the OMS


def swap_fill_decoder(manifest: Manifest, safe: str, raw: dict[str, dict[str, Any]]) -> Any:
    """A ``FillFromReceipt`` for swap orders: reads the logs of ``raw[tx_hash]``."""

    def fills(o: Order, r: TxRecord, rc: Receipt) -> Sequence[Any]:
        receipt = raw.get(r.tx_hash)
        if receipt is None or not rc.success:
            return ()
        base_sym, quote_sym = o.instrument.split("/")
        b, q = manifest.token(base_sym), manifest.token(quote_sym)
        tin, tout = (q, b) if o.side is Side.BUY else (b, q)
        paid, got = safe_legs(receipt.get("logs") or (), safe, tin.address, tout.address)
        ev = fill_event(o, r.tx_hash, paid, got, tin.decimals, tout.decimals)
        return () if ev is None else (ev,)

    return fills


def unsent_expiries(manager: OrderManager, venues: Collection[str]) -> list[OrderExpired]:
    """Start-up only: an ACCEPTED swap on one of ``venues`` (this daemon's own) with no
    journaled transaction was never signed before the restart, so nothing of it can be on
    chain; it expires instead of waiting forever (its quote is gone). Orders on other
    venues are another daemon's on a shared journal (docs/scale-out.md): one accepted there
    may be about to be signed by its owner this very moment, and is left to it."""
    store = manager.store
    return [
        OrderExpired(
            o.client_order_id,
            "accepted but never signed before a restart: nothing was sent; "
            "submit again with a new client id",
        )
        for o in store.orders.values()
        if o.state is OrderState.ACCEPTED
        and o.strategy == "swap"
        and o.venue in venues
        and not store.txs_by_order.get(o.client_order_id)
    ]


def own_venues(manifest: Manifest) -> frozenset[str]:
    """The venue ids a swap app on ``manifest``'s chain routes to (``<kind>@<chain name>``,
    as agent.venues.uniswap_v2/v3 name them)."""
    return frozenset(f"{kind}@{manifest.name}" for kind in ("uniswap_v2", "uniswap_v3"))


async def track(
    manager: OrderManager,
    executor: ModuleExecutor,
    manifest: Manifest,
    safe: str,
    *,
    expire_unsent: bool = False,
    poll: bool = True,
    venues: Collection[str] | None = None,
) -> TrackReport:
    """One pass: the engine polls the chain (receipts, confirmations, reorgs, re-broadcasts),
    then order events follow from what the chain says. ``expire_unsent`` (start-up only):
    see :func:`unsent_expiries`, over ``venues`` (default: this chain's AMM venues)."""
    eng = executor.engine
    tx_events = await eng.poll() if poll else []
    await eng.flush()
    await manager.sync_async()
    source = RpcChainFacts(executor.rpc, executor.chain_id)
    facts = await gather_chain_facts(manager.store, source)
    diff = diff_chain(manager.store, facts, swap_fill_decoder(manifest, safe, source.raw))
    events = [e for e in diff.events if type(e) in _ORDER_EVENTS]
    if expire_unsent:
        events.extend(unsent_expiries(manager, own_venues(manifest) if venues is None else venues))
    if events:
        await manager.record_async(events)
    return TrackReport(len(tx_events), events)
