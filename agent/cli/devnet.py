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
def up(state_dir: Path = StateDir) -> None:
    """Start L1 and L2, deploy the world, print RPC URLs and manifests; run until Ctrl-C."""
    from agent.deploy.devworld import bring_up

    pidfile = state_dir / "devnets.json"
    if pidfile.exists() and _alive(json.loads(pidfile.read_text()).get("supervisor_pid", 0)):
        fail(f"devnets already up (see {pidfile}); run `agent devnet down` first", 1)
    world = run(lambda: bring_up(state_dir, progress=lambda m: console.print(f"  {m}")))
    with world:
        info = json.loads(pidfile.read_text())
        info["supervisor_pid"] = os.getpid()
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
        console.print(
            f"started in {world.timings['devnet_start_s']:.2f}s, world deployed in "
            f"{world.timings['world_deploy_s']:.2f}s; Ctrl-C or `agent devnet down` to stop"
        )
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        stop.wait()
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
    raise typer.Exit(1 if down else 0)


@app.command()
def down(state_dir: Path = StateDir) -> None:
    """Stop devnets started by `agent devnet up`."""
    pidfile = state_dir / "devnets.json"
    if not pidfile.exists():
        console.print("no devnets recorded; nothing to stop")
        return
    info = json.loads(pidfile.read_text())
    for pid in [info.get("supervisor_pid")] + [info[n]["pid"] for n in ("l1", "l2")]:
        if pid and _alive(pid):
            os.kill(pid, signal.SIGTERM)
    pidfile.unlink(missing_ok=True)
    console.print("stopped")


def _alive(pid: int) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
