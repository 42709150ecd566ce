"""scripts/demo: devnets up, world deployed, a 2-of-3 Safe deployed and funded; an iron
condor, a bridge transfer and a routed parent order run in this process; then the daemon
(`agent run --config agent.toml`, its own process) takes the swap intents and a TWAP through
its REST API, reports the whole fund's positions and risk, is halted and resumed by the API,
and drains on SIGTERM; the journal is verified and the devnets shut down (also on Ctrl-C).

State goes to ``--state-dir`` (default ``./.state/demo`` of the current directory: never
inside the installed package)."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console

from agent.demo.report import orders_table
from agent.deploy.devworld import (
    DEPLOYER_KEY,
    GUARDIAN_KEY,
    L2_TRADING_POLICY,
    OPERATOR_KEY,
    OWNER_KEYS,
    DevWorld,
    address_of,
    bring_up,
)
from agent.deploy.transactor import Transactor
from agent.model import Side
from agent.wallet.deploy import WalletDeployment, deploy_wallet, predict_safe

console = Console()
DEFAULT_STATE = Path(".state") / "demo"
STATE = DEFAULT_STATE  # set by main(): every step writes under it
SAFE_FUNDING_USDC = Decimal(2_000_000)
# topped up before the split order (the daemon's intents after it spend ~1.1M more)
SPLIT_TOP_UP_USDC = Decimal(1_000_000)


def fund_safe(world: DevWorld, w: WalletDeployment) -> None:
    tx = Transactor(world.devnets.l1.rpc_url, DEPLOYER_KEY)
    usdc = world.l1.asset("USDC")
    tx.transact("DevToken", usdc.address, "mint", w.safe, usdc.to_base(SAFE_FUNDING_USDC))


def setup_wallets(world: DevWorld) -> tuple[WalletDeployment, WalletDeployment]:
    """The fund's Safe on L1 and on L2, each with a PolicyModule whose policy lets bridged
    funds go only to the fund's Safe on the other chain."""
    owners = [address_of(k) for k in OWNER_KEYS]
    t1 = Transactor(world.devnets.l1.rpc_url, DEPLOYER_KEY)
    t2 = Transactor(world.devnets.l2.rpc_url, DEPLOYER_KEY)
    l1_safe = predict_safe(t1, world.l1, owners, 2)
    common = dict(
        owners=owners,
        threshold=2,
        operator=address_of(OPERATOR_KEY),
        owner_keys=list(OWNER_KEYS),
        guardian=address_of(GUARDIAN_KEY),
    )
    w2 = deploy_wallet(
        t2, world.l2, **common, policy_vars={"BRIDGE_RECIPIENT": l1_safe},
        policy_out=STATE / "policy.l2.toml", policy_template=L2_TRADING_POLICY,
    )  # fmt: skip
    w1 = deploy_wallet(
        t1, world.l1, **common, policy_vars={"BRIDGE_RECIPIENT": w2.safe},
        policy_out=STATE / "policy.l1.toml",
    )  # fmt: skip
    assert w1.safe == l1_safe, "CREATE2 prediction of the L1 Safe"
    return w1, w2


INTENTS = [  # (client id, side, size WETH, max slippage bps)
    ("demo-buy-weth", "buy", "25", 30),
    ("demo-buy-weth-large", "buy", "250", 50),
    ("demo-sell-weth", "sell", "5", 30),
    ("demo-buy-weth", "buy", "25", 30),  # resubmitted: answered, not executed twice
    # refused before signing: over the daemon's risk limits (the gate says which check)
    ("demo-too-large", "buy", "400", 100),
]


