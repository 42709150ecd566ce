"""The daemon's order intake (agent/service/intake.py) on anvil: accept-then-execute.

api.submit_to_signed: POST /v1/orders over real HTTP -> the order's first batch journaled as
TxSigned (the write-ahead append before broadcast; the batch is tagged ``<id>@<chain>#0``),
measured from just before the call to that record's own ``recorded_at_ns``. The order is
routed (the router reads every venue's curve) and executed by the PlanExecutor behind the
202. Baseline, same run, same daemon, interleaved: the same intake called in process
(``Intake.accept`` of an OrderRequest), timed the same way, so the API's cost is HTTP + auth
+ strict body parsing + the JSON answer. One order at a time (each waits for its end).
Goal (issue 17): p50 of the API <= 1.3 x the in-process p50 + 1 ms.

api.throughput: CLIENTS concurrent clients POST N_TPUT orders (10,000); measured: orders/s
ACCEPTED (202: validated, pre-checked, journaled durable), the p50/p99 of submit -> 202, and
the process's peak RSS after the run (the daemon and the clients share this process). The
orders are executed behind by the intake's worker while the run goes on (real routed swaps
on anvil, far slower than acceptance: ``executed_during_run`` says how many finished); the
rest are expired with the reason by the SIGTERM drain. Baseline, same run: the in-process
``Intake.accept``, sequential, same daemon. Orders alternate buy/sell of a small size.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import latency_metric, percentile, rate_metric

N = 40  # per path; each order is routed and executed on anvil
SIZE = "0.1"
CLIENTS = 4
N_TPUT = 10_000
N_TPUT_BASE = 1_000  # in-process accepts for the baseline rate


def _signed_at(journal: Any, cid: str, since: int) -> int:
    for rec in journal.read_all(since, decode=False):
        if rec.type == "TxSigned":
            tag = json.loads(rec.data).get("client_order_id") or ""
            if tag.partition("@")[0] == cid:
                return rec.recorded_at_ns
    raise RuntimeError(f"no TxSigned for {cid}")


async def run() -> list[dict[str, Any]]:
    from agent.bootstrap import build_daemon
    from agent.deploy.devworld import bring_up, deploy_dev_wallet
    from agent.model import Side
    from agent.service.config import load
    from agent.service.devconfig import read_env, write_dev_config
    from agent.service.intake import OrderRequest

    state = Path(tempfile.mkdtemp(prefix="bench-service-"))
    world = bring_up(state)
    try:
        wallet = deploy_dev_wallet(world, salt=91, usdc=Decimal(5_000_000))
        cfg_path, env_path = write_dev_config(state, world, wallet, api_port=0)
        # the bench's order rate is above the desk's default 50 orders per 10 s
        # and every one of its 10,000 orders is accepted before the executor has run most
        text = cfg_path.read_text().replace("max_orders = 50", "max_orders = 1000000")
        cfg_path.write_text(
            text.replace("max_queued_orders = 1000 ", "max_queued_orders = 100000 ")
        )
        os.environ.update(read_env(env_path))
        daemon = await build_daemon(load(cfg_path))
        await daemon.start()
        app = daemon.primary.app
        intake = daemon.intake
        headers = {"Authorization": f"Bearer {os.environ['AGENT_API_TOKEN_TRADE']}"}
        api_us: list[float] = []
        inproc_us: list[float] = []
        try:
            async with aiohttp.ClientSession() as http:

                def body(cid: str, i: int) -> dict[str, Any]:
                    side = "buy" if i % 2 == 0 else "sell"
                    return {"client_order_id": cid, "side": side, "base": "WETH",
                            "quote": "USDC", "size": SIZE}  # fmt: skip

                async def post(cid: str, i: int) -> None:
                    async with http.post(
                        daemon.url + "/v1/orders", json=body(cid, i), headers=headers
                    ) as r:
                        got = await r.json()
                    if r.status != 202 or got.get("state") != "accepted":
                        raise RuntimeError(f"API order {cid}: {r.status} {got}")

                async def via_api(i: int) -> float:
                    cid = f"api-{i}"
                    pos = app.journal.head()[0] + 1
                    t0 = time.time_ns()
                    await post(cid, i)
                    await intake.join()  # executed behind the 202
                    return (_signed_at(app.journal, cid, pos) - t0) / 1000

                def request(cid: str, i: int) -> OrderRequest:
                    side = Side.BUY if i % 2 == 0 else Side.SELL
                    return OrderRequest(cid, side, "WETH", "USDC", Decimal(SIZE))

                async def in_process(i: int) -> float:
                    cid = f"inproc-{i}"
                    pos = app.journal.head()[0] + 1
                    t0 = time.time_ns()
                    got = await intake.accept(request(cid, i))
                    if got.order.state.value != "accepted":
                        raise RuntimeError(f"in-process order {cid}: {got.order}")
                    await intake.join()
                    return (_signed_at(app.journal, cid, pos) - t0) / 1000

                for i in range(4):  # warm-up both paths (connections, caches)
                    await via_api(10_000 + i)
                    await in_process(10_000 + i)
                for i in range(N):
                    if i % 2:  # alternate which goes first
                        inproc_us.append(await in_process(i))
                        api_us.append(await via_api(i))
                    else:
                        api_us.append(await via_api(i))
                        inproc_us.append(await in_process(i))

                # throughput: acceptance, with the executions running behind
                lat_ms: list[float] = []
                done0 = _ended(daemon)

                async def client(k: int) -> None:
                    for i in range(k, N_TPUT, CLIENTS):
                        t0 = time.perf_counter()
                        await post(f"tp-{i}", i)
                        lat_ms.append((time.perf_counter() - t0) * 1000)

                t0 = time.perf_counter()
                await asyncio.gather(*(client(k) for k in range(CLIENTS)))
                elapsed = time.perf_counter() - t0
                api_rate = N_TPUT / elapsed
                rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                executed = _ended(daemon) - done0
                queued = intake.queue.qsize()
                # baseline: the same accept in process, sequential (the queue behind it grows
                # the same way; the worker keeps executing)
                t0 = time.perf_counter()
                for i in range(N_TPUT_BASE):
                    await intake.accept(request(f"tpi-{i}", i))
                inproc_rate = N_TPUT_BASE / (time.perf_counter() - t0)
        finally:
            t_stop = time.perf_counter()
            await daemon.stop()  # drains: the order in execution ends, the queued expire
            stop_s = time.perf_counter() - t_stop
    finally:
        world.stop()
    m = latency_metric(
        "api.submit_to_signed", api_us, baseline=("intake.submit_to_signed", inproc_us), n=N,
        note="POST -> 202 -> routed -> first batch TxSigned; baseline Intake.accept in process",
    )  # fmt: skip
    base = m["baseline"]["value"]
    m["goal_us"] = round(1.3 * base + 1000, 3)  # <= 1.3x the in-process p50 plus 1 ms
    m["goal_met"] = m["value"] <= m["goal_us"]
    p99 = percentile(lat_ms, 99)
    t = rate_metric(
        "api.throughput", api_rate, "orders/s", baseline=("intake.accept_sequential", inproc_rate),
        clients=CLIENTS, n=N_TPUT, p50_ms=round(statistics.median(lat_ms), 3),
        p99_ms=round(p99, 3), goal="p99 submit->202 < 50 ms", goal_met=p99 < 50,
        peak_rss_mb_after_n=round(rss_mb, 1), executed_during_run=executed,
        queued_at_end=queued, drain_s=round(stop_s, 1),
        note="202 = validated, pre-checked, journaled ACCEPTED (durable); the routed swaps run "
        "behind on anvil; peak RSS of the bench process (daemon + its 4 HTTP clients)",
    )  # fmt: skip
    return [m, t]


def _ended(daemon: Any) -> int:
    daemon.manager.sync()
    return sum(
        1
        for o in daemon.manager.store.orders.values()
        if o.parent_id is None and o.client_order_id.startswith("tp-") and o.state.terminal
    )
