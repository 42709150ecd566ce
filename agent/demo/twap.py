"""The demo's TWAP: one parent (5 WETH) in 5 slices over 20 s, each slice a routed parent
order (the L1 pools and the exchange simulator's book), then its execution report as
`agent report execution` prints it."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from agent.algos.params import AlgoKind, AlgoParams
from agent.algos.wiring import outcome_lines, run_algo
from agent.model import Side


async def twap_demo(world: Any, w: Any, journal: Path, print_line: Any) -> None:
    from agent.bootstrap import ChainAccess, build_order_app
    from agent.deploy.devworld import OPERATOR_KEY, routing_sim_config, seed_routing_book
    from agent.exchange_sim.server import ExchangeSim

    sim = ExchangeSim(routing_sim_config())
    await sim.start()
    seed_routing_book(sim)
    try:
        app = await build_order_app(
            l1=ChainAccess(world.devnets.l1.rpc_url, world.l1, w.safe, w.module, w.policy_file),
            operator_key=OPERATOR_KEY, journal_path=journal, cex=(("binance", sim.url),),
            cex_symbol="ETH/USDC",
        )  # fmt: skip
        try:
            p = AlgoParams(
                AlgoKind.TWAP, Side.BUY, "WETH", "USDC", Decimal(5), time.time_ns() // 1_000_000,
                horizon_s=20, interval_s=4, size_jitter=Decimal("0.1"), lot=Decimal("0.0001"),
            )  # fmt: skip
            out = await run_algo(
                app, "demo-twap-5", p, windows=[], stretch=False, base_decimals=18,
                quote_decimals=6,
            )  # fmt: skip
        finally:
            await app.close()
    finally:
        await sim.stop()
    for line in outcome_lines(out):
        print_line(line)
