"""The bridge venue passes the one venue conformance suite (tests/venue_conformance.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import pytest_asyncio
from venue_conformance import ConformanceCase, VenueConformance

from agent.model import Side, Spot

pytestmark = pytest.mark.integration


class TestBridgeConformance(VenueConformance):
    @pytest_asyncio.fixture
    async def venue_case(self, venue):  # `venue` from test_venue's fixture, via conftest
        yield ConformanceCase(venue, Spot("USDC", "USDC"), Decimal(10), side=Side.SELL)
