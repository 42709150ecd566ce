"""A split plan on L1 executes as ONE Safe transaction through the real PolicyModule and the
real Uniswap pools: every leg re-quoted at the pin, each child's fill equal to the plan to the
wei, the parent's fills its children's, all in one journal that `agent orders` lists."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from agent.cli.main import app as cli
from agent.deploy.devworld import DevWorld
from agent.model import Side
from agent.oms.events import order_stream
from agent.routing.events import RoutePlanned
from agent.wallet.deploy import WalletDeployment

from .conftest import Harness, amm_child, balance, operator_nonce, plan_of

pytestmark = pytest.mark.integration

LEGS = [
    ("v3:WETH/USDC/500", Decimal(60)),
    ("v3:WETH/USDC/3000", Decimal(25)),
    ("v3:WETH/USDC/10000", Decimal("1.5")),
    ("v2:WETH/USDC", Decimal("7.25")),
]


async def test_split_buy_is_one_batch_filled_exactly_as_planned(
    world: DevWorld, route_wallet: WalletDeployment, harness: Harness, l1_isolated: None, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    rpc = await harness.rpc("l1")
    block = await rpc.block_number()
    kids = [
        await amm_child(rpc, world.l1, "P1", i, key, w, block) for i, (key, w) in enumerate(LEGS)
    ]
    plan = plan_of("P1", Side.BUY, kids)
    w = await harness.wallet("l1", route_wallet)
    usdc0 = balance(world, "l1", "USDC", route_wallet.safe)
    weth0 = balance(world, "l1", "WETH", route_wallet.safe)
    nonce0 = operator_nonce(world)

    rep = await harness.executor([w]).run(plan)

    assert rep.state == "filled", rep.reason
    assert len(rep.batches) == 1 and rep.batches[0].ok  # the split is ONE transaction
    assert rep.batches[0].calls == 3 * len(LEGS)  # approve / swap / approve(0) per leg
    assert operator_nonce(world) == nonce0 + 1
    for r in rep.children:
        assert r.exact, r  # realized == planned to the wei, leg by leg
        assert r.state == "filled" and r.ref == rep.batches[0].tx_hash
    assert rep.filled == plan.size and rep.unfilled == 0
    paid = sum(c.quote_amount for c in kids)
    assert usdc0 - balance(world, "l1", "USDC", route_wallet.safe) == paid
    assert balance(world, "l1", "WETH", route_wallet.safe) - weth0 == plan.size

    store = harness.executor([w]).manager.store  # rebuilt from the journal
    parent = store.orders["P1"]
    view = store.parent_view("P1")
    assert parent.state.value == "filled" and parent.filled == view.filled
    assert {c.client_order_id for c in view.children} == {k.client_order_id for k in kids}
    plans = [r.event for r in harness.journal.read_stream(order_stream("P1"))]
    assert any(isinstance(e, RoutePlanned) and e.plan == plan for e in plans)

    out = CliRunner().invoke(
        cli, ["orders", "--all", "--json", "--journal", str(tmp_path / "journal.sqlite")]
    )
    assert out.exit_code == 0, out.output
    rows = {o["client_order_id"]: o for o in json.loads(out.output)}
    assert rows["P1"]["state"] == "filled"
    assert all(rows[k.client_order_id]["parent_id"] == "P1" for k in kids)


async def test_a_curve_that_contradicts_its_venue_stops_the_plan(
    world: DevWorld, route_wallet: WalletDeployment, harness: Harness, l1_isolated: None
) -> None:
    rpc = await harness.rpc("l1")
    block = await rpc.block_number()
    good = await amm_child(rpc, world.l1, "P2", 0, "v3:WETH/USDC/500", Decimal(5), block)
    bad = await amm_child(rpc, world.l1, "P2", 1, "v3:WETH/USDC/3000", Decimal(5), block)
    bad = replace(bad, quote_amount=bad.quote_amount - 1)  # one unit cheaper than the pool
    w = await harness.wallet("l1", route_wallet)
    nonce0 = operator_nonce(world)
    rep = await harness.executor([w]).run(plan_of("P2", Side.BUY, [good, bad]))
    assert (rep.state, rep.code) == ("denied", "ROUTE_QUOTE_MISMATCH")
    assert "the venue quotes" in rep.reason
    assert operator_nonce(world) == nonce0  # nothing signed or sent, not even the good leg
    assert rep.children == ()


async def test_a_reverting_batch_fills_nothing_and_the_remainder_is_reported(
    world: DevWorld, route_wallet: WalletDeployment, harness: Harness, l1_isolated: None
) -> None:
    """The plan is older than the pools' state (another trader moved them): the pin quote still
    checks, the bound (0 bps) no longer holds: the batch would revert as a whole, so the gas
    estimate refuses it and nothing is signed; the children are rejected, the parent reports
    its remainder."""
    rpc = await harness.rpc("l1")
    block = await rpc.block_number()
    kids = [
        await amm_child(rpc, world.l1, "P3", 0, "v3:WETH/USDC/500", Decimal(5), block),
        await amm_child(rpc, world.l1, "P3", 1, "v2:WETH/USDC", Decimal(5), block),
    ]
    # someone else buys on the V2 pair after the pin
    other = await harness.wallet("l1", route_wallet)
    px = await amm_child(rpc, world.l1, "X", 0, "v2:WETH/USDC", Decimal(50), block)
    mover = harness.executor([other])
    assert (await mover.run(plan_of("X", Side.BUY, [px]))).state == "filled"
    nonce0 = operator_nonce(world)
    rep = await harness.executor([other], slippage_bps=0).run(plan_of("P3", Side.BUY, kids))
    assert operator_nonce(world) == nonce0 and rep.batches == ()
    assert [r.state for r in rep.children] == ["rejected", "rejected"], rep.children
    assert all(r.code for r in rep.children)
    assert rep.children[1].latest_quote is not None  # the V2 leg saw the move before signing
    assert rep.filled == 0 and rep.state == "cancelled" and "ROUTE_UNFILLED" in rep.reason
