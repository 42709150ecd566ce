"""The order state machine: one explicit transition table, one pure ``apply`` function.

Terminal states (FILLED, CANCELLED, EXPIRED, REJECTED, DENIED) are never left. Filled never
exceeds quantity. UNKNOWN is not a failure: only venue or chain evidence moves it on.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal
from enum import StrEnum
from typing import Any

from agent.errors import IllegalTransitionError
from agent.oms.commands import SubmitOrder
from agent.oms.events import (
    OrderAccepted,
    OrderAcknowledged,
    OrderCancelled,
    OrderCancelRequested,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderInitialized,
    OrderPartiallyFilled,
    OrderRejected,
    OrderSubmitted,
    OrderUnknown,
)


class OverfillError(IllegalTransitionError):
    code = "ORDER_OVERFILL"


class OrderState(StrEnum):
    INITIALIZED = "initialized"
    ACCEPTED = "accepted"
    DENIED = "denied"
    SUBMITTED = "submitted"
    PARTIALLY_FILLED = "partially_filled"
    PENDING_CANCEL = "pending_cancel"
    UNKNOWN = "unknown"
    FILLED = "filled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REJECTED = "rejected"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def open(self) -> bool:
        """May still trade at the venue (so it counts towards exposure and needs a cancel)."""
        return self in OPEN


S = OrderState
TERMINAL = frozenset({S.FILLED, S.CANCELLED, S.EXPIRED, S.REJECTED, S.DENIED})
OPEN = frozenset({S.SUBMITTED, S.PARTIALLY_FILLED, S.PENDING_CANCEL, S.UNKNOWN})

# ``RESUME`` = SUBMITTED when nothing is filled yet, else PARTIALLY_FILLED; ``FILL`` = decided
# by the quantities (and checked: a partial fill may not complete, a full fill must).
RESUME = "resume"
FILL = "fill"
STAY = "stay"

Target = OrderState | str
TRANSITIONS: dict[OrderState, dict[type, Target]] = {
    S.INITIALIZED: {OrderAccepted: S.ACCEPTED, OrderDenied: S.DENIED},
    S.ACCEPTED: {
        # refused after acceptance but before anything was sent (the signing policy sees
        # the built transaction, which exists only after routing)
        OrderDenied: S.DENIED,
        OrderSubmitted: S.SUBMITTED,
        OrderAcknowledged: RESUME,
        OrderPartiallyFilled: FILL,
        OrderFilled: FILL,
        OrderCancelRequested: S.PENDING_CANCEL,
        OrderCancelled: S.CANCELLED,
        OrderExpired: S.EXPIRED,
        OrderRejected: S.REJECTED,
        OrderUnknown: S.UNKNOWN,
    },
    S.SUBMITTED: {
        OrderAcknowledged: STAY,
        OrderPartiallyFilled: FILL,
        OrderFilled: FILL,
        OrderCancelRequested: S.PENDING_CANCEL,
        OrderCancelled: S.CANCELLED,
        OrderExpired: S.EXPIRED,
        OrderRejected: S.REJECTED,
        OrderUnknown: S.UNKNOWN,
    },
    S.PARTIALLY_FILLED: {
        OrderAcknowledged: STAY,
        OrderPartiallyFilled: FILL,
        OrderFilled: FILL,
        OrderCancelRequested: S.PENDING_CANCEL,
        OrderCancelled: S.CANCELLED,
        OrderExpired: S.EXPIRED,
        OrderUnknown: S.UNKNOWN,
    },
    S.PENDING_CANCEL: {
        OrderSubmitted: STAY,
        OrderAcknowledged: STAY,
        OrderPartiallyFilled: STAY,
        OrderFilled: FILL,
        OrderCancelled: S.CANCELLED,
        OrderExpired: S.EXPIRED,
        OrderRejected: S.REJECTED,
        OrderUnknown: S.UNKNOWN,
    },
    S.UNKNOWN: {
        OrderSubmitted: RESUME,
        OrderAcknowledged: RESUME,
        OrderPartiallyFilled: FILL,
        OrderFilled: FILL,
        OrderCancelRequested: S.PENDING_CANCEL,
        OrderCancelled: S.CANCELLED,
        OrderExpired: S.EXPIRED,
        OrderRejected: S.REJECTED,
        OrderUnknown: STAY,
    },
    **{t: {} for t in TERMINAL},
}


@dataclass(frozen=True, slots=True)
class Order:
    """One order's state. ``spec`` is the order as asked for (its first event); the rest is
    what happened since. Spec fields are readable directly (``order.quantity``)."""

    spec: OrderInitialized
    state: OrderState = OrderState.INITIALIZED
    filled: Decimal = Decimal(0)
    notional: Decimal = Decimal(0)  # sum of fill quantity * price, for the average price
    fees: tuple[tuple[str, Decimal], ...] = ()
    trade_ids: frozenset[str] = frozenset()
    venue_order_id: str = ""
    code: str = ""  # denial/rejection code
    reason: str = ""
    version: int = 0  # number of events applied = the stream's version
    # the fills applied (OrderFilled/OrderPartiallyFilled), kept so a chain reorg can take
    # back exactly the fill its transaction produced (see ``unfill``)
    fills: tuple[Any, ...] = ()

    # the spec, flattened for readers (kept out of the fields so evolving an order per event
    # copies 10 slots, not 22)
    client_order_id = property(lambda self: self.spec.client_order_id)
    instrument = property(lambda self: self.spec.instrument)
    side = property(lambda self: self.spec.side)
    quantity = property(lambda self: self.spec.quantity)
    order_type = property(lambda self: self.spec.order_type)
    limit_price = property(lambda self: self.spec.limit_price)
    time_in_force = property(lambda self: self.spec.time_in_force)
    venue = property(lambda self: self.spec.venue)
    parent_id = property(lambda self: self.spec.parent_id)
    reduce_only = property(lambda self: self.spec.reduce_only)
    max_slippage_bps = property(lambda self: self.spec.max_slippage_bps)
    strategy = property(lambda self: self.spec.strategy)

    @property
    def remaining(self) -> Decimal:
        return self.spec.quantity - self.filled

    @property
    def avg_price(self) -> Decimal | None:
        return self.notional / self.filled if self.filled else None

    def to_submit(self) -> SubmitOrder:
        """The command that created this order (resubmitting it is a no-op)."""
        return SubmitOrder(
            self.client_order_id,
            self.instrument,
            self.side,
            self.quantity,
            self.order_type,
            self.limit_price,
            self.time_in_force,
            self.venue,
            self.parent_id,
            self.reduce_only,
            self.max_slippage_bps,
            self.strategy,
        )

    def can_apply(self, event: Any) -> bool:
        return type(event) in TRANSITIONS[self.state]


def _make_evolve(cls: type) -> Any:
    """``dataclasses.replace`` without its per-call reflection: the fold evolves an order
    once per event, and replay folds hundreds of thousands of events."""
    names = [f.name for f in fields(cls)]
    params = ", ".join(f"{n}=_M" for n in names)
    body = "\n".join(f"    _sa(n, {n!r}, o.{n} if {n} is _M else {n})" for n in names)
    env: dict[str, Any] = {
        "_M": object(),
        "_new": object.__new__,
        "_sa": object.__setattr__,
        "_cls": cls,
    }
    exec(f"def evolve(o, *, {params}):\n    n = _new(_cls)\n{body}\n    return n\n", env)
    return env["evolve"]


replace = _make_evolve(Order)


def _illegal(order: Order | None, event: Any, why: str = "") -> IllegalTransitionError:
    cid = getattr(event, "client_order_id", "?")
    state = order.state.value if order else "none"
    msg = f"order {cid!r}: {type(event).__name__} is not allowed in state {state}"
    return IllegalTransitionError(msg + (f" ({why})" if why else ""))


def initialize(event: OrderInitialized) -> Order:
    q = event.quantity
    if not isinstance(q, Decimal) or not q.is_finite() or q <= 0:
        raise IllegalTransitionError(
            f"order {event.client_order_id!r}: quantity {q} must be positive"
        )
    return Order(event, version=1)


def apply(order: Order | None, event: Any) -> Order:
    """The next state of ``order`` after ``event``; raises IllegalTransitionError and leaves
    nothing changed (orders are immutable) when the event is not allowed."""
    if order is None:
        if type(event) is OrderInitialized:
            return initialize(event)
        raise _illegal(None, event, "the order does not exist")
    if type(event) is OrderInitialized:
        raise _illegal(order, event, "the client order id is already used")
    target = TRANSITIONS[order.state].get(type(event))
    if target is None:
        raise _illegal(order, event)
    v = order.version + 1
    if target == FILL or (type(event) is OrderPartiallyFilled and target == STAY):
        return _fill(order, event, target, v)
    if target == STAY:
        new_state = order.state
    elif target == RESUME:
        new_state = S.PARTIALLY_FILLED if order.filled else S.SUBMITTED
    else:
        new_state = target  # type: ignore[assignment]
    if type(event) in (OrderAcknowledged, OrderSubmitted) and getattr(event, "venue_order_id", ""):
        return replace(order, state=new_state, venue_order_id=event.venue_order_id, version=v)
    if type(event) in (OrderDenied, OrderRejected):
        return replace(order, state=new_state, code=event.code, reason=event.reason, version=v)
    reason = getattr(event, "reason", None)
    if reason:
        return replace(order, state=new_state, reason=reason, version=v)
    return replace(order, state=new_state, version=v)


def _fill(order: Order, ev: Any, target: Target, v: int) -> Order:
    q = ev.quantity
    if not isinstance(q, Decimal) or not q.is_finite() or q <= 0:
        raise _illegal(order, ev, f"fill quantity {q} must be positive")
    if ev.trade_id in order.trade_ids:
        raise _illegal(order, ev, f"trade {ev.trade_id!r} is already applied")
    filled = order.filled + q
    if filled > order.spec.quantity:
        raise OverfillError(
            f"order {order.client_order_id!r}: fill of {q} would make filled {filled} "
            f"exceed quantity {order.quantity}"
        )
    complete = filled == order.quantity
    if type(ev) is OrderFilled and not complete:
        raise _illegal(order, ev, f"OrderFilled leaves {order.quantity - filled} unfilled")
    if type(ev) is OrderPartiallyFilled and complete:
        raise _illegal(order, ev, "a partial fill may not complete the order; use OrderFilled")
    if type(ev) is OrderFilled:
        state = S.FILLED
    elif target == STAY:
        state = order.state
    else:
        state = S.PARTIALLY_FILLED
    fees = order.fees
    if ev.fee:
        d = dict(fees)
        d[ev.fee_asset] = d.get(ev.fee_asset, Decimal(0)) + ev.fee
        fees = tuple(sorted(d.items()))
    return replace(
        order,
        state=state,
        filled=filled,
        notional=order.notional + q * ev.price,
        fees=fees,
        trade_ids=order.trade_ids | {ev.trade_id},
        version=v,
        fills=(*order.fills, ev),
    )


def unfill(order: Order, trade_id: str, reason: str) -> Order:
    """Take back the fill ``trade_id`` because the transaction that produced it left the
    canonical chain (TxReorged). The one way out of FILLED: the chain has the last word, and
    an on-chain fill is only as final as its block. The order goes back to SUBMITTED (or
    PARTIALLY_FILLED if other fills remain) and waits for the chain, where the same trade id
    may fill it again once the transaction is re-mined. Not an order-stream event: the
    stream's version is unchanged (the TxReorged record on the tx stream is the evidence)."""
    gone = [f for f in order.fills if f.trade_id == trade_id]
    if not gone:
        return order
    f = gone[0]
    filled = order.filled - f.quantity
    fees = order.fees
    if f.fee:
        d = dict(fees)
        d[f.fee_asset] = d.get(f.fee_asset, Decimal(0)) - f.fee
        fees = tuple(sorted((k, x) for k, x in d.items() if x))
    state = order.state
    if state in (S.FILLED, S.PARTIALLY_FILLED, S.SUBMITTED):
        state = S.PARTIALLY_FILLED if filled else S.SUBMITTED
    return replace(
        order,
        state=state,
        filled=filled,
        notional=order.notional - f.quantity * f.price,
        fees=fees,
        trade_ids=order.trade_ids - {trade_id},
        fills=tuple(x for x in order.fills if x.trade_id != trade_id),
        reason=reason,
    )


def order_dict(o: Order) -> dict[str, Any]:
    """An order as plain JSON values (the API's and `agent orders --json`'s one shape)."""
    return {
        "client_order_id": o.client_order_id,
        "state": o.state.value,
        "instrument": o.instrument,
        "side": o.side.value,
        "quantity": str(o.quantity),
        "filled": str(o.filled),
        "avg_price": None if o.avg_price is None else str(o.avg_price),
        "venue": o.venue,
        "parent_id": o.parent_id,
        "code": o.code,
        "reason": o.reason,
    }
