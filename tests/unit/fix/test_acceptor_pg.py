"""The FIX acceptor on a PostgreSQL journal whose server goes away: an order waits for the
journal (nothing is acknowledged before it is durable) and goes through when the server is
back; past the retry window the session hangs up (an answer that cannot be journaled is not
sent) and the client's resend after its next Logon brings the order in, once."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import agent.oms  # noqa: F401  (registers the OMS event types)
from agent.journal.postgres import PostgresJournal
from agent.oms import OrderManager
from agent.service.fix.acceptor import FixAcceptor
from agent.service.fix.orderentry import OmsOrderEntry
from agent.service.fix.session import SessionConfig

from .initiator import Initiator, get
from .test_acceptor import nos

CFG = SessionConfig("AGENT", "DESK", "desk", "secret")


async def test_orders_ride_out_a_database_outage(pg_server) -> None:
    j = PostgresJournal(
        pg_server.dsn,
        schema=f"fix_{uuid.uuid4().hex[:8]}",
        retry_for=60,
        read_retry_for=60,
        backoff=(0.05, 0.3),
    )
    # poll_s: no background reporting, so the outage meets the order's own journal calls
    acc = FixAcceptor(j, OmsOrderEntry(OrderManager.open(j)), [CFG], poll_s=3600)
    port = await acc.start()
    try:
        c = Initiator(port)
        await c.connect()
        await c.logon()
        # a short outage: the order waits for the journal, then is acknowledged. The server
        # comes back from a plain thread once the journal is retrying: its reads are
        # synchronous, so while it retries the event loop (this test's client too) waits
        await asyncio.to_thread(pg_server.stop, "fast")
        retries = j.read_retries + j.reconnects

        def restart_once_retrying() -> None:
            while j.read_retries + j.reconnects == retries:
                time.sleep(0.01)
            pg_server.start()

        back = threading.Thread(target=restart_once_retrying)
        back.start()
        await c.send("D", nos("p1"))
        er = await c.expect("8")
        back.join()
        assert (get(er, 150), get(er, 11)) == ("0", "p1")
        # the report goes out before its own record's commit (SessionStore.record_sent): the
        # journal's writer reconnects in that commit's turn at the latest
        await acc.sessions()[0].settle_sent()
        assert j.reconnects >= 1

        # longer than the retry window: the session hangs up, nothing answered or journaled
        await acc.sessions()[
            0
        ].settle()  # p1's received number is durable: the outage meets p2 only
        j._retry_for = j._read_retry_for = 0.3
        await asyncio.to_thread(pg_server.stop, "fast")
        try:
            await c.send("D", nos("p2"))
            p2_seq = c.seq - 1
            assert await c.closed()
            assert [get(m, 11) for m in c.received if get(m, 35) == "8"] == ["p1"]
        finally:
            await asyncio.to_thread(pg_server.start)
        j._retry_for = j._read_retry_for = 30
        assert OrderManager.open(j).store.get("DESK.p2") is None

        # the client logs on again: the acceptor finds the gap, the client resends p2
        c2 = Initiator(port)
        c2.seq = c.seq
        await c2.connect()
        await c2.logon()
        rr = await c2.expect("2")
        assert get(rr, 7) == str(p2_seq)
        await c2.send_raw(c2.build("D", nos("p2"), seq=p2_seq, poss_dup=True))
        er2 = await c2.expect("8")
        assert (get(er2, 150), get(er2, 11)) == ("0", "p2")
        # the Logon's own number is administrative: gap-filled
        await c2.send_raw(c2.build("4", [(123, "Y"), (36, c2.seq)], seq=c2.seq - 1, poss_dup=True))
        await c2.send("1", [(112, "ok")])
        assert get(await c2.expect("0"), 112) == "ok"
        await c2.close()
        store = OrderManager.open(j).store
        assert {o.client_order_id: o.state.value for o in store.orders.values()} == {
            "DESK.p1": "accepted",
            "DESK.p2": "accepted",
        }
        assert j.verify().ok
    finally:
        await acc.stop()
        j.close()
