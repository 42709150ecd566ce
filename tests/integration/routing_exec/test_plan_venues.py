"""The other venue kinds of a plan: a CEX child through ccxt (unmodified) against the exchange
simulator's static book, and an L2 child from the bridged inventory of the L2 Safe, together
with an L1 batch, all under one parent."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from decimal import Decimal
from fractions import Fraction

import pytest
import pytest_asyncio

from agent.deploy.devworld import DevWorld, routing_sim_config, seed_routing_book
from agent.exchange_sim.server import ExchangeSim
from agent.model import Side
from agent.routing.plan import LegKind, PlannedChild
from agent.venues.cex import CexConfig, CexVenue
from agent.wallet.deploy import WalletDeployment

from .conftest import L2_SYMBOLS, Harness, amm_child, balance, plan_of

pytestmark = pytest.mark.integration
TAKER = Fraction(5, 10_000)


@pytest_asyncio.fixture
async def cex() -> AsyncIterator[tuple[ExchangeSim, CexVenue, list]]:
    sim = ExchangeSim(routing_sim_config())
    await sim.start()
    asks = seed_routing_book(sim)
    v = await CexVenue.connect(
        CexConfig("binance", api_key="sim-key", secret="sim-secret", sim_url=sim.url,
                  venue_id="binance", rate_per_s=50.0, burst=10)
    )  # fmt: skip
    yield sim, v, asks
    await v.close()
    await sim.stop()


def cex_child(parent: str, i: int, asks: list, eth: Decimal) -> PlannedChild:
    """As the router plans a book: BUY pays ceil(notional * (1 + taker fee))."""
    left, notional = eth, Fraction(0)
    for px, qty in asks:
        take = min(left, qty)
        notional += Fraction(px) * Fraction(take)
        left -= take
        if not left:
            break
    n_units = notional * 10**6
    assert n_units.denominator == 1
    quote = math.ceil(n_units * (1 + TAKER))
    px = Decimal(quote).scaleb(-6) / eth
    return PlannedChild(
        f"{parent}.{i}", "binance", LegKind.CEX, None, Side.BUY, int(eth.scaleb(18)), quote,
        quote - int(n_units), 0, px, px, "book:0", {"symbol": "ETH/USDC"},
    )  # fmt: skip


async def test_one_parent_over_l1_cex_and_l2(
    world: DevWorld,
    route_wallet: WalletDeployment,
    route_wallet_l2: WalletDeployment,
    harness: Harness,
    cex,  # type: ignore[no-untyped-def]
    isolated: None,
) -> None:
    sim, venue, asks = cex
    r1, r2 = await harness.rpc("l1"), await harness.rpc("l2")
    b1, b2 = await r1.block_number(), await r2.block_number()
    kids = [
        await amm_child(r1, world.l1, "PX", 0, "v3:WETH/USDC/500", Decimal(20), b1),
        await amm_child(r1, world.l1, "PX", 1, "v3:WETH/USDC/3000", Decimal(8), b1),
        cex_child("PX", 2, asks, Decimal(10)),
        await amm_child(
            r2,
            world.l2,
            "PX",
            3,
            "v3:WETH.B/USDC.B/500",
            Decimal(6),
            b2,
            symbols=L2_SYMBOLS,
            kind=LegKind.L2_AMM,
        ),
    ]
    w1 = await harness.wallet("l1", route_wallet)
    w2 = await harness.wallet("l2", route_wallet_l2)
    ex = harness.executor([w1, w2])
    ex.cex["binance"] = venue
    usdc_b0 = balance(world, "l2", "USDC.B", route_wallet_l2.safe)

    rep = await ex.run(plan_of("PX", Side.BUY, kids))

    assert rep.state == "filled", (rep.reason, rep.children)
    assert sorted(b.chain_id for b in rep.batches) == [world.l1.chain_id, world.l2.chain_id]
    by = {r.client_order_id: r for r in rep.children}
    for r in rep.children:
        assert r.exact, r  # on-chain: to the wei; the CEX: the book's notional to the cent
    cexr = by["PX.2"]
    assert cexr.fee_asset == "ETH" and cexr.fee == Decimal(10) * Decimal("0.0005")
    assert cexr.filled_quote + kids[2].fee_quote == kids[2].quote_amount
    assert usdc_b0 - balance(world, "l2", "USDC.B", route_wallet_l2.safe) == kids[3].quote_amount
    # the simulator saw one market order, filled against the seeded asks
    trades = sim.exchange.account_trades("trader")
    assert sum(t.amount for t in trades) == Decimal(10)
    store = ex.manager.store
    assert store.parent_view("PX").filled == store.orders["PX"].filled == Decimal(44)
