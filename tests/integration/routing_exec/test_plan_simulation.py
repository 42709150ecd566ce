"""A routed plan's one Safe transaction per chain, simulated before signing against the
legs' quotes summed per token (the plan executor registers the expectation with the
executor's SimulationGuard): the honest batch fills and its simulation is journaled on the
batch's id; a batch built for other amounts than the plan's is denied SIMULATION_MISMATCH
for every child, and nothing is signed."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from agent.chain.simulate import SimulationGuard
from agent.deploy.devworld import OPERATOR_KEY, DevWorld, address_of
from agent.model import Side
from agent.oms.events import sim_stream
from agent.venues.uniswap_v2 import UniswapV2Venue
from agent.venues.uniswap_v3 import UniswapV3Venue
from agent.wallet.deploy import WalletDeployment

from .conftest import Harness, amm_child, balance, operator_nonce, plan_of

pytestmark = pytest.mark.integration


async def _guarded(harness: Harness, world: DevWorld, w: WalletDeployment):  # type: ignore[no-untyped-def]
    rpc = await harness.rpc("l1")
    guard = SimulationGuard(
        rpc, operator=address_of(OPERATOR_KEY), module=w.module,
        multisend=world.l1.address("MultiSendCallOnly"), safe=w.safe,
        journal=harness.journal, chain_id=world.l1.chain_id,
    )  # fmt: skip
    return await harness.wallet("l1", w, guard=guard)


async def _kids(harness: Harness, world: DevWorld, parent: str):  # type: ignore[no-untyped-def]
    rpc = await harness.rpc("l1")
    block = await rpc.block_number()
    return [
        await amm_child(rpc, world.l1, parent, 0, "v3:WETH/USDC/500", Decimal(3), block),
        await amm_child(rpc, world.l1, parent, 1, "v2:WETH/USDC", Decimal(2), block),
    ]


async def test_the_plan_batch_is_simulated_against_the_summed_legs(
    world: DevWorld, route_wallet: WalletDeployment, harness: Harness, l1_isolated: None
) -> None:
    w = await _guarded(harness, world, route_wallet)
    kids = await _kids(harness, world, "S1")
    weth0 = balance(world, "l1", "WETH", route_wallet.safe)
    rep = await harness.executor([w]).run(plan_of("S1", Side.BUY, kids))
    assert rep.state == "filled", rep.reason
    batch = f"S1@{world.l1.chain_id}#0"
    (sim,) = [r.event for r in harness.journal.read_stream(sim_stream(batch))]
    weth = world.l1.token("WETH").address.lower()
    usdc = world.l1.token("USDC").address.lower()
    assert sim.verdict == "allow" and sim.traced, sim
    deltas = {d.asset: d.amount for d in sim.deltas}
    assert deltas[weth] == 5 * 10**18 == balance(world, "l1", "WETH", route_wallet.safe) - weth0
    assert -deltas[usdc] == sum(k.quote_amount for k in kids)
    # the expectation is the two legs' quotes summed (exact out; in within the slippage)
    assert f"receive at least {5 * 10**18} of" in sim.expected


async def test_a_batch_for_other_amounts_is_denied_unsigned(
    world: DevWorld, route_wallet: WalletDeployment, harness: Harness, l1_isolated: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    for cls in (UniswapV2Venue, UniswapV3Venue):
        orig = cls.build_swap

        def half(self, quote, _orig=orig, **kw):  # type: ignore[no-untyped-def]
            q = replace(quote, amount_in=quote.amount_in // 2, amount_out=quote.amount_out // 2)
            return _orig(self, q, **kw)

        monkeypatch.setattr(cls, "build_swap", half)
    w = await _guarded(harness, world, route_wallet)
    kids = await _kids(harness, world, "S2")
    nonce0 = operator_nonce(world)
    rep = await harness.executor([w]).run(plan_of("S2", Side.BUY, kids))
    assert operator_nonce(world) == nonce0 and rep.batches == ()
    assert [r.code for r in rep.children] == ["SIMULATION_MISMATCH"] * 2, rep.children
    assert rep.filled == 0
    (sim,) = [r.event for r in harness.journal.read_stream(sim_stream(f"S2@{world.l1.chain_id}#0"))]
    assert sim.verdict == "deny" and "below the intent's" in sim.reason
