"""A parent order's plan lives on the parent's stream: it counts in the parent's version (so the
next order event appends at the right version), replays to the same state, and cannot name a
parent that does not exist. Children fold into the parent's view; the OMS refuses a child that
is larger than what the parent has left."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from agent.errors import OrderError
from agent.journal import SqliteJournal
from agent.model import Side
from agent.oms import OrderManager, OrderStore, SubmitOrder
from agent.oms.events import OrderFilled, OrderPartiallyFilled, OrderSubmitted, order_stream
from agent.routing.events import RoutePlanned
from agent.routing.plan import LegKind, PlannedChild, RoutePlan


def _plan(parent: str, sizes: list[int]) -> RoutePlan:
    kids = tuple(
        PlannedChild(f"{parent}.{i}", f"v{i}", LegKind.AMM, 1, Side.BUY, s, s * 3, 0, 0,
                     Decimal(3), Decimal(3), "block:1", {"protocol": "v3", "fee": 500})
        for i, s in enumerate(sizes)
    )  # fmt: skip
    return RoutePlan(parent, Side.BUY, "WETH", "USDC", sum(sizes), None, kids, 0,
                     sum(k.quote_amount for k in kids), (), None)  # fmt: skip


def _submit(m: OrderManager, cid: str, qty: str, parent: str | None = None) -> str:
    o = m.submit(SubmitOrder(cid, "WETH/USDC", Side.BUY, Decimal(qty), parent_id=parent))
    return o.state.value


def test_plan_on_the_parent_stream_keeps_versions_and_replays(tmp_path: Path) -> None:
    with SqliteJournal(tmp_path / "j.sqlite") as j:
        m = OrderManager(j)
        assert _submit(m, "P", "10") == "accepted"
        plan = _plan("P", [6, 4])
        m.record([RoutePlanned("P", plan)])
        assert m.store.orders["P"].version == 3  # initialized, accepted, planned
        assert m.store.plans["P"] == [plan]
        for k in plan.children:
            assert _submit(m, k.client_order_id, str(k.base_amount), "P") == "accepted"
        m.record([OrderSubmitted("P", "router")])  # appends after the plan: no conflict
        m.record([OrderFilled("P.0", "tx", Decimal(6), Decimal(3)),
                  OrderPartiallyFilled("P", "P.0", Decimal(6), Decimal(3))])  # fmt: skip
        stream = [r.event for r in j.read_stream(order_stream("P"))]
        assert [type(e).__name__ for e in stream][2] == "RoutePlanned"
        again = OrderStore.replay(j)
        assert again.state_hash() == m.store.state_hash()
        assert again.plans["P"][0] == plan  # the plan round-trips through the journal codec
        view = again.parent_view("P")
        assert view.filled == Decimal(6) and again.orders["P"].filled == Decimal(6)


def test_plan_for_a_missing_or_finished_parent_is_refused(tmp_path: Path) -> None:
    with SqliteJournal(tmp_path / "j.sqlite") as j:
        m = OrderManager(j)
        with pytest.raises(OrderError, match="does not exist"):
            m.record([RoutePlanned("nope", _plan("nope", [1]))])
        _submit(m, "Q", "1")
        m.record([OrderFilled("Q", "t", Decimal(1), Decimal(3))])
        with pytest.raises(OrderError, match="is filled"):
            m.record([RoutePlanned("Q", _plan("Q", [1]))])
        assert j.head()[0] == 3  # nothing of the refused plans was written


def test_a_child_beyond_the_parent_is_denied(tmp_path: Path) -> None:
    with SqliteJournal(tmp_path / "j.sqlite") as j:
        m = OrderManager(j)
        _submit(m, "P", "10")
        assert _submit(m, "P.0", "7", "P") == "accepted"
        o = m.submit(SubmitOrder("P.1", "WETH/USDC", Side.BUY, Decimal(4), parent_id="P"))
        assert (o.state.value, o.code) == ("denied", "CHILD_EXCEEDS_PARENT")