def through_api(api: Any, say: Any) -> None:
    """What the demo asks the running daemon, over HTTP only."""
    from agent.demo.daemon import (
        execution_report,
        halt_and_refuse,
        order_table,
        risk_lines,
        wait_algo,
    )

    for cid, side, size, bps in INTENTS:
        body = {"client_order_id": cid, "side": side, "base": "WETH", "quote": "USDC",
                "size": size, "max_slippage_bps": bps}  # fmt: skip
        console.print(order_table(api, body))
    say("[bold]twap[/] POST /v1/orders with algorithm twap: 5 WETH in 5 slices over 20 s")
    r = api.post(
        "/v1/orders",
        {"client_order_id": "demo-twap-5", "side": "buy", "base": "WETH", "quote": "USDC",
         "size": "5", "max_slippage_bps": 50,
         "algorithm": {"kind": "twap", "horizon": "20s", "interval": "4s",
                       "size_jitter": "0.1"}},
    )  # fmt: skip
    say(f"  accepted ({r['status']}), journaled on {r['stream']}")
    with console.status("running the TWAP in the daemon"):
        wait_algo(STATE / "journal.sqlite", "demo-twap-5")
    for line in execution_report(STATE / "journal.sqlite", "demo-twap-5"):
        say(f"  {line}")
    say("[bold]positions and risk[/] GET /v1/risk (the whole fund, one pinned block per chain)")
    for line in risk_lines(api.get("/v1/risk")):
        say(f"  {line}")
    halt_and_refuse(
        api,
        {"client_order_id": "demo-while-halted", "side": "buy", "base": "WETH",
         "quote": "USDC", "size": "1", "max_slippage_bps": 30},
        say,
    )  # fmt: skip


def daemon_part(world: DevWorld, w: WalletDeployment) -> None:
    """`agent run` as its own process, driven through its API only."""
    from agent.demo.daemon import running_daemon
    from agent.demo.deribit import ENV, add_to_config, deribit_account
    from agent.service.devconfig import write_dev_config

    def say(line: str) -> None:
        console.print(line, highlight=False, soft_wrap=True)

    cfg, env = write_dev_config(STATE, world, w, api_port=0)  # what `agent devnet up` writes
    with deribit_account() as deribit_url:
        add_to_config(cfg, deribit_url)
        os.environ.update(ENV)  # the simulator's dev key, by env var name as for any venue
        with running_daemon(cfg, env) as api:  # on leaving: SIGTERM, it must drain, exit 0
            say(f"[bold]daemon[/] agent run --config {cfg}: serving {api.url} (log {api.log}); "
                f"venues: the L1 pools, the desk's Deribit account {deribit_url}")  # fmt: skip
            through_api(api, say)
            console.print("[bold]daemon[/] SIGTERM: draining")
    say("[bold]daemon[/] drained and stopped (exit 0)")


def orders_and_journal(journal: Path) -> None:
    """What `agent orders --all` and `agent journal verify` print for the demo's journal."""
    from agent.journal import SqliteJournal
    from agent.oms import OrderStore

    with SqliteJournal(journal) as j:
        store = OrderStore.replay(j)
        rep = j.verify()
    console.print(orders_table(store))
    console.print(f"[bold]journal[/] {journal}: {rep.describe()}", soft_wrap=True)


async def condor(world: DevWorld, w: WalletDeployment) -> None:
    """Sell an iron condor on the on-chain options market: every leg and the delta hedge in
    ONE Safe transaction (MultiSendCallOnly through the module), priced by RFQ."""
    from agent.journal import SqliteJournal
    from agent.venues.options.demo import sell_iron_condor_demo

    journal = SqliteJournal(STATE / "journal.sqlite")
    try:
        with console.status("selling an iron condor (RFQ to the market maker, one Safe tx)"):
            res = await sell_iron_condor_demo(
                world.devnets.l1.rpc_url, world.l1, safe=w.safe, module=w.module,
                operator_key=OPERATOR_KEY, journal=journal, policy_path=w.policy_file,
            )  # fmt: skip
    finally:
        journal.close()
    world.l1 = res.manifest
    world.save()
    console.print("[bold]options[/]")
    for line in res.lines():
        console.print(f"  {line}", soft_wrap=True)


