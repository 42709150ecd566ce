"""Foundation timings: devnet start, world deploy vs load (dump/load reuse), and one
intent end to end on the devnet (quote both AMMs -> sign -> Safe module -> receipt -> journal).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from agent.bootstrap import build_swap_app
from agent.chain import devnet
from agent.deploy.devworld import (
    DEPLOYER_KEY,
    OPERATOR_KEY,
    OWNER_KEYS,
    address_of,
    bring_up,
    dump_world,
    load_world,
)  # fmt: skip
from agent.deploy.transactor import Transactor
from agent.model import Side, SwapIntent
from agent.wallet.deploy import deploy_wallet
from bench.common import latency_metric


async def run() -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-world-"))
    starts = []
    for _ in range(5):
        t = time.perf_counter()
        p = devnet.start_pair()
        starts.append((time.perf_counter() - t) * 1e3)
        p.stop()
    w = bring_up(tmp / "a")
    deploy_ms = w.timings["world_deploy_s"] * 1e3
    dump_world(w, tmp / "dump")
    w.stop()
    w = load_world(tmp / "dump", tmp / "b")
    load_ms = w.timings["world_load_s"] * 1e3
    out = [
        {"name": "devnet.start_pair", "value": round(statistics.median(starts), 1), "unit": "ms"},
        {"name": "world.deploy", "value": round(deploy_ms, 1), "unit": "ms",
         "baseline": {"name": "world.load (anvil dump/load)", "value": round(load_ms, 1)},
         "ratio": round(deploy_ms / load_ms, 2)},
    ]  # fmt: skip
    with w:
        tx = Transactor(w.devnets.l1.rpc_url, DEPLOYER_KEY)
        wal = deploy_wallet(
            tx, w.l1, owners=[address_of(k) for k in OWNER_KEYS], threshold=2,
            operator=address_of(OPERATOR_KEY), owner_keys=list(OWNER_KEYS),
        )  # fmt: skip
        usdc = w.l1.asset("USDC")
        tx.transact("DevToken", usdc.address, "mint", wal.safe, usdc.to_base(Decimal(10**7)))
        app = await build_swap_app(
            rpc_url=w.devnets.l1.rpc_url, manifest=w.l1, safe=wal.safe, module=wal.module,
            operator_key=OPERATOR_KEY, journal_path=tmp / "j.sqlite",
        )  # fmt: skip
        try:
            samples = []
            for i in range(40):
                t = time.perf_counter_ns()
                r = await app.pipeline.run(
                    SwapIntent(f"b{i}", Side.BUY, "WETH", "USDC", Decimal("0.5"), 50)
                )
                samples.append((time.perf_counter_ns() - t) / 1000)
                assert r.status == "filled"
        finally:
            await app.close()
    out.append(latency_metric("skeleton.intent_to_receipt", samples[5:]))
    return out
