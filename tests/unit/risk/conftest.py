from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from agent.model import OptionContract, OptionKind, Perpetual, Spot
from agent.model.positions import Portfolio, Position
from agent.risk.market import MarketSnapshot, UnderlyingMarket

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


def option(und: str, strike: int, days: float, kind: str) -> OptionContract:
    return OptionContract(und, "USD", Decimal(strike), NOW + timedelta(days=days), OptionKind(kind))


@pytest.fixture(scope="session")
def market() -> MarketSnapshot:
    return MarketSnapshot(
        NOW,
        {
            "ETH": UnderlyingMarket(3000.0, 0.6, NOW, rate=0.04),
            "BTC": UnderlyingMarket(90_000.0, 0.5, NOW),
        },
    )


@pytest.fixture
def mixed_portfolio() -> Portfolio:
    return Portfolio(
        (
            Position(option("ETH", 2800, 30, "put"), Decimal(-10), "deribit"),
            Position(Perpetual("ETH", "USD", "USDC"), Decimal(3), "binance", Decimal(2900)),
            Position(Spot("ETH", "USDC"), Decimal("1.5"), "safe@L1"),
            Position(option("BTC", 100_000, 60, "call"), Decimal(2), "lyra@L2"),
        ),
        (("USDC", Decimal(20_000)),),
    )