def bridge(world: DevWorld, w: WalletDeployment, w2: WalletDeployment) -> None:
    """Move USDC from the L1 Safe to the fund's Safe on L2 over the bridge (k-of-n relayers)."""
    from agent.venues.bridge.demo import bridge_usdc_demo

    l1, l2 = world.l1, world.l2
    with console.status("bridging USDC from L1 to L2 (relayers sign, L2 mints)"):
        result = asyncio.run(
            bridge_usdc_demo(
                l1_url=world.devnets.l1.rpc_url,
                l2_url=world.devnets.l2.rpc_url,
                l1=l1,
                l2=l2,
                safe=w.safe,
                module=w.module,
                recipient=w2.safe,
                journal_path=STATE / "journal.sqlite",
                policy_path=w.policy_file,
            )
        )
    console.print(f"[bold]bridge[/] L1 Safe {w.safe} -> L2 Safe {w2.safe}")
    for line in result.lines():
        console.print(f"  {line}", soft_wrap=True)


async def split_order(world: DevWorld, w: WalletDeployment, w2: WalletDeployment) -> None:
    """One parent order split over every venue: the L1 pools (one Safe transaction), the
    exchange simulator's book (ccxt) and the L2's bridged pool (the L2 Safe's bridged USDC)."""
    from agent.bootstrap import ChainAccess, build_order_app
    from agent.demo.report import order_lines
    from agent.deploy.devworld import routing_sim_config, seed_routing_book
    from agent.exchange_sim.server import ExchangeSim
    from agent.model import Spot

    tx = Transactor(world.devnets.l1.rpc_url, DEPLOYER_KEY)
    usdc = world.l1.asset("USDC")
    tx.transact("DevToken", usdc.address, "mint", w.safe, usdc.to_base(SPLIT_TOP_UP_USDC))
    sim = ExchangeSim(routing_sim_config())
    await sim.start()
    seed_routing_book(sim)
    try:
        app = await build_order_app(
            l1=ChainAccess(world.devnets.l1.rpc_url, world.l1, w.safe, w.module, w.policy_file),
            l2=ChainAccess(world.devnets.l2.rpc_url, world.l2, w2.safe, w2.module, w2.policy_file),
            operator_key=OPERATOR_KEY, journal_path=STATE / "journal.sqlite",
            cex=(("binance", sim.url),), cex_symbol="ETH/USDC", time_bps_per_min=Decimal("0.1"),
        )  # fmt: skip
        try:
            with console.status("routing 250 WETH over every venue and executing the plan"):
                inst = Spot("WETH", "USDC")
                route = await app.routing.plan(
                    inst, Side.BUY, 250 * 10**18, parent_id="demo-split-250"
                )
                rep = await app.executor.run(
                    route.plan, replan=app.routing.replanner(inst, Side.BUY, "demo-split-250", None)
                )
        finally:
            await app.close()
    finally:
        await sim.stop()
    for line in order_lines(rep, route):
        console.print(line, highlight=False, soft_wrap=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="scripts/demo", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--state-dir", type=Path, default=DEFAULT_STATE,
        help="where the devnets' manifests, agent.toml, policies and the journal go "
        "(default: ./.state/demo; emptied first)",
    )  # fmt: skip
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    global STATE
    STATE = parse_args(argv).state_dir.resolve()
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
        w, w2 = setup_wallets(world)
        fund_safe(world, w)
        console.print(
            f"[bold]safe[/] {w.safe} ({w.threshold}-of-{len(w.owners)}), PolicyModule {w.module}, "
            f"operator {w.operator}; funded with {SAFE_FUNDING_USDC:,} USDC; policy {w.policy_file}"
        )
        console.print(f"[bold]L2 safe[/] {w2.safe}, PolicyModule {w2.module}")
        asyncio.run(condor(world, w))
        bridge(world, w, w2)
        asyncio.run(split_order(world, w, w2))
        daemon_part(world, w)
        orders_and_journal(STATE / "journal.sqlite")
    console.print(
        f"[bold]demo finished[/] in {time.perf_counter() - t0:.1f}s; journal: {STATE / 'journal.sqlite'}"
    )
    return 0
