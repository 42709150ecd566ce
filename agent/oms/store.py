"""The order store: in-memory state as a pure fold over journal events.

``OrderStore.replay(journal)`` rebuilds everything (orders, parent/child links, transactions,
nonces, trading state, venue cursors) and ``state_hash()`` fingerprints it: the same journal
always gives the same hash, which is how a restart proves it rebuilt the same state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agent.journal.codec import canonical_json
from agent.model import TradingState
from agent.oms import order as om
from agent.oms import tx as tm
from agent.oms.events import (
    OrderInitialized,
    TradingStateChanged,
    TxReorged,
    TxReplaced,
    VenueReconciled,
)
from agent.oms.order import Order, OrderState
from agent.oms.tx import TxRecord
from agent.routing.events import RoutePlanned

_ORDER_EVENTS = frozenset(om.TRANSITIONS[OrderState.ACCEPTED]) | {
    om.OrderInitialized,
    om.OrderAccepted,
    om.OrderDenied,
}
_TX_EVENTS = frozenset(
    {tm.TxSigned, tm.TxSent, tm.TxReplaced, tm.TxMined, tm.TxConfirmed, tm.TxReorged, tm.TxDropped}
)


OMS_EVENT_NAMES = frozenset(
    c.__name__
    for c in (*_ORDER_EVENTS, *_TX_EVENTS, TradingStateChanged, VenueReconciled, RoutePlanned)
)


@dataclass(frozen=True, slots=True)
class ParentView:
    """A parent order with its children rolled up (derived, never journaled separately)."""

    order: Order
    children: tuple[Order, ...]
    filled: Decimal
    committed: Decimal  # quantity the children can still fill plus what they filled

    @property
    def unallocated(self) -> Decimal:
        return self.order.quantity - self.committed


class OrderStore:
    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.children: dict[str, list[str]] = {}
        self.txs: dict[str, TxRecord] = {}
        self.txs_by_nonce: dict[tuple[int, str, int], list[str]] = {}
        self.txs_by_order: dict[str, list[str]] = {}
        self.trading_state: TradingState = TradingState.ACTIVE
        self.trading_reason: str = ""
        self.venue_cursors: dict[str, str] = {}
        self.plans: dict[str, list[Any]] = {}  # parent id -> its RoutePlans, oldest first
        self.position = 0  # last journal position applied
        self.events_applied = 0

    # --- the fold ---------------------------------------------------------------------------
    def apply(self, event: Any, position: int | None = None) -> None:
        t = type(event)
        if t in _ORDER_EVENTS:
            cid = event.client_order_id
            new = om.apply(self.orders.get(cid), event)
            self.orders[cid] = new
            if t is OrderInitialized and new.parent_id is not None:
                self.children.setdefault(new.parent_id, []).append(cid)
        elif t in _TX_EVENTS:
            h = event.old_tx_hash if t is TxReplaced else event.tx_hash
            prev = self.txs.get(h)
            rec = tm.apply_tx(prev, event)
            self.txs[h] = rec
            if prev is None:
                self.txs_by_nonce.setdefault(rec.key, []).append(h)
                if rec.client_order_id is not None:
                    self.txs_by_order.setdefault(rec.client_order_id, []).append(h)
            elif t is TxReorged and rec.client_order_id is not None:
                # the fill this transaction produced is no longer on the canonical chain
                o = self.orders.get(rec.client_order_id)
                if o is not None and h in o.trade_ids:
                    self.orders[o.client_order_id] = om.unfill(
                        o, h, f"fill {h} reorged out of block {event.block_number}; "
                        "waiting for the chain",
                    )  # fmt: skip
        elif t is TradingStateChanged:
            self.trading_state = event.state
            self.trading_reason = event.reason
        elif t is VenueReconciled:
            self.venue_cursors[event.venue] = event.cursor
        elif t is RoutePlanned:
            # journaled on the parent's stream: the parent's version counts it (the stream's
            # version), its state does not change
            p = self.orders.get(event.parent_id)
            if p is None:
                raise om.IllegalTransitionError(
                    f"RoutePlanned for {event.parent_id!r}: the parent order does not exist"
                )
            self.orders[event.parent_id] = om.replace(p, version=p.version + 1)
            self.plans.setdefault(event.parent_id, []).append(event.plan)
        # other registered events (other areas' audit records) do not change OMS state
        self.events_applied += 1
        if position is not None:
            self.position = position

    def apply_all(self, events: Iterable[Any]) -> None:
        for e in events:
            self.apply(e)

    @classmethod
    def replay(cls, journal: Any, from_position: int = 1) -> OrderStore:
        """Fold the whole journal (any :class:`agent.journal.Store`)."""
        store = cls()
        store.catch_up(journal, from_position=from_position)
        return store

    def catch_up(
        self, journal: Any, until: int | None = None, from_position: int | None = None
    ) -> int:
        """Fold records after ``self.position`` (through ``until``, else through the head as
        it is now); returns how many.

        Only OMS event types are decoded (``journal.replay(types=...)`` skips the rest
        undecoded): the journal is shared with other areas (bridge, options, ...) whose event
        types a CLI process may not even have imported."""
        apply, n = self.apply, 0
        start = from_position if from_position is not None else self.position + 1
        last = journal.head()[0] if until is None else until
        if last < start:
            return 0
        for pos, ev in journal.replay(start, types=OMS_EVENT_NAMES):
            if pos > last:  # appended after we looked: the next catch_up folds it
                break
            apply(ev, pos)
            n += 1
        self.position = last
        return n

    # --- queries ----------------------------------------------------------------------------
    def get(self, client_order_id: str) -> Order | None:
        return self.orders.get(client_order_id)

    def open_orders(self, venue: str | None = None) -> list[Order]:
        return [
            o
            for o in self.orders.values()
            if not o.state.terminal and (venue is None or o.venue == venue)
        ]

    def parent_view(self, parent_id: str) -> ParentView:
        parent = self.orders[parent_id]
        kids = tuple(self.orders[c] for c in self.children.get(parent_id, ()))
        filled = sum((k.filled for k in kids), Decimal(0))
        committed = sum((k.filled if k.state.terminal else k.quantity for k in kids), Decimal(0))
        return ParentView(parent, kids, filled, committed)

    def txs_for_nonce(self, chain_id: int, sender: str, nonce: int) -> list[TxRecord]:
        return [self.txs[h] for h in self.txs_by_nonce.get((chain_id, sender.lower(), nonce), ())]

    def max_nonce(self, chain_id: int, sender: str) -> int | None:
        """Highest nonce this agent journaled a signed transaction for."""
        s = sender.lower()
        ns = [k[2] for k in self.txs_by_nonce if k[0] == chain_id and k[1] == s]
        return max(ns) if ns else None

    # --- fingerprint ------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Everything the fold derived, as canonical-JSON-able data (sorted, exact)."""
        return {
            "orders": {k: self.orders[k] for k in sorted(self.orders)},
            "children": {k: sorted(v) for k, v in sorted(self.children.items())},
            "txs": {k: self.txs[k] for k in sorted(self.txs)},
            "trading_state": self.trading_state,
            "trading_reason": self.trading_reason,
            "venue_cursors": dict(sorted(self.venue_cursors.items())),
            "plans": {k: v for k, v in sorted(self.plans.items())},
        }

    def state_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.snapshot()).encode()).hexdigest()
