"""A PostgreSQL outage does not stall the event loop: the reads a daemon makes on its loop
(the head before every order, the journal follower's read_all) fail at once or answer from
what the store knows, while a background thread reconnects; appends wait in the writer."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from decimal import Decimal

import pytest

import agent.oms  # noqa: F401  (registers the OMS event types)
from agent.errors import JournalError
from agent.journal.postgres import PostgresJournal
from agent.model import Side
from agent.oms import OrderManager, SubmitOrder
from agent.oms.order import OrderState


async def test_the_loop_keeps_ticking_through_an_outage(pg_server) -> None:
    schema = f"lr_{uuid.uuid4().hex[:8]}"
    with PostgresJournal(
        pg_server.dsn, schema=schema, read_retry_for=30.0, backoff=(0.05, 0.2)
    ) as j:
        m = OrderManager.open(j)
        first = await m.submit_async(SubmitOrder("o-1", "WETH/USDC", Side.BUY, Decimal(1)))
        assert first.state is OrderState.ACCEPTED
        ticks: list[float] = []

        async def heartbeat() -> None:
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        hb = asyncio.create_task(heartbeat())
        await asyncio.to_thread(pg_server.stop, "immediate")
        try:
            # what the daemon does on its loop, 20 times over: the head before an order
            # (answered at once), the follower's read (refused at once, never the retries
            # a thread makes: read_retry_for is 30 s)
            failures = 0
            for _ in range(20):
                m.sync()
                try:
                    list(j.read_all(1, decode=False))
                except JournalError:
                    failures += 1
                await asyncio.sleep(0.02)
            assert failures == 20 and j.reads_down
            # an order placed during the outage waits for the server in threads (its reads
            # in OrderManager.sync_async's, its append in the writer), not on the loop
            order = asyncio.ensure_future(
                m.submit_async(SubmitOrder("o-2", "WETH/USDC", Side.BUY, Decimal(1)))
            )
            await asyncio.sleep(0.3)
            assert not order.done()
            stalls = [b - a for a, b in itertools.pairwise(ticks)]
            # each read retried on the loop would have held it for read_retry_for
            assert max(stalls) < 1.0, f"the loop stalled for {max(stalls):.2f} s"
            assert len(ticks) > 20
        finally:
            await asyncio.to_thread(pg_server.start)
        assert (await order).state is OrderState.ACCEPTED  # the writer retried it
        for _ in range(200):  # the reconnect thread restores reads (bounded wait)
            if not j.reads_down:
                break
            await asyncio.sleep(0.05)
        assert not j.reads_down
        assert [r.stream for r in j.read_all(1, decode=False)][-1] == "order-o-2"
        m.sync()
        assert m.store.get("o-2").state is OrderState.ACCEPTED
        hb.cancel()
        with pytest.raises(asyncio.CancelledError):
            await hb


def test_off_the_loop_a_read_still_retries_through_a_restart(pg_server) -> None:
    """A CLI or a thread (no loop to stall) rides out a short outage as before."""
    import threading

    schema = f"lr_{uuid.uuid4().hex[:8]}"
    with PostgresJournal(pg_server.dsn, schema=schema, read_retry_for=30.0) as j:
        assert j.head()[0] == 0
        pg_server.stop("immediate")
        t = threading.Timer(0.5, pg_server.start)
        t.start()
        try:
            assert j.head()[0] == 0  # waited for the server instead of failing
        finally:
            t.join()
        assert j.read_retries >= 1
