"""The curves against the real pools on anvil: what the curve read at block N predicts is what
a real swap mined right after N realizes, to the wei (V3 tick by tick, V2), plus the legs the
router gathers from the world, the quote cross-check that stops a plan, and `agent route`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from agent.chain.rpc import RpcClient
from agent.deploy.devworld import DEPLOYER_KEY, DevWorld
from agent.deploy.transactor import Transactor
from agent.errors import QuoteMismatchError
from agent.model import Side, Spot
from agent.routing import router
from agent.routing.sources import ChainSource, check_quote, gather
from agent.venues.bridge.cost import BridgeCostModel
from agent.venues.uniswap_v2 import UniswapV2Venue
from agent.venues.uniswap_v3 import UniswapV3Venue

E18 = 10**18
WETH_USDC = Spot("WETH", "USDC")
MAX = 2**256 - 1
DEADLINE = 2**48


def _funded(world: DevWorld) -> Transactor:
    """The deployer with WETH and USDC, approved to both routers."""
    tx = Transactor(world.devnets.l1.rpc_url, DEPLOYER_KEY)
    m = world.l1
    tx.rpc("anvil_setBalance", tx.address, hex(10_000 * E18))
    tx.transact("WETH9", m.token("WETH").address, "deposit", value=5_000 * E18)
    tx.transact("DevToken", m.token("USDC").address, "mint", tx.address, 50_000_000 * 10**6)
    for tok, art in ((m.token("WETH").address, "WETH9"), (m.token("USDC").address, "DevToken")):
        for spender in (m.address("SwapRouter"), m.address("UniswapV2Router02")):
            tx.transact(art, tok, "approve", spender, MAX)
    return tx


def _balance(tx: Transactor, token: str) -> int:
    return int(tx.call("DevToken", token, "balanceOf", tx.address))


@pytest.mark.parametrize(
    ("key", "side", "size"),
    [
        ("v3:WETH/USDC/500", Side.BUY, 7 * E18 // 3),  # within the inner range
        ("v3:WETH/USDC/500", Side.BUY, 1_100 * E18 + 12345),  # crosses initialized ticks
        ("v3:WETH/USDC/3000", Side.SELL, 900 * E18 + 777),  # crosses down through ticks
        ("v3:WETH/USDC/3000", Side.SELL, 10**15 + 1),
    ],
)
async def test_v3_curve_equals_the_pools_real_swap_to_the_wei(
    world: DevWorld, l1_isolated: None, key: str, side: Side, size: int
) -> None:
    tx = _funded(world)
    m = world.l1
    pool = m.pools[key]
    fee = int(key.rsplit("/", 1)[1])
    weth, usdc = m.token("WETH").address, m.token("USDC").address
    async with RpcClient(world.devnets.l1.rpc_url) as rpc:
        block = await rpc.block_number()
        curve = await UniswapV3Venue(rpc, m).curve(WETH_USDC, side, block, pool=pool)
        expect = curve.cost(size)
        crossed_state = curve.pool.state  # type: ignore[attr-defined]
    before_w, before_u = _balance(tx, weth), _balance(tx, usdc)
    if side is Side.BUY:  # exact output of WETH, paying USDC
        params = (usdc, weth, fee, tx.address, DEADLINE, size, MAX >> 1, 0)
        tx.transact("SwapRouter", m.address("SwapRouter"), "exactOutputSingle", params)
        paid = before_u - _balance(tx, usdc)
        assert _balance(tx, weth) - before_w == size
        assert paid == expect  # the curve's prediction is the realized amount, to the wei
    else:  # exact input of WETH, receiving USDC
        params = (weth, usdc, fee, tx.address, DEADLINE, size, 0, 0)
        tx.transact("SwapRouter", m.address("SwapRouter"), "exactInputSingle", params)
        got = _balance(tx, usdc) - before_u
        assert before_w - _balance(tx, weth) == size
        assert got == expect
    if size > 100 * E18:  # the big ones really walked across initialized ticks
        from agent.routing import v3math

        zf1 = curve.pool.zero_for_one  # type: ignore[attr-defined]
        amt = -size if side is Side.BUY else size
        assert v3math.swap(crossed_state, zf1, amt).ticks_crossed >= 1


@pytest.mark.parametrize(("side", "size"), [(Side.BUY, 3 * E18 + 1), (Side.SELL, 150 * E18 + 9)])
async def test_v2_curve_equals_the_pairs_real_swap_to_the_wei(
    world: DevWorld, l1_isolated: None, side: Side, size: int
) -> None:
    tx = _funded(world)
    m = world.l1
    weth, usdc = m.token("WETH").address, m.token("USDC").address
    async with RpcClient(world.devnets.l1.rpc_url) as rpc:
        block = await rpc.block_number()
        expect = (await UniswapV2Venue(rpc, m).curve(WETH_USDC, side, block)).cost(size)
    before_u = _balance(tx, usdc)
    r02 = m.address("UniswapV2Router02")
    if side is Side.BUY:
        tx.transact("UniswapV2Router02", r02, "swapTokensForExactTokens",
                    size, MAX >> 1, [usdc, weth], tx.address, DEADLINE)  # fmt: skip
        assert before_u - _balance(tx, usdc) == expect
    else:
        tx.transact("UniswapV2Router02", r02, "swapExactTokensForTokens",
                    size, 0, [weth, usdc], tx.address, DEADLINE)  # fmt: skip
        assert _balance(tx, usdc) - before_u == expect


async def test_the_world_gives_legs_on_both_chains_and_a_split_plan(world: DevWorld) -> None:
    async with (
        RpcClient(world.devnets.l1.rpc_url) as r1,
        RpcClient(world.devnets.l2.rpc_url) as r2,
    ):
        chains = [
            ChainSource(r1, world.l1),
            ChainSource(r2, world.l2, l2=True, bridge=BridgeCostModel(5),
                        time_bps_per_min=Decimal("0.1")),
        ]  # fmt: skip
        got = await gather(WETH_USDC, Side.BUY, 250 * E18, chains=chains)
    ids = [lg.venue_id for lg in got.legs]
    # every pool the manifests list for the pair, on both chains
    for chain, m in (("l1", world.l1), ("l2", world.l2)):
        for key, addr in m.pools.items():
            if key.startswith(("v2:WETH/USDC", "v3:WETH/USDC")):
                assert any(i.endswith(addr.lower()) and f"@{chain}:" in i for i in ids), key
    assert got.excluded == []
    assert all(lg.gas_quote > 0 for lg in got.legs)  # measured, priced in USDC
    plan = router.plan(
        got.legs, Side.BUY, 250 * E18, parent_id="it", base="WETH", quote="USDC",
        base_decimals=18, quote_decimals=6,
    )  # fmt: skip
    assert plan.unfilled == 0 and len(plan.children) >= 3  # a large order really splits
    assert plan.best_single is not None and plan.total_quote < plan.best_single[1]
    assert {c.kind.value for c in plan.children} >= {"amm", "l2_amm"}


async def test_a_curve_that_contradicts_the_pools_own_quote_stops_the_plan(
    world: DevWorld, l1_isolated: None
) -> None:
    """The curve is read at block N; a swap moves the pool; the quoter at N+1 disagrees."""
    m = world.l1
    pool = m.pools["v3:WETH/USDC/500"]
    async with RpcClient(world.devnets.l1.rpc_url) as rpc:
        v3 = UniswapV3Venue(rpc, m)
        block = await rpc.block_number()
        curve = await v3.curve(WETH_USDC, Side.BUY, block, pool=pool)
        tx = _funded(world)
        params = (m.token("USDC").address, m.token("WETH").address, 500, tx.address, DEADLINE,
                  10 * E18, MAX >> 1, 0)  # fmt: skip
        tx.transact("SwapRouter", m.address("SwapRouter"), "exactOutputSingle", params)
        now = await rpc.block_number()
        quoted = await v3.quoter_amount(WETH_USDC, Side.BUY, E18, 500, now)
        with pytest.raises(QuoteMismatchError) as e:
            check_quote("uniswap_v3@l1:" + pool, curve, E18, quoted, now, "QuoterV2")
        assert e.value.code == "QUOTE_MISMATCH"
        # at the curve's own block the quoter agrees
        same = await v3.quoter_amount(WETH_USDC, Side.BUY, E18, 500, block)
        check_quote("uniswap_v3@l1:" + pool, curve, E18, same, block, "QuoterV2")


def _agent(*args: str, env_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, "COLUMNS": "200"}, cwd=env_dir,
    )  # fmt: skip


def test_agent_route_prints_the_plan_and_refuses_bad_input(world: DevWorld, tmp_path: Path) -> None:
    state = world.state_dir
    ok = _agent("route", "--side", "buy", "--base", "WETH", "--quote", "USDC", "--size", "250",
                "--state-dir", str(state), "--json", env_dir=tmp_path)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    kids = out["plan"]["children"]
    assert len(kids) >= 3 and out["plan"]["unfilled"] == 0
    assert sum(int(c["base_amount"]) for c in kids) == 250 * E18
    assert Decimal(out["vs_best_single_bp"]) > 0 and Decimal(out["vs_grid_bp"]) >= 0
    jr = tmp_path / "journal.sqlite"
    logged = _agent("route", "--side", "buy", "--base", "WETH", "--quote", "USDC", "--size", "40",
                    "--state-dir", str(state), "--journal", str(jr), "--parent-id", "po-1",
                    env_dir=tmp_path)  # fmt: skip
    assert logged.returncode == 0, logged.stderr
    from agent.journal import SqliteJournal
    from agent.journal.codec import registry
    from agent.routing.events import RoutePlanned

    with SqliteJournal(jr) as j:
        recs = list(j.read_stream("order-po-1"))
    assert [r.type for r in recs] == ["RoutePlanned"]
    ev = registry.decode(recs[0].type, recs[0].data)
    assert isinstance(ev, RoutePlanned) and ev.plan.size == 40 * E18 and ev.plan.unfilled == 0
    text = _agent("route", "--side", "sell", "--base", "WETH", "--quote", "USDC", "--size", "5",
                  "--state-dir", str(state), "--venues", "v3", "--no-l2", env_dir=tmp_path)  # fmt: skip
    assert text.returncode == 0, text.stderr
    assert "best single venue" in text.stdout and "5%-grid split" in text.stdout
    assert "uniswap_v2" not in text.stdout and "l2_amm" not in text.stdout
    deny = _agent("route", "--side", "buy", "--base", "WETH", "--quote", "USDC", "--size", "1",
                  "--limit", "100", "--state-dir", str(state), env_dir=tmp_path)  # fmt: skip
    assert deny.returncode == 1
    assert "ROUTE_LIMIT_UNREACHABLE" in deny.stderr and "Traceback" not in deny.stderr
    bad = _agent("route", "--side", "hold", "--base", "WETH", "--quote", "USDC", "--size", "1",
                 "--state-dir", str(state), env_dir=tmp_path)  # fmt: skip
    assert bad.returncode == 2 and "--side" in bad.stderr and "Traceback" not in bad.stderr
