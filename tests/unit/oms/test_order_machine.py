from __future__ import annotations

from decimal import Decimal

import pytest

from agent.errors import IllegalTransitionError
from agent.model import Side
from agent.oms import TERMINAL, TRANSITIONS, OrderState, OverfillError
from agent.oms import order as om
from agent.oms.events import (
    OrderAccepted,
    OrderAcknowledged,
    OrderCancelled,
    OrderCancelRequested,
    OrderDenied,
    OrderFilled,
    OrderInitialized,
    OrderPartiallyFilled,
    OrderRejected,
    OrderSubmitted,
    OrderUnknown,
)

CID = "c1"


def submitted(qty: str = "10") -> om.Order:
    o = om.apply(None, OrderInitialized(CID, "WETH/USDC", Side.BUY, Decimal(qty)))
    o = om.apply(o, OrderAccepted(CID))
    return om.apply(o, OrderSubmitted(CID, "v", "x1"))


def test_table_covers_every_state_and_terminal_states_have_no_exits() -> None:
    assert set(TRANSITIONS) == set(OrderState)
    for s in TERMINAL:
        assert TRANSITIONS[s] == {}
    # nothing ever leads back to INITIALIZED
    assert all(t != OrderState.INITIALIZED for row in TRANSITIONS.values() for t in row.values())


def test_happy_path_with_partial_fills_and_average_price() -> None:
    o = submitted()
    assert (o.state, o.venue_order_id, o.version) == (OrderState.SUBMITTED, "x1", 3)
    o = om.apply(
        o, OrderPartiallyFilled(CID, "t1", Decimal("4"), Decimal("100"), Decimal("0.1"), "USDC")
    )
    assert o.state is OrderState.PARTIALLY_FILLED and o.filled == 4
    o = om.apply(o, OrderFilled(CID, "t2", Decimal("6"), Decimal("110"), Decimal("0.2"), "USDC"))
    assert o.state is OrderState.FILLED and o.remaining == 0
    assert o.avg_price == Decimal("106") and o.fees == (("USDC", Decimal("0.3")),)


def test_overfill_and_wrong_fill_kinds_are_refused() -> None:
    o = submitted()
    with pytest.raises(OverfillError):
        om.apply(o, OrderFilled(CID, "t1", Decimal("11"), Decimal(1)))
    with pytest.raises(IllegalTransitionError, match="leaves 1 unfilled"):
        om.apply(o, OrderFilled(CID, "t1", Decimal("9"), Decimal(1)))
    with pytest.raises(IllegalTransitionError, match="may not complete"):
        om.apply(o, OrderPartiallyFilled(CID, "t1", Decimal("10"), Decimal(1)))
    o = om.apply(o, OrderPartiallyFilled(CID, "t1", Decimal("1"), Decimal(1)))
    with pytest.raises(IllegalTransitionError, match="already applied"):
        om.apply(o, OrderPartiallyFilled(CID, "t1", Decimal("1"), Decimal(1)))
    with pytest.raises(IllegalTransitionError, match="must be positive"):
        om.apply(o, OrderPartiallyFilled(CID, "t9", Decimal("0"), Decimal(1)))


def test_terminal_states_are_never_left() -> None:
    o = om.apply(submitted(), OrderCancelled(CID, "user"))
    for ev in (OrderAcknowledged(CID, "x"), OrderUnknown(CID, "?"), OrderRejected(CID, "E", "r")):
        with pytest.raises(IllegalTransitionError, match="not allowed in state cancelled"):
            om.apply(o, ev)


def test_unknown_resumes_only_on_evidence() -> None:
    o = om.apply(submitted(), OrderPartiallyFilled(CID, "t1", Decimal("2"), Decimal(1)))
    o = om.apply(o, OrderUnknown(CID, "venue timed out"))
    assert o.state is OrderState.UNKNOWN and o.reason == "venue timed out"
    o = om.apply(o, OrderAcknowledged(CID, "x1"))
    assert o.state is OrderState.PARTIALLY_FILLED  # resumes where the fills say


def test_pending_cancel_keeps_filling_until_venue_answers() -> None:
    o = om.apply(submitted(), OrderCancelRequested(CID))
    o = om.apply(o, OrderPartiallyFilled(CID, "t1", Decimal("2"), Decimal(1)))
    assert o.state is OrderState.PENDING_CANCEL and o.filled == 2
    assert om.apply(o, OrderCancelled(CID)).state is OrderState.CANCELLED


def test_first_event_must_initialize_and_ids_are_not_reused() -> None:
    with pytest.raises(IllegalTransitionError, match="does not exist"):
        om.apply(None, OrderAccepted(CID))
    o = om.apply(None, OrderInitialized(CID, "X/Y", Side.SELL, Decimal(1)))
    with pytest.raises(IllegalTransitionError, match="already used"):
        om.apply(o, OrderInitialized(CID, "X/Y", Side.SELL, Decimal(1)))
    d = om.apply(o, OrderDenied(CID, "RISK_LIMIT", "too big", "max_notional"))
    assert (d.state, d.code, d.reason) == (OrderState.DENIED, "RISK_LIMIT", "too big")
