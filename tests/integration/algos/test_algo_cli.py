"""`agent trade order --algo twap` on the devnet: each slice is a routed parent order of its own
(L1 pools + the exchange simulator's book, through the Safe's module and ccxt), fills sum to
the size, `agent orders` lists them, `agent report execution` reads the journal; a process
killed between slices resumes without sending a slice twice; `agent halt` from another shell
pauses the schedule until `agent resume`; a schedule an allowance window cannot carry is
refused up front (exit 3, nothing sent) or stretched into the next window."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.algos.events import AlgoPaused, AlgoResumed, SliceFilled, SliceSent, algo_stream
from agent.algos.params import AlgoKind, AlgoParams
from agent.cli.main import app as cli
from agent.deploy.devworld import OPERATOR_KEY, DevWorld, deploy_dev_wallet
from agent.errors import NotAJournalError
from agent.journal.sqlite import SqliteJournal
from agent.model import Side
from agent.wallet.deploy import WalletDeployment
from tests.integration.routing_exec.conftest import balance, operator_nonce

pytestmark = pytest.mark.integration
ENV = {"AGENT_OPERATOR_KEY": OPERATOR_KEY}
AGENT = [str(Path(sys.executable).parent / "agent")]  # the console script


def _args(world: DevWorld, w: WalletDeployment, url: str, j: Path, cid: str, size: str) -> list:
    d = world.state_dir
    return [
        "trade", "order", "--side", "buy", "--base", "WETH", "--quote", "USDC", "--size", size,
        "--client-id", cid, "--safe", w.safe, "--module", w.module, "--policy", str(w.policy_file),
        "--rpc-url", world.devnets.l1.rpc_url, "--manifest", str(d / "l1.manifest.json"),
        "--cex", f"binance={url}", "--cex-symbol", "ETH/USDC", "--journal", str(j),
        "--algo", "twap",
    ]  # fmt: skip


def _events(j: Path, cid: str) -> list[object]:
    if not j.exists():
        return []
    try:
        store = SqliteJournal(j, read_only=True)  # a reader never writes the agent's file
    except NotAJournalError:  # the other process is creating it (tables before its schema row)
        return []
    with store:
        return [r.event for r in store.read_stream(algo_stream(cid))]


def _wait(what: str, cond: Callable[[], bool], timeout: float = 90) -> None:
    """Poll the journal (another process writes it) until ``cond`` holds."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _spawn(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, **ENV}
    return subprocess.Popen(
        [*AGENT, *args], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )


def test_twap_through_the_router(
    world: DevWorld, route_wallet: WalletDeployment, sim_url: str, tmp_path: Path, isolated: None
) -> None:
    runner = CliRunner()
    j = tmp_path / "j.sqlite"
    weth0 = balance(world, "l1", "WETH", route_wallet.safe)
    args = _args(world, route_wallet, sim_url, j, "twap-1", "6")
    res = runner.invoke(cli, [*args, "--horizon", "9s", "--interval", "3s", "--json"], env=ENV)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["algorithm"] == "twap" and out["outcome"] == "AlgoCompleted", out
    slices = out["slices"]
    assert len(slices) >= 2 and all(s["status"] == "filled" for s in slices), slices
    assert sum(Decimal(s["filled"]) for s in slices) == Decimal(6)
    assert balance(world, "l1", "WETH", route_wallet.safe) - weth0 == 6 * 10**18

    rows = json.loads(runner.invoke(cli, ["orders", "--all", "--json", "--journal", str(j)]).output)
    by = {r["client_order_id"]: r for r in rows}
    for s in slices:  # each slice: a routed parent order with its own children
        assert by[s["client_order_id"]]["state"] == "filled"
        assert any(r["parent_id"] == s["client_order_id"] for r in rows)

    png = tmp_path / "twap.png"
    rep = runner.invoke(cli, ["report", "execution", "twap-1", "-j", str(j), "--png", str(png)])
    assert rep.exit_code == 0, rep.output
    assert "shortfall" in rep.output.lower() and png.stat().st_size > 1000

    nonce = operator_nonce(world)  # the same id again: nothing more is sent
    again = runner.invoke(cli, [*args, "--horizon", "9s", "--interval", "3s", "--json"], env=ENV)
    assert again.exit_code == 0, again.output
    assert operator_nonce(world) == nonce


