"""The generic venue conformance suite, run against the CEX adapter on both simulators."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import pytest_asyncio
from cex_helpers import connect
from venue_conformance import ConformanceCase, VenueConformance

from agent.model import OrderType, Perpetual, Side, Spot, TimeInForce

pytestmark = pytest.mark.integration


class TestBinanceConformance(VenueConformance):
    @pytest_asyncio.fixture
    async def venue_case(self, binance_sim) -> AsyncIterator[ConformanceCase]:
        venue = await connect(binance_sim)
        # a passive bid far below the market rests, so reports see it open
        yield ConformanceCase(
            venue,
            Spot("BTC", "USDT"),
            Decimal("0.01"),
            OrderType.LIMIT,
            Decimal("30000"),
            TimeInForce.GTC,
            Side.BUY,
        )
        await venue.close()


class TestDeribitConformance(VenueConformance):
    @pytest_asyncio.fixture
    async def venue_case(self, deribit_sim) -> AsyncIterator[ConformanceCase]:
        venue = await connect(deribit_sim)
        yield ConformanceCase(venue, Perpetual("BTC", "USDC", "USDC"), Decimal("0.01"))
        await venue.close()
