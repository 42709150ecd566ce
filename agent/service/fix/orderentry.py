"""The order entry protocol a FIX session drives, and an in-process adapter over the OMS.

``OrderEntry`` is what the FIX gateway needs from the running agent (the daemon, issue 17,
implements it over its pipelines): submit, cancel, replace, status, and every state change of
the orders a client owns as ``OrderUpdate``s in journal order, each with the agent's order
id and a unique exec id.

``OmsOrderEntry`` is the adapter used until then, and by the tests: orders go through the
OMS (``OrderManager``: the trading-state gate, the risk checks, the journal), and updates are
folded from the journal, so fills, cancels and rejections written by anything (the tx
tracker, a venue reconciler, another process) reach the client. It does not execute orders
itself: something else must work them (the swap pipeline, an executor).

Ids: an order's id is the journal position of its ``OrderInitialized``; an update's exec id
is the journal position of the event behind it. Both are unique, and the same after a
restart. A client's orders are OMS orders named ``<owner>.<ClOrdID>``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from agent.errors import AgentError, ValidationError
from agent.model import OrderType, Side, TimeInForce
from agent.oms import CancelOrder, OrderManager, SubmitOrder
from agent.oms import order as om
from agent.oms.events import (
    OrderAccepted,
    OrderCancelled,
    OrderCancelRequested,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderInitialized,
    OrderPartiallyFilled,
    OrderRejected,
)
from agent.oms.order import Order, OrderState
from agent.oms.store import _ORDER_EVENTS

REPLACED_BY = "replaced by "  # an OrderCancelled reason: the order was replaced by another


class OrderEntryError(AgentError):
    """A request the order entry refuses outright (unknown order, too late to cancel)."""

    code = "ORDER_ENTRY"

    def __init__(self, message: str, code: str = "ORDER_ENTRY") -> None:
        super().__init__(message)
        self.code = code


class OrderRefused(OrderEntryError):
    """Refused before any order exists: reported as ExecutionReport(Rejected), OrderID NONE."""


class ExecType(StrEnum):  # FIX 150 values
    NEW = "0"
    CANCELED = "4"
    REPLACED = "5"
    PENDING_CANCEL = "6"
    REJECTED = "8"
    EXPIRED = "C"
    TRADE = "F"
    ORDER_STATUS = "I"


_ORD_STATUS = {  # FIX 39 for each OMS state
    OrderState.INITIALIZED: "A",  # pending new
    OrderState.ACCEPTED: "0",
    OrderState.SUBMITTED: "0",
    OrderState.PARTIALLY_FILLED: "1",
    OrderState.FILLED: "2",
    OrderState.PENDING_CANCEL: "6",
    OrderState.CANCELLED: "4",
    OrderState.EXPIRED: "C",
    OrderState.REJECTED: "8",
    OrderState.DENIED: "8",
    OrderState.UNKNOWN: "0",  # still working as far as anyone knows
}


@dataclass(frozen=True, slots=True)
class NewOrder:
    """A client's order, as NewOrderSingle (or the new side of a replace) carries it."""

    cl_ord_id: str
    symbol: str
    side: Side
    quantity: Decimal
    order_type: OrderType
    limit_price: Decimal | None
    time_in_force: TimeInForce
    strategy: str = ""  # TargetStrategy(847) or the custom tag: the execution algorithm
    max_slippage_bps: int | None = None


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """One state change of one order, as an ExecutionReport reports it."""

    position: int  # journal position of the event: the exec id, and the resume point
    owner: str
    cl_ord_id: str
    order_id: str
    exec_type: ExecType
    ord_status: str
    symbol: str
    side: Side
    quantity: Decimal
    order_type: OrderType
    limit_price: Decimal | None
    cum_qty: Decimal
    leaves_qty: Decimal
    avg_px: Decimal
    last_qty: Decimal = Decimal(0)
    last_px: Decimal = Decimal(0)
    text: str = ""
    orig_cl_ord_id: str = ""

    @property
    def exec_id(self) -> str:
        return str(self.position)


