"""Start-up recovery: rebuild from the journal, then reconcile with every chain and venue.

The tx engine implements :class:`ChainFactsSource` over its RPC client; venue adapters
implement :class:`agent.venues.base.VenueReports`. Both are only read here; everything that
differs is journaled as events through the :class:`OrderManager`, so a second restart
replays to the same state without asking again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from agent.journal.base import Store
from agent.model.decisions import Check
from agent.oms.commands import SubmitOrder
from agent.oms.events import VenueReconciled
from agent.oms.manager import OrderManager
from agent.oms.reconcile import (
    ChainDiff,
    ChainFacts,
    FillFromReceipt,
    Receipt,
    VenueDiff,
    diff_chain,
    diff_venue,
)
from agent.oms.store import OrderStore
from agent.oms.tx import TxState
from agent.venues.base import OrderStatusReport, VenueOrderRef, VenueReports


@runtime_checkable
class ChainFactsSource(Protocol):
    """What reconciliation asks a chain (the tx engine's RPC client implements it)."""

    chain_id: int

    async def nonce(self, sender: str) -> int:
        """eth_getTransactionCount(sender, "latest")."""
        ...

    async def receipt(self, tx_hash: str) -> Receipt | None: ...

    async def is_pending(self, tx_hash: str) -> bool:
        """True if the node's mempool holds the transaction (eth_getTransactionByHash with a
        null blockNumber)."""
        ...


async def gather_chain_facts(store: OrderStore, source: ChainFactsSource) -> ChainFacts:
    """Ask about every transaction of this chain that is not settled beyond doubt."""
    cid = source.chain_id

    def open_order(r: Any) -> bool:
        o = store.get(r.client_order_id) if r.client_order_id is not None else None
        return o is not None and not o.state.terminal

    # confirmed txs are settled, unless their order still waits for the fill they carry
    recs = [
        r
        for r in store.txs.values()
        if r.chain_id == cid and (r.state is not TxState.CONFIRMED or open_order(r))
    ]
    senders = sorted({r.sender for r in recs})
    nonces = {s: await source.nonce(s) for s in senders}
    receipts: dict[str, Receipt | None] = {}
    pending: set[str] = set()
    for r in recs:
        rc = await source.receipt(r.tx_hash)
        receipts[r.tx_hash] = rc
        if rc is None and r.state.pending and await source.is_pending(r.tx_hash):
            pending.add(r.tx_hash)
    return ChainFacts(cid, nonces, receipts, frozenset(pending))


async def reconcile_chain(
    manager: OrderManager,
    source: ChainFactsSource,
    fill_from_receipt: FillFromReceipt | None = None,
) -> ChainDiff:
    facts = await gather_chain_facts(manager.store, source)
    diff = diff_chain(manager.store, facts, fill_from_receipt)
    if diff.events:
        await manager.record_async(diff.events)
    return diff


async def reconcile_venue(
    manager: OrderManager,
    venue: str,
    reports: VenueReports,
    decimals: Mapping[str, int],
) -> VenueDiff:
    store = manager.store
    open_reports = list(await reports.open_orders())
    seen = {r.ref.client_order_id for r in open_reports}
    statuses: dict[str, OrderStatusReport | None] = {}
    for o in store.open_orders(venue):
        if o.client_order_id not in seen:
            ref = VenueOrderRef(venue, o.client_order_id, o.venue_order_id)
            statuses[o.client_order_id] = await reports.order_status(ref)
    fr = await reports.fills_since(store.venue_cursors.get(venue))
    diff = diff_venue(store, venue, open_reports, statuses, fr.fills, decimals)
    await manager.record_async([*diff.events, VenueReconciled(venue, fr.cursor, len(diff.events))])
    return diff


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    replayed: int
    state_hash_after_replay: str
    chains: dict[int, ChainDiff] = field(default_factory=dict)
    venues: dict[str, VenueDiff] = field(default_factory=dict)

    @property
    def events(self) -> int:
        return sum(len(d.events) for d in self.chains.values()) + sum(
            len(d.events) for d in self.venues.values()
        )


async def recover(
    journal: Store,
    chains: Sequence[ChainFactsSource] = (),
    venues: Mapping[str, VenueReports] = {},
    *,
    decimals: Mapping[str, int] = {},
    checks: Sequence[Check[SubmitOrder, OrderStore]] = (),
    fill_from_receipt: FillFromReceipt | None = None,
) -> tuple[OrderManager, RecoveryReport]:
    """Replay the journal, then reconcile each chain and venue; returns the live manager
    and what changed. Transactions in ``report.chains[id].rebroadcast`` must be re-sent
    as the SAME raw bytes (``TxRecord.raw_tx``): same hash, so never executed twice."""
    manager = OrderManager.open(journal, checks)
    replayed = manager.store.events_applied
    h = manager.store.state_hash()
    chain_diffs = {c.chain_id: await reconcile_chain(manager, c, fill_from_receipt) for c in chains}
    venue_diffs: dict[str, VenueDiff] = {}
    for name, rep in venues.items():
        venue_diffs[name] = await reconcile_venue(manager, name, rep, decimals)
    return manager, RecoveryReport(replayed, h, chain_diffs, venue_diffs)


__all__ = [
    "ChainFactsSource",
    "RecoveryReport",
    "gather_chain_facts",
    "reconcile_chain",
    "reconcile_venue",
    "recover",
]
