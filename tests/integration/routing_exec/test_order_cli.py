"""`agent trade order` end to end: the CLI plans over the L1 pools, the L2's bridged pool and
the exchange simulator's book, executes, prints fills vs plan; `agent orders` lists the parent
and its children from the same journal; the same --client-id again sends nothing; bad input is
one line and a non-zero exit."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli.main import app as cli
from agent.deploy.devworld import OPERATOR_KEY, DevWorld, routing_sim_config, seed_routing_book
from agent.exchange_sim.server import ExchangeSim
from agent.wallet.deploy import WalletDeployment

from .conftest import operator_nonce

pytestmark = pytest.mark.integration


@pytest.fixture
def sim_url() -> Iterator[str]:
    """The simulator on its own loop in a thread: the CLI runs its own asyncio loop."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)

        async def start() -> None:
            s = ExchangeSim(routing_sim_config())
            await s.start()
            seed_routing_book(s)
            box["sim"] = s

        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    assert ready.wait(10)
    yield box["sim"].url
    asyncio.run_coroutine_threadsafe(box["sim"].stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    t.join(10)


def _args(world: DevWorld, w1: WalletDeployment, w2: WalletDeployment, url: str, j: Path) -> list:
    d = world.state_dir
    return [
        "trade", "order", "--side", "buy", "--base", "WETH", "--quote", "USDC",
        "--safe", w1.safe, "--module", w1.module, "--policy", str(w1.policy_file),
        "--l2-safe", w2.safe, "--l2-module", w2.module, "--l2-policy", str(w2.policy_file),
        "--rpc-url", world.devnets.l1.rpc_url, "--manifest", str(d / "l1.manifest.json"),
        "--l2-rpc-url", world.devnets.l2.rpc_url, "--l2-manifest", str(d / "l2.manifest.json"),
        "--cex", f"binance={url}", "--cex-symbol", "ETH/USDC", "--journal", str(j),
    ]  # fmt: skip


def test_trade_order_cli(
    world: DevWorld,
    route_wallet: WalletDeployment,
    route_wallet_l2: WalletDeployment,
    sim_url: str,
    tmp_path: Path,
    isolated: None,
) -> None:
    runner = CliRunner()
    env = {"AGENT_OPERATOR_KEY": OPERATOR_KEY}
    j = tmp_path / "j.sqlite"
    base = _args(world, route_wallet, route_wallet_l2, sim_url, j)
    res = runner.invoke(cli, [*base, "--size", "120", "--client-id", "cli-1", "--json"], env=env)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["state"] == "filled" and out["filled"] == 120 * 10**18
    assert len(out["children"]) >= 3 and all(c["exact"] for c in out["children"])
    assert {c["kind"] for c in out["children"]} >= {"amm", "cex"}

    rows = json.loads(runner.invoke(cli, ["orders", "--all", "--json", "--journal", str(j)]).output)
    by = {r["client_order_id"]: r for r in rows}
    assert by["cli-1"]["state"] == "filled"
    kids = [r for r in rows if r["parent_id"] == "cli-1"]
    assert len(kids) == len(out["children"]) and all(k["state"] == "filled" for k in kids)

    nonce = operator_nonce(world)
    again = runner.invoke(cli, [*base, "--size", "120", "--client-id", "cli-1"], env=env)
    assert again.exit_code == 0 and "duplicate" in again.output, again.output
    assert operator_nonce(world) == nonce  # the same id never executes twice

    small = runner.invoke(cli, [*base, "--size", "5", "--client-id", "cli-5"], env=env)
    assert small.exit_code == 0, small.output
    assert "FILLED" in small.output and "= plan" in small.output
    assert "ONE Safe transaction" in small.output
    nonce = operator_nonce(world)

    bad = runner.invoke(cli, [*base, "--size", "-3", "--client-id", "cli-2"], env=env)
    assert bad.exit_code == 2 and "--size" in bad.output and "Traceback" not in bad.output
    beyond = runner.invoke(
        cli, [*base, "--size", "10", "--limit", "2000", "--client-id", "cli-3"], env=env
    )
    assert beyond.exit_code != 0 and "best price" in beyond.output, beyond.output
    assert operator_nonce(world) == nonce

    # more than the liquidity within the limit: what fits fills, the rest is reported
    part = runner.invoke(
        cli, [*base, "--size", "800", "--limit", "3025", "--client-id", "cli-6", "--json"], env=env
    )
    assert part.exit_code == 4, part.output
    got = json.loads(part.output)
    assert got["state"] == "cancelled" and "ROUTE_UNFILLED" in got["reason"]
    assert (
        0 < got["filled"] < 800 * 10**18
        and "beyond the liquidity within the limit" in got["reason"]
    )
    assert all(c["exact"] for c in got["children"])
