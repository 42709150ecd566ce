"""bridge.deposit_to_mint: a USDC deposit from the Safe on L1 (through the agent module) until
the venue sees the bridged tokens minted on L2, with the relayer (2-of-3 signatures,
confirmations=1) running in the same process, on the two anvil devnets.

Baseline, same run: ``bridge.l1_deposit`` (the Safe's deposit transaction alone, submit to
parsed receipt), so the ratio shows what relaying (watch, sign twice, simulate, submit on L2,
observe) adds on top of the L1 transaction itself.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from agent.bridge.relayer import Relayer, RelayerConfig
from agent.chain.rpc import RpcClient
from agent.deploy.devworld import (
    DEPLOYER_KEY,
    OPERATOR_KEY,
    OWNER_KEYS,
    RELAYER_KEYS,
    address_of,
    bring_up,
)
from agent.deploy.transactor import Transactor
from agent.journal import SqliteJournal
from agent.model import Side, Spot
from agent.signing import LocalSigner
from agent.venues.base import ChildOrder
from agent.venues.bridge import BridgeVenue
from agent.venues.bridge.demo import prepare_bridge_demo
from agent.wallet.deploy import deploy_safe, deploy_wallet
from agent.wallet.executor import ModuleExecutor
from bench.common import latency_metric

N = 30
POLL = 0.05  # the relayer's default poll interval


async def run() -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-bridge-"))
    w = bring_up(tmp / "world")
    with w:
        l1_url, l2_url = w.devnets.l1.rpc_url, w.devnets.l2.rpc_url
        tx = Transactor(l1_url, DEPLOYER_KEY)
        owners = [address_of(k) for k in OWNER_KEYS]
        l2_safe = deploy_safe(Transactor(l2_url, DEPLOYER_KEY), w.l2, owners, 2)
        wal = deploy_wallet(
            tx, w.l1, owners=owners, threshold=2, operator=address_of(OPERATOR_KEY),
            owner_keys=list(OWNER_KEYS), policy_vars={"BRIDGE_RECIPIENT": l2_safe},
        )  # fmt: skip
        usdc = w.l1.asset("USDC")
        tx.transact("DevToken", usdc.address, "mint", wal.safe, usdc.to_base(Decimal(10**8)))
        l1, l2 = prepare_bridge_demo(
            l1_url=l1_url, l2_url=l2_url, l1=w.l1, l2=w.l2,
        )  # fmt: skip
        journal = SqliteJournal(tmp / "journal.sqlite")
        l1_rpc = await RpcClient(l1_url, expected_chain_id=l1.chain_id).connect()
        l2_rpc = await RpcClient(l2_url, expected_chain_id=l2.chain_id).connect()
        cfg = RelayerConfig(
            l1_url, l2_url, l1.address("BridgeEscrow"), l2.address("BridgeL2"),
            relayer_keys=tuple(RELAYER_KEYS[:2]), submitter_key=RELAYER_KEYS[2],
            l1_from_block=await l1_rpc.block_number(), l2_from_block=await l2_rpc.block_number(),
            poll_interval=POLL,
        )  # fmt: skip
        stop = asyncio.Event()
        relayer = await Relayer(cfg, journal).connect()
        task = asyncio.create_task(relayer.run(stop))
        ex = ModuleExecutor(
            l1_rpc, LocalSigner(OPERATOR_KEY), module=wal.module, multisend=wal.multisend, chain_id=l1.chain_id,
            journal=journal,
        )  # fmt: skip
        venue = await BridgeVenue(
            l1_rpc=l1_rpc, l2_rpc=l2_rpc, l1=l1, l2=l2, executor=ex, safe=wal.safe,
            recipient=l2_safe, journal=journal,
        ).connect()  # fmt: skip
        to_mint, l1_only = [], []
        try:
            for i in range(N + 3):  # the first 3 warm caches and connections
                t0 = time.perf_counter()
                ref = await venue.submit(
                    ChildOrder(f"bench-bridge-{i}", Spot("USDC", "USDC"), Side.SELL, Decimal(1_000))
                )
                t1 = time.perf_counter()
                await venue.wait(ref, timeout=30)
                t2 = time.perf_counter()
                if i >= 3:
                    l1_only.append((t1 - t0) * 1e6)
                    to_mint.append((t2 - t0) * 1e6)
        finally:
            stop.set()
            await task
            await relayer.close()
            await venue.close()
            await l1_rpc.close()
            await l2_rpc.close()
            journal.close()
    m = latency_metric(
        "bridge.deposit_to_mint", to_mint, baseline=("bridge.l1_deposit", l1_only),
        samples=N, relayer_poll_s=POLL, confirmations=1, signatures="2-of-3",
    )  # fmt: skip
    # in milliseconds: these are chain round trips, not microsecond hot-path calls
    for k in ("value", "p99"):
        m[k] = round(m[k] / 1000, 2)
    for k in ("value", "p99"):
        m["baseline"][k] = round(m["baseline"][k] / 1000, 2)
    m["unit"] = "ms"
    return [m]
