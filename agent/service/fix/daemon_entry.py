"""The daemon as the FIX gateway's :class:`OrderEntry`: orders go through the daemon's
order intake (agent.service.intake), the path of ``POST /v1/orders``: validated, pre-checked,
journaled ACCEPTED, then routed over every venue the daemon built and executed by the
PlanExecutor behind the acknowledgement.

A NewOrderSingle is answered as soon as the parent is journaled (``OrderAccepted`` ->
ExecutionReport New, or ``OrderDenied`` -> Rejected), before any quote is read; the children's
fills and the parent's end (Filled, or Canceled/Rejected with the reason: unfilled within the
limit, a venue's refusal) reach the client through the journal, like every other state
change. What the intake refuses before an order exists (trading halted, an unknown token, a
limit order without Price, a TimeInForce a routed plan cannot keep, a duplicate ClOrdID)
raises :class:`OrderRefused`, answered with ExecutionReport(Rejected) naming the code.

Market and limit orders (OrdType 1 and 2 with Price(44)); TimeInForce IOC (default); GTC and
FOK are Rejected UNSUPPORTED_TIME_IN_FORCE; only the ``market`` algorithm (TargetStrategy)
here. An order the intake is executing cannot be cancelled or replaced (its transaction may
be signed at any moment): TOO_LATE; a queued one can.
"""

from __future__ import annotations

import logging
from typing import Any

from agent.errors import AgentError, DuplicateOrderError
from agent.oms import CancelOrder
from agent.oms.order import OrderState
from agent.service.fix.orderentry import (
    REPLACED_BY,
    NewOrder,
    OmsOrderEntry,
    OrderEntryError,
    OrderRefused,
    oms_id,
)
from agent.service.intake import IntakeRefused, OrderRequest

log = logging.getLogger("agent.fix")
_ALGOS = frozenset({"", "market"})


class DaemonOrderEntry(OmsOrderEntry):
    def __init__(self, daemon: Any, chain: str | None = None) -> None:
        self.daemon = daemon
        self.rt = daemon.chains[chain] if chain else daemon.primary
        super().__init__(daemon.intake.manager)  # the OMS view the intake writes through

    # --- requests ---------------------------------------------------------------------------
    def _request(self, owner: str, o: NewOrder) -> OrderRequest:
        if o.strategy not in _ALGOS:
            raise OrderRefused(
                f"TargetStrategy {o.strategy!r} is not run by the daemon: use market",
                "UNSUPPORTED_ALGO",
            )
        base, slash, quote = o.symbol.partition("/")
        if not slash or not base or not quote:
            raise OrderRefused(f"Symbol(55) {o.symbol!r} is not BASE/QUOTE", "UNKNOWN_SYMBOL")
        try:
            r = OrderRequest(
                oms_id(owner, o.cl_ord_id), o.side, base.upper(), quote.upper(), o.quantity,
                o.order_type, o.limit_price, o.time_in_force, o.max_slippage_bps,
            )  # fmt: skip
            self.daemon.intake.validate(r)
        except AgentError as e:
            raise OrderRefused(_fix_text(e), getattr(e, "code", "INVALID_ORDER")) from None
        return r

    async def submit(self, owner: str, order: NewOrder) -> None:
        if self.daemon.draining:
            raise OrderRefused("the agent is shutting down; send it again later", "DRAINING")
        r = self._request(owner, order)
        self.manager.sync()
        if self.manager.store.get(r.client_order_id) is not None:
            raise OrderRefused(f"ClOrdID {order.cl_ord_id!r} is already used", "DUPLICATE")
        try:
            await self.daemon.intake.accept(r)  # journaled ACCEPTED (or DENIED) when it returns
        except IntakeRefused as e:
            raise OrderRefused(_fix_text(e), e.code) from None
        except DuplicateOrderError:
            raise OrderRefused(
                f"ClOrdID {order.cl_ord_id!r} is already used", "DUPLICATE"
            ) from None
        self.daemon._kick.set()
        self.pump()

    def _not_running(self, cid: str, cl: str) -> None:
        if self.daemon.intake.executing == cid:
            raise OrderEntryError(
                f"order {cl!r} is being executed on chain: its transaction may be signed "
                "at any moment",
                "TOO_LATE",
            )

    async def cancel(self, owner: str, cl_ord_id: str, reason: str = "") -> None:
        self._not_running(oms_id(owner, cl_ord_id), cl_ord_id)
        await super().cancel(owner, cl_ord_id, reason)

    async def replace(self, owner: str, orig_cl_ord_id: str, order: NewOrder) -> None:
        """Cancel-and-new through the intake; only an order that is open, unfilled and not
        being executed can be replaced (see the module docstring)."""
        old = oms_id(owner, orig_cl_ord_id)
        self._not_running(old, orig_cl_ord_id)
        self.manager.sync()
        o = self.manager.store.get(old)
        if o is None:
            raise OrderEntryError(f"unknown order {orig_cl_ord_id!r}", "UNKNOWN_ORDER")
        if o.state.terminal or o.state is OrderState.PENDING_CANCEL or o.filled:
            raise OrderEntryError(
                f"order {orig_cl_ord_id!r} is already {o.state.value}", "TOO_LATE"
            )
        new = self._request(owner, order)  # checked before anything is cancelled
        if self.manager.store.get(new.client_order_id) is not None:
            raise OrderEntryError(f"ClOrdID {order.cl_ord_id!r} is already used", "DUPLICATE")
        await self.manager.cancel_async(CancelOrder(old, REPLACED_BY + new.client_order_id))
        after = self.manager.store.get(old)
        if after is None or after.state is not OrderState.CANCELLED:  # at a venue: too late
            self.pump()
            raise OrderEntryError(f"order {orig_cl_ord_id!r} is working at a venue", "TOO_LATE")
        await self.submit(owner, order)

    async def drain(self) -> None:
        """Nothing of its own to wait for: the intake's drain (the daemon's stop) finishes the
        order in execution and expires the queued ones."""


def _fix_text(e: AgentError) -> str:
    """The intake's one-line message, with the REST field names as FIX tags."""
    msg = e.message
    for name, tag in (("limit_price", "Price(44)"), ("time_in_force", "TimeInForce(59)"),
                      ("order_type", "OrdType(40)"), ("size", "OrderQty(38)")):  # fmt: skip
        msg = msg.replace(name + ":", tag + ":")
    return msg
