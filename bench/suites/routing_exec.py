"""route.e2e: a parent order -> its plan over every venue -> the signed batch on the devnet.

One 250 WETH buy per round on the routing world (L1 pools at 500/3000/10000 and V2, the L2's
bridged pool, the exchange simulator's book), through `agent trade order`'s wiring
(agent.bootstrap.build_order_app): the router reads every venue at its pin (V3 ticks, V2
reserves, the book, gas per leg), plans, and the executor re-checks every leg at the pin,
builds one MultiSend batch per chain, signs it through the TxEngine (write-ahead TxSigned) and
broadcasts it. Reported per round, from the parent order's submission:

  route.e2e            to the first signed batch broadcast (the issue's metric), p50/p99
  route.e2e.plan       reading every venue and planning (part of the above)
  route.e2e.filled     to every child filled and journaled (receipts, the CEX trades)

Each round starts from the same state (both chains reverted to a snapshot, the book re-seeded,
a fresh journal), so every round routes the same order over the same liquidity. Baseline: the
single-venue swap pipeline (`agent trade swap`'s) for the same 250 WETH, to its signed tx, in
the same run.
"""

from __future__ import annotations

import tempfile
import time
from decimal import Decimal
from pathlib import Path

from agent.bootstrap import ChainAccess, build_order_app, build_swap_app
from agent.deploy.devworld import (
    DEPLOYER_KEY,
    L2_TRADING_POLICY,
    OPERATOR_KEY,
    bridge_deposit,
    bring_up,
    deploy_dev_wallet,
    routing_sim_config,
    seed_routing_book,
)
from agent.deploy.transactor import Transactor
from agent.exchange_sim.server import ExchangeSim
from agent.model import Side, Spot, SwapIntent
from bench.common import latency_metric

ROUNDS = 12
SIZE = 250


def _reseed(sim: ExchangeSim) -> None:
    from agent.deploy.devworld import CEX_MAKER, CEX_SYMBOL

    ex = sim.exchange
    ex.cancel_all(CEX_MAKER, CEX_SYMBOL)
    seed_routing_book(sim)
    have = ex.ledger.free("trader", "USDC")  # the taker's cash back to where it started
    if have < Decimal(1_000_000):
        ex.ledger.deposit("trader", "USDC", Decimal(1_000_000) - have)


async def run() -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-route-"))
    world = bring_up(tmp / "world")
    sim = ExchangeSim(routing_sim_config())
    await sim.start()
    try:
        w1 = deploy_dev_wallet(world, salt=77, usdc=Decimal(20_000_000))
        w2 = deploy_dev_wallet(world, layer="l2", salt=78, policy_template=L2_TRADING_POLICY)
        t1 = Transactor(world.devnets.l1.rpc_url, DEPLOYER_KEY)
        t2 = Transactor(world.devnets.l2.rpc_url, DEPLOYER_KEY)
        bridge_deposit(t1, t2, world.l1, world.l2, "USDC", 2_000_000 * 10**6, w2.safe)
        snaps = [world.devnets.l1.snapshot(), world.devnets.l2.snapshot()]
        e2e, plan_t, filled, single, children = [], [], [], [], []
        for i in range(ROUNDS):
            snaps = [d.revert(s) for d, s in zip(world.devnets, snaps, strict=True)]
            _reseed(sim)
            app = await build_order_app(
                l1=ChainAccess(world.devnets.l1.rpc_url, world.l1, w1.safe, w1.module,
                               w1.policy_file),
                l2=ChainAccess(world.devnets.l2.rpc_url, world.l2, w2.safe, w2.module,
                               w2.policy_file),
                operator_key=OPERATOR_KEY, journal_path=tmp / f"j{i}.sqlite",
                cex=(("binance", sim.url),), cex_symbol="ETH/USDC",
                time_bps_per_min=Decimal("0.1"),
            )  # fmt: skip
            try:
                t0 = time.perf_counter()
                rep = await app.routing.plan(Spot("WETH", "USDC"), Side.BUY, SIZE * 10**18,
                                             parent_id=f"bench-{i}")  # fmt: skip
                tp = time.perf_counter() - t0
                out = await app.executor.run(rep.plan)
                if out.state != "filled" or not all(c.exact for c in out.children):
                    raise AssertionError(f"round {i}: {out.state} {out.reason}")
                # the executor's clock starts at its own run(); add the planning before it
                e2e.append((tp + out.timings["signed_s"]) * 1e6)
                filled.append((tp + out.timings["total_s"]) * 1e6)
                plan_t.append(tp * 1e6)
                children.append(len(out.children))
            finally:
                await app.close()
        # baseline: the single-venue pipeline for the same size, to its signed transaction
        for i in range(ROUNDS):
            snaps = [d.revert(s) for d, s in zip(world.devnets, snaps, strict=True)]
            app1 = await build_swap_app(
                rpc_url=world.devnets.l1.rpc_url, manifest=world.l1, safe=w1.safe,
                module=w1.module, operator_key=OPERATOR_KEY, journal_path=tmp / f"s{i}.sqlite",
                max_notional=Decimal(10**7),
            )  # fmt: skip
            try:
                seen: list[float] = []
                eng = app1.executor.engine
                orig = eng.send

                async def timed_send(spec, _orig=orig, _seen=seen):  # type: ignore[no-untyped-def]
                    res = await _orig(spec)
                    _seen.append(time.perf_counter())
                    return res

                eng.send = timed_send  # type: ignore[method-assign]
                t0 = time.perf_counter()
                r = await app1.pipeline.run(
                    SwapIntent(f"single-{i}", Side.BUY, "WETH", "USDC", Decimal(SIZE), 100)
                )
                if r.status != "filled":
                    raise AssertionError(f"single round {i}: {r.status} {r.reason}")
                single.append((seen[0] - t0) * 1e6)
            finally:
                await app1.close()
    finally:
        await sim.stop()
        world.stop()
    kids = sorted(children)[len(children) // 2]
    return [
        latency_metric(
            "route.e2e",
            e2e,
            ("swap.single_venue_to_signed (same size)", single),
            children=kids,
            note="parent order -> plan over 6 venues -> signed batches broadcast",
        ),
        latency_metric("route.e2e.plan", plan_t),
        latency_metric("route.e2e.filled", filled),
    ]
