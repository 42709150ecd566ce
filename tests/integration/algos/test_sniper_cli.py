"""`agent trade order --algo sniper` against anvil + the exchange simulator: with the limit below
what any venue offers, the sniper watches (ALGO_LIMIT_NOT_REACHED journaled) and sends nothing
(no slice, no order, no transaction, no exchange trade). The market then moves on both venues,
a large sale into a Uniswap pool and a cheap offer on the exchange's book, and the sniper
takes what is at or better than its limit on both at once: ONE routed slice whose children
are a pool leg through the Safe and an exchange order, each within the limit.

The desk halts trading while the market is moved (`agent halt` from another shell) and
resumes after, so both moves are in place when the sniper looks again (it would otherwise
take the first move alone, correctly but not across venues)."""

from __future__ import annotations

import json
import os
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.algos.events import AlgoCompleted, AlgoPaused, SliceSent
from agent.cli.main import app as cli
from agent.deploy.devworld import DEPLOYER_KEY, DevWorld
from agent.deploy.transactor import Transactor
from agent.journal.sqlite import SqliteJournal
from agent.oms.store import OrderStore
from agent.wallet.deploy import WalletDeployment
from tests.integration.algos.sim_thread import SimThread
from tests.integration.algos.test_algo_cli import AGENT, ENV, _events, _wait
from tests.integration.routing_exec.conftest import balance, operator_nonce

pytestmark = pytest.mark.integration
E18 = 10**18
MAX = 2**256 - 1
SIZE = Decimal(1)


def _venue_args(world: DevWorld, url: str) -> list[str]:
    d = world.state_dir
    return [
        "--rpc-url", world.devnets.l1.rpc_url, "--manifest", str(d / "l1.manifest.json"),
        "--cex", f"binance={url}", "--cex-symbol", "ETH/USDC",
    ]  # fmt: skip


def _best(world: DevWorld, url: str, size: Decimal, venues: str | None = None) -> Decimal:
    """The router's all-in average for ``size`` now (`agent route`, nothing sent)."""
    args = ["route", "--side", "buy", "--base", "WETH", "--quote", "USDC", "--size", str(size),
            "--no-l2", "--json", *_venue_args(world, url)]  # fmt: skip
    if venues:
        args += ["--venues", venues]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    return Decimal(json.loads(res.output)["average_price"])


def _dump_weth(world: DevWorld, amount: int) -> None:
    """Someone else sells WETH into the 0.05% pool (the pool's price falls)."""
    tx = Transactor(world.devnets.l1.rpc_url, DEPLOYER_KEY)
    m = world.l1
    weth, usdc = m.token("WETH").address, m.token("USDC").address
    tx.rpc("anvil_setBalance", tx.address, hex(amount + 10 * E18))
    tx.transact("WETH9", weth, "deposit", value=amount)
    tx.transact("WETH9", weth, "approve", m.address("SwapRouter"), MAX)
    params = (weth, usdc, 500, tx.address, 2**48, amount, 0, 0)
    tx.transact("SwapRouter", m.address("SwapRouter"), "exactInputSingle", params)


