"""fix.new_order_to_ack: NewOrderSingle in over TCP -> ExecutionReport(New) back, µs, through
the daemon (``agent run`` with ``[fix]``) on anvil: the acceptor's orders go through the
daemon's order intake (agent/service/intake.py: validated, pre-checked, journaled ACCEPTED,
acknowledged), and are routed and executed by the PlanExecutor behind the acknowledgement;
each order's Filled report is awaited before the next is sent, so every ack is measured with
the intake's queue empty. Baseline in the same run, same daemon, interleaved:
``api.post_order``, POST /v1/orders -> 202 (the REST acknowledgement of the same intake), and
``fix.new_order_to_fill`` (NewOrderSingle -> ExecutionReport(Filled)) against
``api.post_to_filled`` (POST -> the order's OrderFilled journaled).

``fix.oms_new_order_to_ack``: the acceptor alone, with the in-process OMS order entry on a
SQLite journal on disk (every append durable); the client is a bare simplefix initiator on
loopback sending one order at a time. Baseline in the same run: ``oms.submit``, the same
orders straight into ``OmsOrderEntry.submit`` (what the FIX path wraps: the OMS append), so
the difference is the FIX layer (parsing, the session's journaled sequence records, the
report).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
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


async def _logged_on(port: int) -> tuple[asyncio.StreamWriter, Any]:
    """A bare initiator logged on as DESK: its writer and ``next_of(msg_type)``."""
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
    return writer, next_of


async def _fix_latencies(port: int) -> list[float]:
    writer, next_of = await _logged_on(port)
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
        "fix.oms_new_order_to_ack",
        fix_us,
        baseline=("oms.submit", direct),
        goal="p50 <= 5000 us",
        note="NewOrderSingle -> ExecutionReport(New) over loopback TCP, one order at a time, "
        "SQLite journal with synchronous=FULL: the order's append is durable before the "
        "report; the received number and the report's own record are journaled without "
        "holding the report (agent/service/fix/store.py); baseline: OmsOrderEntry.submit",
    )
    return [*await _daemon_metrics(), m, base]


N_DAEMON = 40  # per path; every order is a real swap mined on anvil


async def _daemon_metrics() -> list[dict[str, Any]]:
    import os

    import aiohttp

    from agent.bootstrap import build_daemon
    from agent.deploy.devworld import bring_up, deploy_dev_wallet
    from agent.service.config import load
    from agent.service.devconfig import read_env, write_dev_config

    state = Path(tempfile.mkdtemp(prefix="bench-fix-"))
    world = bring_up(state)
    try:
        wallet = deploy_dev_wallet(world, salt=93, usdc=Decimal(5_000_000))
        cfg, env = write_dev_config(state, world, wallet, api_port=0)
        text = cfg.read_text().replace("max_orders = 50", "max_orders = 100000")
        cfg.write_text(
            text + '\n[fix]\nport = 0\n\n[[fix.sessions]]\ntarget_comp_id = "DESK"\n'
            'username = "desk"\npassword_env = "BENCH_FIX_PW"\n'
        )
        os.environ["BENCH_FIX_PW"] = "pw"
        os.environ.update(read_env(env))
        daemon = await build_daemon(load(cfg))
        await daemon.start()
        headers = {"Authorization": f"Bearer {os.environ['AGENT_API_TOKEN_TRADE']}"}
        port = int(daemon.fix_address.rsplit(":", 1)[1])
        ack_us: list[float] = []
        fill_us: list[float] = []
        rest_us: list[float] = []
        rest_fill_us: list[float] = []
        try:
            writer, next_of = await _logged_on(port)
            seq = 2

            async def via_fix(i: int) -> tuple[float, float]:
                nonlocal seq
                raw = _msg("D", seq, [
                    (11, f"f{i}"), (55, "WETH/USDC"), (54, 1),
                    (60, "20260101-00:00:00"), (38, "0.01"), (40, 1),
                ])  # fmt: skip
                seq += 1
                t0 = time.perf_counter_ns()
                writer.write(raw)
                new = await next_of(b"8")
                t1 = time.perf_counter_ns()
                fill = await next_of(b"8")
                t2 = time.perf_counter_ns()
                if new.get(150) != b"0" or fill.get(39) != b"2":
                    raise RuntimeError(f"FIX order f{i}: {new} / {fill}")
                return (t1 - t0) / 1000, (t2 - t0) / 1000

            async with aiohttp.ClientSession() as http:

                async def via_rest(i: int) -> tuple[float, float]:
                    cid = f"r{i}"
                    body = {"client_order_id": cid, "side": "buy",
                            "base": "WETH", "quote": "USDC", "size": "0.01"}  # fmt: skip
                    wall0 = time.time_ns()  # the journal's clock, for the fill
                    t0 = time.perf_counter_ns()
                    async with http.post(
                        daemon.url + "/v1/orders", json=body, headers=headers
                    ) as r:
                        got = await r.json()
                    t1 = time.perf_counter_ns()
                    if r.status != 202:
                        raise RuntimeError(f"REST order {cid}: {r.status} {got}")
                    await daemon.intake.join()  # executed behind the 202
                    o = daemon.order(cid)
                    if o.state.value != "filled":
                        raise RuntimeError(f"REST order {cid}: {o.state.value} {o.reason}")
                    return (t1 - t0) / 1000, (_filled_at(daemon, cid) - wall0) / 1000

                for i in range(3):  # warm-up: connections, caches
                    await via_fix(10_000 + i)
                    await via_rest(10_000 + i)
                for i in range(N_DAEMON):
                    a, f = await via_fix(i)
                    ack_us.append(a)
                    fill_us.append(f)
                    ra, rf = await via_rest(i)
                    rest_us.append(ra)
                    rest_fill_us.append(rf)
            writer.close()
        finally:
            await daemon.stop()
    finally:
        world.stop()
    ack = latency_metric(
        "fix.new_order_to_ack", ack_us, baseline=("api.post_order", rest_us),
        goal="p50 <= 5000 us", goal_met=statistics.median(ack_us) <= 5000, n=N_DAEMON,
        note="daemon on anvil: NewOrderSingle -> ExecutionReport(New), after the intake's "
        "validation, pre-check and durable accept (no RPC before the ack); baseline POST "
        "/v1/orders -> 202 through the same intake",
    )  # fmt: skip
    fill = latency_metric(
        "fix.new_order_to_fill", fill_us, baseline=("api.post_to_filled", rest_fill_us),
        n=N_DAEMON,
        note="NewOrderSingle -> ExecutionReport(Filled): routed, signed, mined, filled; "
        "baseline POST -> the parent's OrderFilled journaled",
    )  # fmt: skip
    return [ack, fill]


def _filled_at(daemon: Any, cid: str) -> int:
    """recorded_at_ns of the parent's OrderFilled (wall clock)."""
    for rec in daemon.primary.app.journal.read_stream(f"order-{cid}"):
        if type(rec.event).__name__ == "OrderFilled":
            return rec.recorded_at_ns
    raise RuntimeError(f"no OrderFilled for {cid}")
