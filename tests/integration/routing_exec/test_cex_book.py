"""The CEX side of the routing world: the simulator's ETH/USDC book, seeded around the pools'
price, read back through ccxt (unmodified) by the CEX adapter."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agent.deploy.devworld import (
    CEX_LEVEL_SIZE,
    CEX_LEVELS,
    routing_sim_config,
    seed_routing_book,
)
from agent.exchange_sim.server import ExchangeSim
from agent.venues.cex import CexConfig, CexVenue

pytestmark = pytest.mark.integration


async def test_book_is_static_and_around_3000() -> None:
    sim = ExchangeSim(routing_sim_config())
    await sim.start()
    try:
        asks = seed_routing_book(sim)
        v = await CexVenue.connect(
            CexConfig("binance", api_key="sim-key", secret="sim-secret", sim_url=sim.url)
        )
        try:
            book = await v.ex.fetch_order_book("ETH/USDC", 100)
        finally:
            await v.close()
    finally:
        await sim.stop()
    got = [(Decimal(str(p)), Decimal(str(q))) for p, q in book["asks"]]
    assert got == asks and len(got) == CEX_LEVELS
    assert all(q == CEX_LEVEL_SIZE for _, q in got)
    best_bid = Decimal(str(book["bids"][0][0]))
    assert best_bid < Decimal(3000) < got[0][0] < Decimal("3001.6")
