"""CEX benchmarks: ccxt round trip to the simulator, our adapter's overhead over ccxt, and the
matching engine's throughput. Baselines are measured in the same run."""

from __future__ import annotations

import contextlib
import random
import time
from decimal import Decimal
from typing import Any

from bench.common import latency_metric, rate_metric

N_ROUNDTRIP = 800
N_WARMUP = 20


def _match_rate(n: int = 20_000) -> float:
    from agent.exchange_sim.exchange import Exchange, SimReject
    from agent.exchange_sim.instruments import default_spot
    from agent.model import Side

    ex = Exchange(default_spot(), clock=lambda: 0)
    for a in ("a", "b"):
        ex.ledger.deposit(a, "BTC", Decimal(10**9))
        ex.ledger.deposit(a, "USDT", Decimal(10**12))
    rng = random.Random(1)
    orders = [
        (
            "ab"[i % 2],
            Side.BUY if rng.random() < 0.5 else Side.SELL,
            Decimal(rng.randint(1, 50)) / 1000,
            Decimal(60_000 + rng.randint(-50, 50)),
        )
        for i in range(n)
    ]
    t0 = time.perf_counter()
    for acct, side, qty, px in orders:
        with contextlib.suppress(SimReject):
            ex.place(acct, "BTCUSDT", side, qty, px)
    return n / (time.perf_counter() - t0)


async def run() -> list[dict[str, Any]]:
    from agent.exchange_sim.server import ExchangeSim, SimConfig
    from agent.model import OrderType, Side, Spot, TimeInForce
    from agent.venues.base import ChildOrder
    from agent.venues.cex import CexConfig, CexVenue, build_exchange

    out = [rate_metric("exsim.match", _match_rate(), unit="orders/s")]
    sim = ExchangeSim(SimConfig(venue="binance", flow_interval_s=0))
    await sim.start()
    cfg = CexConfig(
        "binance",
        api_key="sim-key",
        secret="sim-secret",
        sim_url=sim.url,
        rate_per_s=1e6,
        burst=10**6,
    )
    raw = build_exchange(cfg, pro=False)
    venue = await CexVenue.connect(cfg)
    try:
        await raw.load_markets()
        direct: list[float] = []
        adapter: list[float] = []
        pc = time.perf_counter_ns
        inst = Spot("BTC", "USDT")
        # the adapter's input is built before the clock starts, as the baseline's arguments are
        children = [
            ChildOrder(
                f"ad-{i}",
                inst,
                Side.BUY,
                Decimal("0.001"),
                OrderType.LIMIT,
                Decimal("30000"),
                TimeInForce.GTC,
            )
            for i in range(N_ROUNDTRIP + N_WARMUP)
        ]

        async def via_ccxt(i: int) -> int:
            t0 = pc()
            await raw.create_order(
                "BTC/USDT",
                "limit",
                "buy",
                0.001,
                30000,
                {"clientOrderId": f"raw-{i}", "timeInForce": "GTC"},
            )
            return pc() - t0

        async def via_adapter(i: int) -> int:
            t0 = pc()
            await venue.submit(children[i])
            return pc() - t0

        for i in range(N_ROUNDTRIP + N_WARMUP):
            # interleaved, alternating which goes first, so both see the same machine load
            # and neither always follows the other's server-side tail
            if i % 2:
                a, d = await via_adapter(i), await via_ccxt(i)
            else:
                d, a = await via_ccxt(i), await via_adapter(i)
            if i >= N_WARMUP:
                direct.append(d / 1000)
                adapter.append(a / 1000)
        out.append(latency_metric("cex.roundtrip", direct, venue="binance-sim"))
        out.append(
            latency_metric(
                "cex.adapter_overhead",
                adapter,
                baseline=("ccxt.create_order", direct),
                goal_ratio=1.1,
            )
        )
    finally:
        await raw.close()
        await venue.close()
        await sim.stop()
    return out