def test_restart_mid_schedule_sends_no_slice_twice(
    world: DevWorld, route_wallet: WalletDeployment, sim_url: str, tmp_path: Path, isolated: None
) -> None:
    j = tmp_path / "j.sqlite"
    weth0 = balance(world, "l1", "WETH", route_wallet.safe)
    args = [*_args(world, route_wallet, sim_url, j, "twap-r", "4"), "--horizon", "20s"]
    args += ["--interval", "5s"]
    p = _spawn(args, tmp_path / "run1.log")
    try:
        _wait(
            "slice 0 filled", lambda: any(isinstance(e, SliceFilled) for e in _events(j, "twap-r"))
        )
        p.send_signal(signal.SIGKILL)  # between slices: slice 1 is due 5 s after slice 0
        p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
    before = [e for e in _events(j, "twap-r") if isinstance(e, SliceSent)]
    assert 1 <= len(before) < 4
    again = subprocess.run([*AGENT, *args, "--json"], env={**os.environ, **ENV},
                           capture_output=True, text=True, timeout=180)  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    sent = [e for e in _events(j, "twap-r") if isinstance(e, SliceSent)]
    ids = [e.client_order_id for e in sent]
    assert len(ids) == len(set(ids))  # every slice id sent once
    assert [e.client_order_id for e in sent[: len(before)]] == [e.client_order_id for e in before]
    assert balance(world, "l1", "WETH", route_wallet.safe) - weth0 == 4 * 10**18


def test_halt_pauses_and_resume_continues(
    world: DevWorld, route_wallet: WalletDeployment, sim_url: str, tmp_path: Path, isolated: None
) -> None:
    j = tmp_path / "j.sqlite"
    weth0 = balance(world, "l1", "WETH", route_wallet.safe)
    args = [*_args(world, route_wallet, sim_url, j, "twap-h", "3"), "--horizon", "24s"]
    args += ["--interval", "4s", "--catch-up", "3"]
    p = _spawn(args, tmp_path / "run.log")
    try:
        _wait(
            "slice 0 filled", lambda: any(isinstance(e, SliceFilled) for e in _events(j, "twap-h"))
        )
        h = CliRunner().invoke(cli, ["halt", "--journal", str(j), "--reason", "test"])
        assert h.exit_code == 0, h.output
        _wait("the pause", lambda: any(isinstance(e, AlgoPaused) for e in _events(j, "twap-h")))
        evs = _events(j, "twap-h")
        paused_at = next(i for i, e in enumerate(evs) if isinstance(e, AlgoPaused))
        assert evs[paused_at].code == "TRADING_HALTED"
        sent_before = sum(isinstance(e, SliceSent) for e in evs)
        # two more intervals pass with trading halted: the runner wakes and sends nothing
        nonce = operator_nonce(world)
        t_end = time.monotonic() + 9
        _wait("two intervals", lambda: time.monotonic() > t_end, timeout=20)
        assert sum(isinstance(e, SliceSent) for e in _events(j, "twap-h")) == sent_before
        assert operator_nonce(world) == nonce
        r = CliRunner().invoke(cli, ["resume", "--journal", str(j), "--reason", "test done"])
        assert r.exit_code == 0, r.output
        assert p.wait(120) in (0, 4), (tmp_path / "run.log").read_text()
    finally:
        if p.poll() is None:
            p.kill()
    evs = _events(j, "twap-h")
    assert any(isinstance(e, AlgoResumed) for e in evs)
    assert sum(isinstance(e, SliceSent) for e in evs) > sent_before
    filled = sum((e.filled for e in evs if isinstance(e, SliceFilled)), Decimal(0))
    assert balance(world, "l1", "WETH", route_wallet.safe) - weth0 == int(filled * 10**18)
    assert filled == 3, (tmp_path / "run.log").read_text()


