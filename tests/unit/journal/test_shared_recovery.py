"""Start-up recovery on a shared PostgreSQL journal: a daemon that restarts expires its own
accepted-but-unsigned swaps, never another daemon's order caught between accept and sign."""

from __future__ import annotations

import uuid
from decimal import Decimal
from types import SimpleNamespace

import agent.oms  # noqa: F401  (registers the OMS event types)
from agent.execution.tracking import own_venues, unsent_expiries
from agent.journal.postgres import PostgresJournal
from agent.model import Side
from agent.oms import OrderManager, SubmitOrder
from agent.oms.events import OrderSubmitted
from agent.oms.order import OrderState

L1 = own_venues(SimpleNamespace(name="L1"))  # type: ignore[arg-type]
L2 = own_venues(SimpleNamespace(name="L2"))  # type: ignore[arg-type]


def swap(cid: str, venue: str) -> SubmitOrder:
    return SubmitOrder(cid, "WETH/USDC", Side.BUY, Decimal("1.5"), venue=venue, strategy="swap")


async def test_a_restart_leaves_the_other_daemons_order_in_flight_alone(pg_server) -> None:
    schema = f"rec_{uuid.uuid4().hex[:8]}"
    with (
        PostgresJournal(pg_server.dsn, schema=schema) as ja,
        PostgresJournal(pg_server.dsn, schema=schema) as jb,
    ):
        a, b = OrderManager.open(ja), OrderManager.open(jb)
        # daemon A (a Safe on L1) accepted a swap and died before signing it
        stale = await a.submit_async(swap("a-1", "uniswap_v3@L1"))
        # daemon B (a Safe on L2) has just accepted one and is about to sign it
        inflight = await b.submit_async(swap("b-1", "uniswap_v2@L2"))
        assert stale.state is inflight.state is OrderState.ACCEPTED

    # A restarts: a new process, a new store on the same journal, B still running
    with (
        PostgresJournal(pg_server.dsn, schema=schema) as ja,
        PostgresJournal(pg_server.dsn, schema=schema) as jb,
    ):
        a, b = OrderManager.open(ja), OrderManager.open(jb)
        # both unsigned, both accepted swaps: the old rule expired both
        assert {o.client_order_id for o in a.store.orders.values()} == {"a-1", "b-1"}
        expiries = unsent_expiries(a, L1)
        assert [e.client_order_id for e in expiries] == ["a-1"]
        await a.record_async(expiries)

        # B goes on as if nothing happened: it signs and journals its order's submission
        b.sync()
        assert b.store.get("b-1").state is OrderState.ACCEPTED
        await b.record_async([OrderSubmitted("b-1", "uniswap_v2@L2", "0x" + "ab" * 32)])
        assert b.store.get("b-1").state is OrderState.SUBMITTED
        a.sync()
        assert a.store.get("a-1").state is OrderState.EXPIRED
        assert a.store.get("b-1").state is OrderState.SUBMITTED
        assert [r.type for r in ja.read_stream("order-b-1")] == [
            "OrderInitialized",
            "OrderAccepted",
            "OrderSubmitted",
        ]
        assert ja.verify().ok

        # and when B restarts later, it expires nothing of A's (A's is terminal anyway)
        assert unsent_expiries(b, L2) == []


def test_own_venues_are_the_chains_amm_venues() -> None:
    assert {"uniswap_v2@L1", "uniswap_v3@L1"} == L1
    assert not L1 & L2