def test_sniper_waits_then_takes_both_venues_at_once(
    world: DevWorld, route_wallet: WalletDeployment, sim: SimThread, tmp_path: Path, isolated: None
) -> None:
    j = tmp_path / "j.sqlite"
    best = _best(world, sim.url, SIZE)
    limit = (best * Decimal("0.996")).quantize(Decimal("0.01"))  # 40 bp below any venue now
    args = [
        "trade", "order", "--side", "buy", "--base", "WETH", "--quote", "USDC",
        "--size", str(SIZE), "--limit", str(limit), "--client-id", "snipe",
        "--safe", route_wallet.safe, "--module", route_wallet.module,
        "--policy", str(route_wallet.policy_file), "--journal", str(j),
        *_venue_args(world, sim.url), "--algo", "sniper", "--horizon", "3m", "--interval", "1s",
        "--slippage-bps", "30", "--json",
    ]  # fmt: skip
    weth0, nonce0 = balance(world, "l1", "WETH", route_wallet.safe), operator_nonce(world)
    mine, other = sim.agent_client(), sim.client()
    log = tmp_path / "sniper.log"
    proc = subprocess.Popen(
        [*AGENT, *args], env={**os.environ, **ENV}, stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        waiting = lambda: [  # noqa: E731
            e for e in _events(j, "snipe")
            if isinstance(e, AlgoPaused) and e.code == "ALGO_LIMIT_NOT_REACHED"
        ]  # fmt: skip
        _wait("the sniper watching", lambda: bool(waiting()) or proc.poll() is not None)
        assert proc.poll() is None, log.read_text()
        # nothing was shown or sent while no venue crossed the limit
        assert not [e for e in _events(j, "snipe") if isinstance(e, SliceSent)]
        assert operator_nonce(world) == nonce0 and not mine.fetch_my_trades("ETH/USDC")
        assert not mine.fetch_open_orders("ETH/USDC")

        halt = CliRunner().invoke(cli, ["halt", "--journal", str(j), "--reason", "moving"])
        assert halt.exit_code == 0, halt.output
        _wait(
            "the sniper paused by the halt",
            lambda: any(
                isinstance(e, AlgoPaused) and e.code == "TRADING_HALTED"
                for e in _events(j, "snipe")
            ),
        )
        # the exchange: someone sells 80 ETH into the bids, then offers 0.3 just above the
        # new best bid, below the limit all-in (its 5 bp taker fee included)
        other.create_order("ETH/USDC", "market", "sell", 80)
        bid = Decimal(str(other.fetch_order_book("ETH/USDC", 5)["bids"][0][0]))
        px = bid + Decimal("0.50")
        assert px * Decimal("1.0005") < limit * Decimal("0.999"), (px, limit)
        other.create_order("ETH/USDC", "limit", "sell", 0.3, float(px))
        # the pools: WETH sold into the 0.05% pool until it offers below the limit (but not
        # below the exchange's offer: the router then takes the book first, the pool after)
        for _ in range(40):
            _dump_weth(world, 5 * E18)
            pool = _best(world, sim.url, Decimal("0.7"), "v2,v3")
            if pool < limit * Decimal("0.9995"):
                break
        else:
            raise AssertionError(f"the pool did not fall below {limit}: {pool}")
        assert pool > px * Decimal("1.0005"), (pool, px)
        assert not [e for e in _events(j, "snipe") if isinstance(e, SliceSent)]

        res = CliRunner().invoke(cli, ["resume", "--journal", str(j)])
        assert res.exit_code == 0, res.output
        proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    out = log.read_text()
    assert proc.returncode == 0, out
    rep = json.loads(out.strip().splitlines()[-1])
    assert rep["algorithm"] == "sniper" and Decimal(rep["filled"]) == SIZE, rep
    evs = _events(j, "snipe")
    sent = [e for e in evs if isinstance(e, SliceSent)]
    assert len(sent) == 1 and sent[0].quantity == SIZE  # all of it, at once
    fin = next(e for e in evs if isinstance(e, AlgoCompleted))
    assert fin.reason == "filled" and fin.unfilled == 0
    with SqliteJournal(j) as store:
        orders = OrderStore.replay(store).orders
    kids = [o for cid, o in orders.items() if o.parent_id == "snipe.s0" and o.filled > 0]
    venues = {o.venue for o in kids}
    assert "cex:binance" in venues and venues - {"cex:binance"}, venues  # the book and a pool
    assert sum((o.filled for o in kids), Decimal(0)) == SIZE
    for o in kids:  # each child at or better than the limit (before the exchange's fee)
        assert o.avg_price is not None and o.avg_price <= limit, (o.venue, o.avg_price)
    cex = next(o for o in kids if o.venue == "cex:binance")
    assert cex.filled == Decimal("0.3")
    assert sum(Decimal(str(t["amount"])) for t in mine.fetch_my_trades("ETH/USDC")) == Decimal(
        "0.3"
    )
    assert balance(world, "l1", "WETH", route_wallet.safe) - weth0 == int(
        (SIZE - Decimal("0.3")) * E18
    )
