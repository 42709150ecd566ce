"""`agent trade order --hedge-venues`: leg synchronization from the command line, against anvil
+ the exchange simulator. The order's own leg (a sale on the exchange's book) goes out in
chunks whose delta fits ``--max-net-delta``; each fill is bought back at once on the Uniswap
pools through the Safe. Every step is journaled on ``legsync-<parent>`` with the net delta
after it; the exchange account ends short what the Safe ends long. Bad combinations are one
line each, exit 2, nothing sent."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.algos.legsync import LegStep, LegSyncEnded, legsync_stream
from agent.cli.main import app as cli
from agent.deploy.devworld import DevWorld
from agent.journal.sqlite import SqliteJournal
from agent.wallet.deploy import WalletDeployment
from tests.integration.algos.sim_thread import SimThread
from tests.integration.algos.test_algo_cli import ENV
from tests.integration.routing_exec.conftest import balance, operator_nonce

pytestmark = pytest.mark.integration
E18 = 10**18


def _args(world: DevWorld, w: WalletDeployment, url: str, j: Path, cid: str) -> list[str]:
    d = world.state_dir
    return [
        "trade", "order", "--side", "sell", "--base", "WETH", "--quote", "USDC", "--size", "2",
        "--client-id", cid, "--safe", w.safe, "--module", w.module, "--policy", str(w.policy_file),
        "--rpc-url", world.devnets.l1.rpc_url, "--manifest", str(d / "l1.manifest.json"),
        "--cex", f"binance={url}", "--cex-symbol", "ETH/USDC", "--journal", str(j),
        "--slippage-bps", "100",
    ]  # fmt: skip


def test_a_cex_sale_hedged_on_the_pools_leg_by_leg(
    world: DevWorld, route_wallet: WalletDeployment, sim: SimThread, tmp_path: Path, isolated: None
) -> None:
    j = tmp_path / "j.sqlite"
    weth0 = balance(world, "l1", "WETH", route_wallet.safe)
    eth0 = sim.sim.exchange.ledger.free("trader", "ETH")
    args = _args(world, route_wallet, sim.url, j, "hx-1")
    res = CliRunner().invoke(
        cli,
        [*args, "--venues", "cex", "--hedge-venues", "v2,v3", "--max-net-delta", "0.5",
         "--max-unhedged", "5s", "--json"],
        env=ENV,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["outcome"] == "hedged", out
    assert Decimal(out["primary_filled"]) == 2 and Decimal(out["hedge_filled"]) == 2, out
    assert Decimal(out["worst_net_delta"]) <= Decimal("0.5"), out
    # the legs really happened where they were sent: 2 ETH sold on the exchange, 2 WETH bought
    # into the Safe on the pools
    assert sim.sim.exchange.ledger.free("trader", "ETH") == eth0 - 2
    assert balance(world, "l1", "WETH", route_wallet.safe) == weth0 + 2 * E18
    with SqliteJournal(j, read_only=True) as store:
        legs = [r.event for r in store.read_stream(legsync_stream("hx-1"))]
    steps = [e for e in legs if isinstance(e, LegStep)]
    assert [e.role for e in steps] == ["primary", "hedge"] * 4, steps  # 4 chunks of 0.5
    assert all(abs(e.net_delta) <= Decimal("0.5") for e in steps) and steps[-1].net_delta == 0
    assert isinstance(legs[-1], LegSyncEnded) and legs[-1].outcome == "hedged"
    # the text form of a second run: answered from the OMS, nothing sent twice
    again = CliRunner().invoke(
        cli,
        [*args, "--venues", "cex", "--hedge-venues", "v2,v3", "--max-net-delta", "0.5"],
        env=ENV,
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "legs hx-1: HEDGED" in again.output
    assert balance(world, "l1", "WETH", route_wallet.safe) == weth0 + 2 * E18


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--hedge-venues", "v3", "--max-net-delta", "1"], "--venues"),
        (["--venues", "cex", "--hedge-venues", "v3"], "--max-net-delta"),
        (["--venues", "cex", "--hedge-venues", "v3", "--max-net-delta", "-1"], "--max-net-delta"),
        (
            [
                "--venues",
                "cex",
                "--hedge-venues",
                "v3",
                "--max-net-delta",
                "1",
                "--max-unhedged",
                "soon",
            ],
            "--max-unhedged",
        ),
        (
            ["--venues", "cex", "--hedge-venues", "v3", "--max-net-delta", "1", "--algo", "twap"],
            "--hedge-venues",
        ),
        (["--max-net-delta", "1"], "--max-net-delta"),
    ],
)
def test_bad_hedged_orders_are_one_line_and_send_nothing(
    world: DevWorld, route_wallet: WalletDeployment, tmp_path: Path, extra: list[str], flag: str
) -> None:
    nonce = operator_nonce(world)
    args = _args(world, route_wallet, "http://127.0.0.1:9", tmp_path / "j.sqlite", "hx-bad")
    res = CliRunner().invoke(cli, [*args, *extra], env=ENV)
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and flag in lines[0] and "Traceback" not in res.output, res.output
    assert operator_nonce(world) == nonce and not (tmp_path / "j.sqlite").exists()
