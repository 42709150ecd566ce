"""fix.new_order_to_ack: NewOrderSingle in over TCP -> ExecutionReport(New) back, µs.

The acceptor runs with the in-process OMS order entry on a SQLite journal on disk (every
append durable); the client is a bare simplefix initiator on loopback sending one order at
a time. Baseline in the same run: ``oms.submit``, the same orders straight into
``OmsOrderEntry.submit`` (what the FIX path wraps: the OMS append), so the difference is
the FIX layer (parsing, the session's two journaled sequence records, the report). The
REST path of the daemon (issue 17) is not on this branch; compare with it after the merge.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import simplefix

import agent.oms  # noqa: F401  (registers the OMS event types)
from agent.journal import SqliteJournal
from agent.model import OrderType, Side, TimeInForce
from agent.oms import OrderManager
from agent.service.fix.acceptor import FixAcceptor
from agent.service.fix.orderentry import NewOrder, OmsOrderEntry
from agent.service.fix.session import SessionConfig
from bench.common import latency_metric

ORDERS = 400
WARMUP = 30


def _msg(msg_type: str, seq: int, fields: list[tuple[int, Any]]) -> bytes:
    m = simplefix.FixMessage()
    m.append_pair(8, "FIX.4.4", header=True)
    m.append_pair(35, msg_type, header=True)
    m.append_pair(49, "DESK", header=True)
    m.append_pair(56, "AGENT", header=True)
    m.append_pair(34, seq, header=True)
    m.append_pair(52, dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H:%M:%S.000"), header=True)
    for t, v in fields:
        m.append_pair(t, v)
    return m.encode()


async def _fix_latencies(port: int) -> list[float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    parser = simplefix.FixParser()

    async def next_of(msg_type: bytes) -> simplefix.FixMessage:
        while True:
            m = parser.get_message()
            if m is not None:
                if m.get(35) == msg_type:
                    return m
                continue
            parser.append_buffer(await reader.read(65536))

    writer.write(_msg("A", 1, [(98, 0), (108, 30), (553, "desk"), (554, "pw")]))
    await next_of(b"A")
    out = []
    for i in range(WARMUP + ORDERS):
        raw = _msg(
            "D",
            i + 2,
            [
                (11, f"b{i}"),
                (55, "WETH/USDC"),
                (54, 1),
                (60, "20260101-00:00:00"),
                (38, "1"),
                (40, 2),
                (44, "3000"),
                (59, 1),
            ],
        )
        t0 = time.perf_counter_ns()
        writer.write(raw)
        er = await next_of(b"8")
        dt_us = (time.perf_counter_ns() - t0) / 1000
        assert er.get(150) == b"0", er
        if i >= WARMUP:
            out.append(dt_us)
    writer.close()
    return out


async def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(dir=".") as d, SqliteJournal(Path(d) / "fix.sqlite") as j:
        entry = OmsOrderEntry(OrderManager.open(j))
        acc = FixAcceptor(j, entry, [SessionConfig("AGENT", "DESK", "desk", "pw")])
        port = await acc.start()
        fix_us = await _fix_latencies(port)
        await acc.stop()
        direct = []
        for i in range(WARMUP + ORDERS):
            o = NewOrder(
                f"d{i}",
                "WETH/USDC",
                Side.BUY,
                Decimal(1),
                OrderType.LIMIT,
                Decimal(3000),
                TimeInForce.GTC,
            )
            t0 = time.perf_counter_ns()
            await entry.submit("DIRECT", o)
            if i >= WARMUP:
                direct.append((time.perf_counter_ns() - t0) / 1000)
    base = latency_metric("oms.submit", direct)
    m = latency_metric(
        "fix.new_order_to_ack",
        fix_us,
        baseline=("oms.submit", direct),
        goal="p50 <= 5000 us",
        note="NewOrderSingle -> ExecutionReport(New) over loopback TCP, one order at a time, "
        "SQLite journal with synchronous=FULL (3 durable appends per order: the order, the "
        "received sequence number, the report); baseline: OmsOrderEntry.submit in process",
    )
    return [m, base]