@pytest.fixture(scope="module")
def tight_wallet(world: DevWorld, tmp_path_factory: pytest.TempPathFactory) -> WalletDeployment:
    """A Safe whose USDC allowance is 20 000 per 30 s window (the dev policy otherwise)."""
    from agent.wallet.deploy import default_policy_template

    text = default_policy_template(world.l1).read_text()
    old = '[allowances.usdc-daily]\ntoken = "USDC"\namount = "5000000"\nperiod = "1d"'
    assert old in text
    new = '[allowances.usdc-daily]\ntoken = "USDC"\namount = "20000"\nperiod = "30s"'
    tpl = tmp_path_factory.mktemp("tight") / "policy.toml"
    tpl.write_text(text.replace(old, new))
    return deploy_dev_wallet(world, salt=1616, usdc=Decimal(100_000), policy_template=tpl)


def test_allowance_window_refuses_or_stretches(
    world: DevWorld, tight_wallet: WalletDeployment, sim_url: str, tmp_path: Path, isolated: None
) -> None:
    runner = CliRunner()
    j = tmp_path / "j.sqlite"
    args = _args(world, tight_wallet, sim_url, j, "twap-w", "10")
    args += ["--horizon", "8s", "--interval", "4s", "--venues", "v2,v3"]  # on-chain only
    nonce = operator_nonce(world)
    res = runner.invoke(cli, args, env=ENV)
    assert res.exit_code == 3, res.output
    assert "ALGO_ALLOWANCE_WINDOW" in res.output and "usdc-daily" in res.output, res.output
    assert operator_nonce(world) == nonce and _events(j, "twap-w") == []  # nothing sent

    usdc0 = balance(world, "l1", "USDC", tight_wallet.safe)
    ok = runner.invoke(cli, [*args, "--stretch", "--json"], env=ENV)
    assert ok.exit_code == 0, ok.output
    out = json.loads(ok.output)
    assert out["stretched_to_ms"] is not None and out["outcome"] == "AlgoCompleted", out
    assert sum(Decimal(s["filled"]) for s in out["slices"]) == Decimal(10)
    assert all(s["status"] == "filled" for s in out["slices"]), out["slices"]
    sent = sorted(e.sent_ms for e in _events(j, "twap-w") if isinstance(e, SliceSent))
    # the schedule crossed into the module's next window; each window's spend stayed within it
    assert sent[-1] - sent[0] > 8_000
    assert usdc0 - balance(world, "l1", "USDC", tight_wallet.safe) > 20_000 * 10**6


def test_vwap_cli_and_the_pools_tape(
    world: DevWorld, route_wallet: WalletDeployment, sim_url: str, tmp_path: Path, isolated: None
) -> None:
    """VWAP's profile comes from the simulator's klines and the pools' Swap events; the tape
    decodes the pools' Swap logs and leaves out the swaps that paid our own Safe."""
    import asyncio

    from agent.algos.market import VenueMarketData, pools_of
    from agent.chain.rpc import RpcClient

    pools = pools_of(world.l1, "WETH", "USDC")
    assert {p.v3 for p in pools} == {True, False}
    p = AlgoParams(AlgoKind.POV, Side.BUY, "WETH", "USDC", Decimal(1), 0, horizon_s=60)
    ours = VenueMarketData(pools=pools, own=frozenset({route_wallet.safe.lower()}))
    everyone = VenueMarketData(pools=pools)

    async def snap(md: VenueMarketData) -> Decimal:
        async with RpcClient(world.devnets.l1.rpc_url) as rpc:
            md.rpc = rpc
            s = await md.snapshot(p, 0, 3_600_000)
        assert s.updated_ms > 0
        return s.volume_since_start

    assert asyncio.run(snap(ours)) == asyncio.run(snap(everyone)) == 0  # the tape starts now
    args = _args(world, route_wallet, sim_url, tmp_path / "j.sqlite", "vwap-1", "2")
    args = [a if a != "twap" else "vwap" for a in args]
    res = CliRunner().invoke(
        cli, [*args, "--horizon", "4s", "--interval", "2s", "--venues", "v2,v3", "--json"], env=ENV
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["algorithm"] == "vwap" and out["outcome"] == "AlgoCompleted", out
    assert sum(Decimal(s["filled"]) for s in out["slices"]) == 2
    assert asyncio.run(snap(ours)) == 0  # our own swaps are not the market's volume
    assert asyncio.run(snap(everyone)) == 2  # every base unit the pools moved for us, decoded
