"""The product path: a 250 WETH parent order planned by the router over every venue (the L1
pools, the simulator's book, the L2's bridged pool) and executed through `build_order_app`
(one OMS, one journal, a TxEngine per chain): the plan really splits, and every child fills
exactly as planned."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio

from agent.bootstrap import ChainAccess, build_order_app
from agent.deploy.devworld import OPERATOR_KEY, DevWorld, routing_sim_config, seed_routing_book
from agent.exchange_sim.server import ExchangeSim
from agent.model import Side, Spot
from agent.routing.plan import LegKind
from agent.wallet.deploy import WalletDeployment

from .conftest import balance

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[ExchangeSim]:
    s = ExchangeSim(routing_sim_config())
    await s.start()
    seed_routing_book(s)
    yield s
    await s.stop()


async def test_250_weth_buy_splits_over_every_kind_and_fills_as_planned(
    world: DevWorld,
    route_wallet: WalletDeployment,
    route_wallet_l2: WalletDeployment,
    sim: ExchangeSim,
    tmp_path: Path,
    isolated: None,
) -> None:
    app = await build_order_app(
        l1=ChainAccess(world.devnets.l1.rpc_url, world.l1, route_wallet.safe, route_wallet.module,
                       route_wallet.policy_file),
        l2=ChainAccess(world.devnets.l2.rpc_url, world.l2, route_wallet_l2.safe,
                       route_wallet_l2.module, route_wallet_l2.policy_file),
        operator_key=OPERATOR_KEY, journal_path=tmp_path / "j.sqlite",
        cex=(("binance", sim.url),), cex_symbol="ETH/USDC", time_bps_per_min=Decimal("0.1"),
    )  # fmt: skip
    try:
        inst = Spot("WETH", "USDC")
        size = 250 * 10**18
        rep = await app.routing.plan(inst, Side.BUY, size, parent_id="big")
        plan = rep.plan
        kinds = {c.kind for c in plan.children}
        assert kinds == {LegKind.AMM, LegKind.CEX, LegKind.L2_AMM}, plan.children
        assert len(plan.children) >= 4 and plan.unfilled == 0
        assert rep.vs_single is not None and rep.vs_single > 0  # better than any one venue
        l2_leg = next(c for c in plan.children if c.kind is LegKind.L2_AMM)
        assert l2_leg.venue_id.endswith(world.l2.pools["v3:WETH.B/USDC.B/500"].lower())
        usdc0 = balance(world, "l1", "USDC", route_wallet.safe)

        out = await app.executor.run(plan)

        assert out.state == "filled", (out.reason, out.children)
        assert all(r.exact for r in out.children), out.children
        assert out.filled == size
        assert len(out.batches) == 2  # one Safe transaction per chain
        l1_paid = sum(c.quote_amount for c in plan.children if c.chain_id == world.l1.chain_id)
        assert usdc0 - balance(world, "l1", "USDC", route_wallet.safe) == l1_paid
        view = app.manager.store.parent_view("big")
        assert view.filled == Decimal(250) and len(view.children) == len(plan.children)
    finally:
        await app.close()


async def test_a_failed_child_is_re_routed_over_the_other_venues(
    world: DevWorld,
    route_wallet: WalletDeployment,
    sim: ExchangeSim,
    tmp_path: Path,
    isolated: None,
) -> None:
    """The exchange refuses the CEX child (the account has no cash there): the on-chain legs
    fill, the remainder is re-planned without the exchange and fills on chain; the parent has
    two plans in its journal and ends FILLED."""
    ledger = sim.exchange.ledger
    ledger.move_free("trader", "__drain__", "USDC", ledger.free("trader", "USDC"))
    app = await build_order_app(
        l1=ChainAccess(world.devnets.l1.rpc_url, world.l1, route_wallet.safe, route_wallet.module,
                       route_wallet.policy_file),
        operator_key=OPERATOR_KEY, journal_path=tmp_path / "j.sqlite",
        cex=(("binance", sim.url),), cex_symbol="ETH/USDC",
    )  # fmt: skip
    try:
        inst = Spot("WETH", "USDC")
        rep = await app.routing.plan(inst, Side.BUY, 100 * 10**18, parent_id="rr")
        cex_leg = next(c for c in rep.plan.children if c.kind is LegKind.CEX)
        out = await app.executor.run(
            rep.plan, replan=app.routing.replanner(inst, Side.BUY, "rr", None)
        )
        assert out.state == "filled", out.reason
        assert len(out.plans) == 2 and out.filled == 100 * 10**18
        first = {r.client_order_id: r for r in out.children}
        assert first[cex_leg.client_order_id].state == "rejected"
        again = out.plans[1]
        assert all(c.venue_id != cex_leg.venue_id for c in again.children)
        assert (cex_leg.venue_id, "failed in an earlier attempt of this order") in again.excluded
        assert sum(c.base_amount for c in again.children) == cex_leg.base_amount
        assert all(r.exact for r in out.children if r.state == "filled")
        assert app.manager.store.plans["rr"] == list(out.plans)
    finally:
        await app.close()
