"""Reconciliation: compare what the journal says with what the chain and venues say, and
turn every difference into events. Pure functions over plain data (``ChainFacts``, venue
reports); gathering that data is in :mod:`agent.oms.recovery`.

Rules that never bend: an order or transaction whose fate is not known stays UNKNOWN (or
pending) until the chain or the venue says otherwise; nothing is marked failed on a guess;
a fill already applied is never applied again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from agent.errors import VenuePayloadError
from agent.model import Fill, Side, from_base_units
from agent.oms import order as om
from agent.oms.events import (
    OrderAcknowledged,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    OrderSubmitted,
    OrderUnknown,
    TxDropped,
    TxMined,
    TxReorged,
    TxSent,
)
from agent.oms.order import Order, OrderState
from agent.oms.store import OrderStore
from agent.oms.tx import TxRecord, TxState
from agent.venues.base import OrderStatusReport, VenueOrderState


# --- chain ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Receipt:
    tx_hash: str
    block_number: int
    block_hash: str
    success: bool
    gas_used: int = 0
    effective_gas_price: int = 0


@dataclass(frozen=True, slots=True)
class ChainFacts:
    """What one chain says right now. ``receipts`` maps every hash asked about to its receipt
    or None (no receipt); a hash missing from it means "not asked", and is left alone."""

    chain_id: int
    nonces: Mapping[str, int]  # sender (lowercase) -> eth_getTransactionCount(latest)
    receipts: Mapping[str, Receipt | None]
    pending: frozenset[str] = frozenset()  # hashes the node holds in its mempool


@dataclass(frozen=True, slots=True)
class ChainDiff:
    events: list[Any]
    rebroadcast: list[TxRecord]  # journaled, unmined, unknown to the node, nonce still free
    next_nonce: dict[str, int]  # sender -> the next nonce to use


FillFromReceipt = Callable[[Order, TxRecord, Receipt], Sequence[Any]]


def diff_chain(
    store: OrderStore, facts: ChainFacts, fill_from_receipt: FillFromReceipt | None = None
) -> ChainDiff:
    """Events that bring the journal in line with ``facts``; what to re-broadcast; nonces.

    ``fill_from_receipt`` (venue-specific log decoding) turns a successful receipt of an
    order's transaction into fill events; without it such orders stay SUBMITTED.
    """
    events: list[Any] = []
    txs = {h: r for h, r in store.txs.items() if r.chain_id == facts.chain_id}
    # the state each tx will be in once ``events`` are applied
    after: dict[str, TxState] = {h: r.state for h, r in txs.items()}
    rebroadcast: list[TxRecord] = []

    def mined(r: TxRecord, rc: Receipt) -> TxMined:
        return TxMined(
            r.chain_id, r.sender, r.nonce, r.tx_hash, rc.block_number, rc.block_hash,
            rc.success, rc.gas_used, rc.effective_gas_price,
        )  # fmt: skip

    for h in sorted(txs, key=lambda h: (txs[h].sender, txs[h].nonce, h)):
        r = txs[h]
        if h not in facts.receipts:
            continue
        rc = facts.receipts[h]
        chain_nonce = facts.nonces.get(r.sender)
        if r.state in (TxState.MINED, TxState.CONFIRMED):
            if rc is None or rc.block_hash != r.block_hash:
                events.append(
                    TxReorged(
                        r.chain_id, r.sender, r.nonce, h, r.block_number or 0, r.block_hash or ""
                    )
                )
                after[h] = TxState.SENT
                if rc is not None:
                    events.append(mined(r, rc))
                    after[h] = TxState.MINED
            continue
        if rc is not None:
            events.append(mined(r, rc))
            after[h] = TxState.MINED
            continue
        if r.state in (TxState.REPLACED, TxState.DROPPED):
            continue
        if chain_nonce is not None and chain_nonce > r.nonce:
            sib = [
                s.tx_hash
                for s in store.txs_for_nonce(r.chain_id, r.sender, r.nonce)
                if s.tx_hash != h and facts.receipts.get(s.tx_hash) is not None
            ]
            why = (
                f"nonce {r.nonce} was used by {sib[0]}"
                if sib
                else (f"nonce {r.nonce} was used by a transaction not in this journal")
            )
            events.append(TxDropped(r.chain_id, r.sender, r.nonce, h, why))
            after[h] = TxState.DROPPED
        elif h in facts.pending:
            if r.state is TxState.SIGNED:
                events.append(TxSent(r.chain_id, r.sender, r.nonce, h))
                after[h] = TxState.SENT
        else:
            rebroadcast.append(r)

    # orders carried by these transactions
    for cid in sorted(store.txs_by_order):
        o = store.get(cid)
        hs = [h for h in store.txs_by_order[cid] if h in txs]
        if o is None or o.state.terminal or not hs:
            continue
        events.extend(_order_from_txs(o, [txs[h] for h in hs], after, facts, fill_from_receipt))

    next_nonce: dict[str, int] = {}
    for sender in {r.sender for r in txs.values()} | set(facts.nonces):
        journaled = [
            r.nonce
            for r in txs.values()
            if r.sender == sender and after[r.tx_hash] is not TxState.DROPPED
        ]
        chain_n = facts.nonces.get(sender, 0)
        next_nonce[sender] = max([chain_n, *(n + 1 for n in journaled)])
    return ChainDiff(events, rebroadcast, next_nonce)


def _order_from_txs(
    o: Order,
    recs: list[TxRecord],
    after: dict[str, TxState],
    facts: ChainFacts,
    fill_from_receipt: FillFromReceipt | None,
) -> list[Any]:
    out: list[Any] = []
    cid = o.client_order_id
    mined = [
        (r, facts.receipts.get(r.tx_hash))
        for r in recs
        if after[r.tx_hash] in (TxState.MINED, TxState.CONFIRMED)
    ]
    mined = [(r, rc) for r, rc in mined if rc is not None]
    visible = mined or [r for r in recs if r.tx_hash in facts.pending]
    state = o.state
    if visible and state in (OrderState.ACCEPTED, OrderState.UNKNOWN):
        h = mined[0][0].tx_hash if mined else recs[-1].tx_hash
        out.append(OrderSubmitted(cid, o.venue, h))
        state = OrderState.SUBMITTED
    if mined:
        r, rc = mined[0]
        if not rc.success:
            out.append(
                OrderRejected(
                    cid,
                    "TX_REVERTED",
                    f"transaction {r.tx_hash} reverted in block {rc.block_number}",
                )
            )
        elif fill_from_receipt is not None:
            out.extend(fill_from_receipt(o, r, rc))
        return out
    if all(after[r.tx_hash] is TxState.DROPPED for r in recs) and state is not OrderState.UNKNOWN:
        out.append(OrderUnknown(cid, "its transactions were dropped and the nonce used elsewhere"))
    elif not visible and state is OrderState.ACCEPTED:
        # signed (write-ahead) but the node has not seen it: it may or may not have left
        out.append(OrderUnknown(cid, "signed before a restart; not yet seen on chain"))
    return out


# --- venues -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class VenueDiff:
    events: list[Any]
    problems: list[str] = field(default_factory=list)  # differences events cannot express


def fill_quantity(order: Order, fill: Fill, decimals: Mapping[str, int]) -> Decimal:
    """The fill's size in the order's base asset (``instrument`` = "BASE/QUOTE")."""
    base = order.instrument.split("/")[0].split(":")[0]
    units = fill.amount_out if order.side is Side.BUY else fill.amount_in
    asset = fill.asset_out if order.side is Side.BUY else fill.asset_in
    if asset != base:
        raise VenuePayloadError(
            f"fill {fill.trade_id}: expected {base} {'received' if order.side is Side.BUY else 'paid'}, got {asset}"
        )
    if base not in decimals:
        raise VenuePayloadError(f"fill {fill.trade_id}: decimals of {base} unknown")
    return from_base_units(units, decimals[base])


def diff_venue(
    store: OrderStore,
    venue: str,
    open_reports: Sequence[OrderStatusReport],
    statuses: Mapping[str, OrderStatusReport | None],
    fills: Sequence[Fill],
    decimals: Mapping[str, int],
) -> VenueDiff:
    """``statuses`` answers ``order_status`` for local orders missing from ``open_reports``
    (None = the venue has no record of it)."""
    events: list[Any] = []
    problems: list[str] = []
    scratch: dict[str, Order] = {}
    by_venue_id = {
        o.venue_order_id: o.client_order_id
        for o in store.orders.values()
        if o.venue == venue and o.venue_order_id
    }

    def cur(cid: str) -> Order:
        return scratch.get(cid) or store.orders[cid]

    def emit(ev: Any) -> None:
        cid = ev.client_order_id
        scratch[cid] = om.apply(cur(cid), ev)
        events.append(ev)

    for f in fills:
        cid = f.order_id if f.order_id in store.orders else by_venue_id.get(f.order_id)
        if cid is None or store.orders[cid].venue != venue:
            problems.append(
                f"fill {f.trade_id} is for order {f.order_id!r}, unknown to this journal"
            )
            continue
        o = cur(cid)
        if f.trade_id in o.trade_ids:
            continue
        if o.state.terminal:
            problems.append(f"fill {f.trade_id} arrived for {cid}, which is {o.state.value}")
            continue
        try:
            q = fill_quantity(o, f, decimals)
        except VenuePayloadError as e:
            problems.append(str(e))
            continue
        if o.filled + q > o.quantity:
            problems.append(
                f"fill {f.trade_id} would overfill {cid} ({o.filled}+{q} > {o.quantity})"
            )
            continue
        if o.state is OrderState.ACCEPTED:
            emit(OrderAcknowledged(cid, ""))
        price = f.price if f.price is not None else Decimal(0)
        cls = OrderFilled if o.filled + q == o.quantity else OrderPartiallyFilled
        fee = Decimal(0)  # fee in base units of an asset we may not know: left to the adapter
        emit(cls(cid, f.trade_id, q, price, fee, f.fee_asset or ""))

    reports = {r.ref.client_order_id: r for r in open_reports}
    for o0 in store.open_orders(venue):
        cid = o0.client_order_id
        o = cur(cid)
        if o.state.terminal or o.state is OrderState.INITIALIZED:
            continue
        rep = reports.get(cid) or statuses.get(cid)
        if rep is None:
            if (
                cid in statuses
                and o.state is not OrderState.ACCEPTED
                and o.state is not OrderState.UNKNOWN
            ):
                emit(OrderUnknown(cid, f"{venue} has no record of it"))
            continue
        if rep.filled > o.filled:
            problems.append(
                f"{cid}: {venue} reports {rep.filled} filled, its fills explain {o.filled}; "
                "waiting for the missing fill reports"
            )
        st = rep.state
        if st in (VenueOrderState.OPEN, VenueOrderState.PARTIALLY_FILLED):
            if o.state in (OrderState.ACCEPTED, OrderState.UNKNOWN) or not o.venue_order_id:
                emit(OrderAcknowledged(cid, rep.ref.venue_order_id))
        elif st is VenueOrderState.CANCELLED:
            emit(OrderCancelled(cid, f"{venue} reports it cancelled"))
        elif st is VenueOrderState.EXPIRED:
            emit(OrderExpired(cid, f"{venue} reports it expired"))
        elif st is VenueOrderState.REJECTED and (
            (o.state.open and o.filled == 0) or o.state is OrderState.ACCEPTED
        ):
            emit(OrderRejected(cid, "VENUE_REJECTED", f"{venue} reports it rejected"))
        # FILLED: the fills above complete it; if they did not, ``problems`` says so
    return VenueDiff(events, problems)
