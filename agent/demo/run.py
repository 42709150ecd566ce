"""scripts/demo: devnets up, world deployed, a 2-of-3 Safe deployed and funded, intents
executed through the module, a report printed, devnets shut down (also on Ctrl-C)."""

from __future__ import annotations

import asyncio
import shutil
import time
from decimal import Decimal
from pathlib import Path

from rich.console import Console

from agent.bootstrap import build_swap_app
from agent.chain.toolchain import REPO_ROOT
from agent.demo.report import swap_table
from agent.deploy.devworld import (
    DEPLOYER_KEY,
    OPERATOR_KEY,
    OWNER_KEYS,
    DevWorld,
    address_of,
    bring_up,
)
from agent.deploy.transactor import Transactor
from agent.model import Side, SwapIntent
from agent.wallet.deploy import WalletDeployment, deploy_wallet

console = Console()
STATE = REPO_ROOT / ".state" / "demo"
SAFE_FUNDING_USDC = Decimal(2_000_000)


def fund_safe(world: DevWorld, w: WalletDeployment) -> None:
    tx = Transactor(world.devnets.l1.rpc_url, DEPLOYER_KEY)
    usdc = world.l1.asset("USDC")
    tx.transact("DevToken", usdc.address, "mint", w.safe, usdc.to_base(SAFE_FUNDING_USDC))


def setup_wallet(world: DevWorld) -> WalletDeployment:
    tx = Transactor(world.devnets.l1.rpc_url, DEPLOYER_KEY)
    return deploy_wallet(
        tx, world.l1, owners=[address_of(k) for k in OWNER_KEYS], threshold=2,
        operator=address_of(OPERATOR_KEY), owner_keys=list(OWNER_KEYS),
    )  # fmt: skip


async def trade(world: DevWorld, w: WalletDeployment, journal: Path) -> None:
    app = await build_swap_app(
        rpc_url=world.devnets.l1.rpc_url, manifest=world.l1, safe=w.safe, module=w.module,
        operator_key=OPERATOR_KEY, journal_path=journal,
    )  # fmt: skip
    try:
        intents = [
            SwapIntent("demo-buy-weth", Side.BUY, "WETH", "USDC", Decimal("25"), 30),
            SwapIntent("demo-buy-weth-large", Side.BUY, "WETH", "USDC", Decimal("250"), 100),
            SwapIntent("demo-sell-weth", Side.SELL, "WETH", "USDC", Decimal("5"), 30),
            SwapIntent("demo-buy-weth", Side.BUY, "WETH", "USDC", Decimal("25"), 30),  # resubmitted
        ]
        for intent in intents:
            r = await app.pipeline.run(intent)
            console.print(swap_table(r))
    finally:
        await app.close()


def main() -> int:
    t0 = time.perf_counter()
    if STATE.exists():
        shutil.rmtree(STATE)
    with console.status("bringing up L1 + L2 devnets and deploying the world"):
        world = bring_up(STATE)
    with world:
        console.print(
            f"[bold]devnets[/]: L1 {world.devnets.l1.rpc_url} (chain {world.l1.chain_id}), "
            f"L2 {world.devnets.l2.rpc_url} (chain {world.l2.chain_id}); "
            f"start {world.timings['devnet_start_s']:.2f}s, world deploy {world.timings['world_deploy_s']:.2f}s"
        )
        w = setup_wallet(world)
        fund_safe(world, w)
        console.print(
            f"[bold]safe[/] {w.safe} ({w.threshold}-of-{len(w.owners)}), module {w.module}, "
            f"operator {w.operator}; funded with {SAFE_FUNDING_USDC:,} USDC"
        )
        asyncio.run(trade(world, w, STATE / "journal.sqlite"))
    console.print(
        f"[bold]demo finished[/] in {time.perf_counter() - t0:.1f}s; journal: {STATE / 'journal.sqlite'}"
    )
    return 0