class OrderEntry(Protocol):
    async def submit(self, owner: str, order: NewOrder) -> None: ...

    async def cancel(self, owner: str, cl_ord_id: str, reason: str = "") -> None: ...

    async def replace(self, owner: str, orig_cl_ord_id: str, order: NewOrder) -> None: ...

    def status(self, owner: str, cl_ord_id: str) -> OrderUpdate | None: ...

    def updates(self, owner: str, after_position: int) -> list[OrderUpdate]:
        """The owner's order updates after ``after_position``, in journal order."""
        ...


def oms_id(owner: str, cl_ord_id: str) -> str:
    cid = f"{owner}.{cl_ord_id}"
    if len(cid) > 64:
        raise ValidationError(
            "ClOrdID(11)", f"{cl_ord_id!r} is too long", f"use at most {63 - len(owner)} characters"
        )
    return cid


class OmsOrderEntry:
    """In-process :class:`OrderEntry` over an :class:`OrderManager` (see module docstring)."""

    def __init__(self, manager: OrderManager) -> None:
        self.manager = manager
        self.journal = manager.journal
        self._orders: dict[str, Order] = {}  # OMS id -> the order folded from the journal
        self._order_ids: dict[str, str] = {}  # OMS id -> its order id
        self._replaces: dict[str, str] = {}  # new OMS id -> the OMS id it replaced
        self._children: set[str] = set()  # routed children under a client's parent: not reported
        self._log: dict[str, list[OrderUpdate]] = {}  # per owner, in journal order
        self._folded = 0
        self._names = {c.__name__ for c in _ORDER_EVENTS}
        self.pump()

    # --- requests ---------------------------------------------------------------------------
    def _submit_cmd(self, owner: str, o: NewOrder) -> SubmitOrder:
        return SubmitOrder(
            oms_id(owner, o.cl_ord_id),
            o.symbol,
            o.side,
            o.quantity,
            o.order_type,
            o.limit_price,
            o.time_in_force,
            max_slippage_bps=o.max_slippage_bps,
            strategy=o.strategy,
        )

    async def submit(self, owner: str, order: NewOrder) -> None:
        await self.manager.submit_async(self._submit_cmd(owner, order))
        self.pump()

    async def cancel(self, owner: str, cl_ord_id: str, reason: str = "") -> None:
        cid = oms_id(owner, cl_ord_id)
        self.manager.sync()  # what another writer (a tracker, another process) journaled
        o = self.manager.store.get(cid)
        if o is None:
            raise OrderEntryError(f"unknown order {cl_ord_id!r}", "UNKNOWN_ORDER")
        if o.state.terminal:
            raise OrderEntryError(f"order {cl_ord_id!r} is already {o.state.value}", "TOO_LATE")
        await self.manager.cancel_async(CancelOrder(cid, reason or "cancelled by the client"))
        self.pump()

    async def replace(self, owner: str, orig_cl_ord_id: str, order: NewOrder) -> None:
        """Cancel-and-new, atomic for the client: the original must be open and unfilled
        (the OMS has no amend); the new order is reported as Replaced."""
        old = oms_id(owner, orig_cl_ord_id)
        self.manager.sync()
        o = self.manager.store.get(old)
        if o is None:
            raise OrderEntryError(f"unknown order {orig_cl_ord_id!r}", "UNKNOWN_ORDER")
        if o.state.terminal or o.state is OrderState.PENDING_CANCEL:
            raise OrderEntryError(
                f"order {orig_cl_ord_id!r} is already {o.state.value}", "TOO_LATE"
            )
        if o.filled:
            raise OrderEntryError(
                f"order {orig_cl_ord_id!r} is partly filled: replace is supported on unfilled "
                "orders only; cancel it and send a new order",
                "PARTLY_FILLED",
            )
        cmd = self._submit_cmd(owner, order)  # checked before anything is cancelled
        if self.manager.store.get(cmd.client_order_id) is not None:
            raise OrderEntryError(f"ClOrdID {order.cl_ord_id!r} is already used", "DUPLICATE")
        await self.manager.cancel_async(CancelOrder(old, REPLACED_BY + cmd.client_order_id))
        after = self.manager.store.get(old)
        if after is None or after.state is not OrderState.CANCELLED:  # at a venue: too late
            self.pump()
            raise OrderEntryError(f"order {orig_cl_ord_id!r} is working at a venue", "TOO_LATE")
        await self.manager.submit_async(cmd)
        self.pump()

    def status(self, owner: str, cl_ord_id: str) -> OrderUpdate | None:
        self.pump()
        cid = oms_id(owner, cl_ord_id)
        o = self._orders.get(cid)
        if o is None:
            return None
        return self._update(self._folded, owner, cid, o, ExecType.ORDER_STATUS)

    def updates(self, owner: str, after_position: int) -> list[OrderUpdate]:
        self.pump()
        log = self._log.get(owner, [])
        i = bisect.bisect_right(log, after_position, key=lambda u: u.position)
        return log[i:]

    # --- folding the journal ----------------------------------------------------------------
    def pump(self) -> None:
        """Fold order events appended since the last call, by anyone."""
        head = self.journal.head()[0]
        if head <= self._folded:
            return
        for pos, ev in self.journal.replay(self._folded + 1, types=self._names):
            if pos > head:
                break
            self._fold(pos, ev)
        self._folded = head

    def _fold(self, pos: int, ev: Any) -> None:
        cid = ev.client_order_id
        owner, dot, _ = cid.partition(".")
        if not dot:
            return  # not a FIX client's order
        prev = self._orders.get(cid)
        if isinstance(ev, OrderInitialized):
            if ev.parent_id is not None:  # a routed child: its parent is the client's order
                self._children.add(cid)
                return
            self._order_ids[cid] = str(pos)
        elif cid in self._children:
            return
        try:
            o = om.apply(prev, ev)
        except AgentError:
            return  # the OMS refused it too (repeated fill): nothing changed
        self._orders[cid] = o
        u = self._update_for(pos, owner, cid, prev, o, ev)
        if u is not None:
            self._log.setdefault(owner, []).append(u)

    def _update_for(
        self, pos: int, owner: str, cid: str, prev: Order | None, o: Order, ev: Any
    ) -> OrderUpdate | None:
        t = type(ev)
        if t is OrderAccepted:
            orig = self._replaces.get(cid)
            if orig is not None:
                u = self._update(pos, owner, cid, o, ExecType.REPLACED)
                return replace(u, orig_cl_ord_id=orig.partition(".")[2])
            return self._update(pos, owner, cid, o, ExecType.NEW)
        if t is OrderDenied:
            return self._update(pos, owner, cid, o, ExecType.REJECTED, f"{ev.code}: {ev.reason}")
        if t is OrderRejected:
            return self._update(pos, owner, cid, o, ExecType.REJECTED, f"{ev.code}: {ev.reason}")
        if t in (OrderPartiallyFilled, OrderFilled):
            u = self._update(pos, owner, cid, o, ExecType.TRADE)
            return replace(u, last_qty=ev.quantity, last_px=ev.price)
        if t is OrderCancelRequested:
            return self._update(pos, owner, cid, o, ExecType.PENDING_CANCEL, ev.reason)
        if t is OrderCancelled:
            if ev.reason.startswith(REPLACED_BY):  # reported as the new order's Replaced
                self._replaces[ev.reason[len(REPLACED_BY) :]] = cid
                return None
            return self._update(pos, owner, cid, o, ExecType.CANCELED, ev.reason)
        if t is OrderExpired:
            return self._update(pos, owner, cid, o, ExecType.EXPIRED, ev.reason)
        return None  # OrderInitialized, OrderSubmitted, ...: no change a client sees

    def _update(
        self, pos: int, owner: str, cid: str, o: Order, et: ExecType, text: str = ""
    ) -> OrderUpdate:
        done = o.state.terminal
        return OrderUpdate(
            position=pos,
            owner=owner,
            cl_ord_id=cid.partition(".")[2],
            order_id=self._order_ids.get(cid, "NONE"),
            exec_type=et,
            ord_status=_ORD_STATUS[o.state],
            symbol=o.instrument,
            side=o.side,
            quantity=o.quantity,
            order_type=o.order_type,
            limit_price=o.limit_price,
            cum_qty=o.filled,
            leaves_qty=Decimal(0) if done else o.quantity - o.filled,
            avg_px=o.avg_price or Decimal(0),
            text=text or o.reason,
        )
