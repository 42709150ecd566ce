"""Simulator fixtures: a fresh exchange simulator on a free loopback port per test (no anvil)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from cex_helpers import start_sim

from agent.exchange_sim.server import ExchangeSim


@pytest_asyncio.fixture
async def binance_sim() -> AsyncIterator[ExchangeSim]:
    sim = await start_sim("binance", flow_interval_s=0.2)
    yield sim
    await sim.stop()


@pytest_asyncio.fixture
async def deribit_sim() -> AsyncIterator[ExchangeSim]:
    sim = await start_sim("deribit", flow_interval_s=0.2)
    yield sim
    await sim.stop()
