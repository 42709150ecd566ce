"""`agent devnet up|status|down`: local L1 + L2 devnets with the world deployed."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import typer

from agent.chain.devnet import rpc_call
from agent.cli.common import console, fail, run
from agent.errors import RpcUnavailableError

app = typer.Typer(help="Local L1/L2 anvil devnets with the world deployed.", no_args_is_help=True)
DEFAULT_DIR = Path(".state/devnet")
StateDir = typer.Option(DEFAULT_DIR, "--state-dir", help="Where manifests and the pid file go.")


@app.command()
def up(
    state_dir: Path = StateDir,
    relayers: bool = typer.Option(
        True, "--relayers/--no-relayers", help="Start the bridge's dev relayer set (k-of-n)."
    ),
    confirmations: int = typer.Option(
        1, "--confirmations", min=1, help="Blocks the relayers wait before signing a deposit."
    ),
) -> None:
    """Start L1 and L2, deploy the world, start the bridge relayers (one process per key),
    print RPC URLs and manifests; run until Ctrl-C."""
    from agent.bridge.process import RelayerSet
    from agent.bridge.relayer import config_for
    from agent.deploy.devworld import RELAYER_KEYS, bring_up

    pidfile = state_dir / "devnets.json"
    if pidfile.exists() and _alive(json.loads(pidfile.read_text()).get("supervisor_pid", 0)):
        fail(f"devnets already up (see {pidfile}); run `agent devnet down` first", 1)
    world = run(lambda: bring_up(state_dir, progress=lambda m: console.print(f"  {m}")))
    rset = None
    with world:
        cfg_path, env_path = run(lambda: _dev_wallet_and_config(world, state_dir))
        if relayers:
            base = config_for(
                world.devnets.l1.rpc_url, world.devnets.l2.rpc_url, world.l1, world.l2,
                RELAYER_KEYS[:1],  # each process gets its own key (RelayerSet)
                confirmations=confirmations,
            )  # fmt: skip
            rset = run(lambda: RelayerSet(base, RELAYER_KEYS, state_dir / "relayers").start())
        info = json.loads(pidfile.read_text())
        info["supervisor_pid"] = os.getpid()
        if rset is not None:
            info["relayers"] = [
                {"pid": p.process.pid if p.process else 0, "address": p.address, "url": p.url}
                for p in rset.processes
            ]
        pidfile.write_text(json.dumps(info, indent=2))
        l1p, l2p = world.manifest_paths
        console.print(
            f"[bold]L1[/] {world.devnets.l1.rpc_url}  chain {world.l1.chain_id}  manifest {l1p}",
            soft_wrap=True,  # URLs and paths are copied by people and parsed by tests: never wrap
        )
        console.print(
            f"[bold]L2[/] {world.devnets.l2.rpc_url}  chain {world.l2.chain_id}  manifest {l2p}",
            soft_wrap=True,
        )
        if rset is not None:
            console.print(
                f"bridge relayers: {len(rset.processes)} processes (one key each), logs in "
                f"{state_dir / 'relayers'}",
                soft_wrap=True,
            )
        _print_dev_setup(cfg_path, env_path)
        console.print(
            f"started in {world.timings['devnet_start_s']:.2f}s, world deployed in "
            f"{world.timings['world_deploy_s']:.2f}s; Ctrl-C or `agent devnet down` to stop"
        )
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        try:
            stop.wait()
        finally:
            if rset is not None:
                rset.stop()
    pidfile.unlink(missing_ok=True)
    console.print("devnets stopped")


@app.command()
def status(state_dir: Path = StateDir) -> None:
    """Show whether the devnets answer, with their block heights."""
    pidfile = state_dir / "devnets.json"
    if not pidfile.exists():
        fail(f"no devnets recorded in {pidfile}: run `agent devnet up`", 1)
    info = json.loads(pidfile.read_text())
    down = 0
    for name in ("l1", "l2"):
        d = info[name]
        try:
            block = int(rpc_call(d["rpc_url"], "eth_blockNumber", timeout=2), 16)
            console.print(f"{name}: up   {d['rpc_url']}  chain {d['chain_id']}  block {block}")
        except RpcUnavailableError:
            down += 1
            console.print(f"{name}: DOWN {d['rpc_url']}")
    for r in info.get("relayers", []):
        state = "up  " if _alive(r["pid"]) else "DOWN"
        down += state == "DOWN"
        console.print(
            f"relayer: {state} {r['address']}  pid {r['pid']}  {r['url']}", soft_wrap=True
        )
    raise typer.Exit(1 if down else 0)


@app.command()
def down(state_dir: Path = StateDir) -> None:
    """Stop devnets started by `agent devnet up`."""
    pidfile = state_dir / "devnets.json"
    if not pidfile.exists():
        console.print("no devnets recorded; nothing to stop")
        return
    info = json.loads(pidfile.read_text())
    pids = [info.get("supervisor_pid")] + [r["pid"] for r in info.get("relayers", [])]
    for pid in pids + [info[n]["pid"] for n in ("l1", "l2")]:
        if pid and _alive(pid):
            os.kill(pid, signal.SIGTERM)
    pidfile.unlink(missing_ok=True)
    console.print("stopped")


@app.command()
def fund(
    to: str = typer.Option(..., "--to", help="Address to fund, e.g. your Safe (0x...)."),
    amount: str = typer.Option(..., "--amount", help="Human units, e.g. 1000 (exact decimal)."),
    asset: str = typer.Option(
        "USDC", "--asset", help="ETH, or a dev token of the manifest (USDC, WBTC, DAI)."
    ),
    chain: str = typer.Option("l1", "--chain", help="l1 or l2."),
    state_dir: Path = StateDir,
) -> None:
    """Fund an address on the running devnets: dev tokens minted by the dev deployer, or
    ETH sent from it. Dev chains only (the deployer is anvil's first key)."""
    from decimal import Decimal, InvalidOperation

    from eth_utils import is_address, is_checksum_address, to_checksum_address

    from agent.deploy.devworld import DEPLOYER_KEY
    from agent.deploy.manifest import Manifest
    from agent.deploy.transactor import Transactor
    from agent.errors import ValidationError
    from agent.model.assets import to_base_units

    def go() -> str:
        if chain not in ("l1", "l2"):
            raise ValidationError("--chain", f"{chain!r} is not l1 or l2", "pass --chain l1")
        if not is_address(to) or (to != to.lower() and not is_checksum_address(to)):
            raise ValidationError(
                "--to", f"{to!r} is not an address (or its EIP-55 checksum is wrong)",
                "copy the address again, e.g. from `agent devnet up`",
            )  # fmt: skip
        try:
            qty = Decimal(amount)
        except InvalidOperation:
            raise ValidationError("--amount", f"{amount!r} is not a number", "e.g. 1000") from None
        if not qty.is_finite() or qty <= 0:
            raise ValidationError("--amount", f"{amount} must be a positive number", "e.g. 1000")
        pidfile = state_dir / "devnets.json"
        if not pidfile.exists():
            raise ValidationError(
                "--state-dir", f"no devnets in {state_dir}", "run `agent devnet up`"
            )
        url = json.loads(pidfile.read_text())[chain]["rpc_url"]
        who = to_checksum_address(to)
        tx = Transactor(url, DEPLOYER_KEY)
        if asset.upper() == "ETH":
            base = to_base_units(qty, 18, field="--amount")
            tx.send(who, b"", value=base, description=f"fund {who} with ETH")
            return f"sent {qty} ETH to {who} on {chain}"
        m = Manifest.load(state_dir / f"{chain}.manifest.json")
        a = m.asset(asset)  # one line naming the asset when the manifest has none such
        if a.symbol == "WETH":
            raise ValidationError("--asset", "WETH is not minted", "fund ETH and wrap it")
        tx.transact("DevToken", a.address, "mint", who, a.to_base(qty))
        return f"minted {qty} {a.symbol} to {who} on {chain}"

    console.print(run(go), soft_wrap=True, highlight=False)


def _dev_wallet_and_config(world, state_dir: Path) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    """A funded dev Safe with its PolicyModule on L1, and the agent.toml that runs it."""
    from decimal import Decimal

    from agent.deploy.devworld import deploy_dev_wallet
    from agent.service.devconfig import write_dev_config

    wallet = deploy_dev_wallet(world, usdc=Decimal(1_000_000), policy_out=state_dir / "policy.toml")
    console.print(f"  dev Safe {wallet.safe} (2 of 3), module {wallet.module}", soft_wrap=True)
    return write_dev_config(state_dir, world, wallet)


def _print_dev_setup(cfg_path: Path, env_path: Path) -> None:
    from agent.service.devconfig import dev_key_roles

    console.print("[bold]dev keys[/] (anvil's mnemonic; never use them on a real chain):")
    for i, (role, addr) in enumerate(dev_key_roles()):
        console.print(f"  {i}  {addr}  {role}", soft_wrap=True, highlight=False)
    console.print(
        f"[bold]config[/] {cfg_path}; secrets in {env_path}: "
        f"`source {env_path} && agent run --config {cfg_path}`",
        soft_wrap=True,
    )


def _alive(pid: int) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
