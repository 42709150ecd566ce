"""The CEX side of agent.service.positions on ccxt-shaped payloads (pure: no venue): sizes
in the underlying per exchange convention, signs from the side, instruments from markets."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from agent.model import OptionContract, OptionKind, Perpetual
from agent.service.positions import _base_size, _instrument_of, cex_derivatives, has_derivatives

PERP = {"symbol": "ETH/USDT:USDT", "type": "swap", "base": "ETH", "quote": "USDT",
        "settle": "USDT", "contractSize": 1}  # fmt: skip
OPT = {"symbol": "ETH/USDC:USDC-261205-3000-C", "type": "option", "option": True, "base": "ETH",
       "quote": "USDC", "settle": "USDC", "strike": 3000, "optionType": "call",
       "expiry": 1796457600000, "contractSize": 0.01}  # fmt: skip
SPOT = {"symbol": "ETH/USDT", "type": "spot", "base": "ETH", "quote": "USDT"}


def test_instruments_from_markets() -> None:
    assert _instrument_of(PERP) == Perpetual("ETH", "USDT", "USDT")
    assert _instrument_of(OPT) == OptionContract(
        "ETH", "USDC", Decimal(3000), datetime.fromtimestamp(1796457600, UTC), OptionKind.CALL
    )


def test_sizes_in_the_underlying() -> None:
    # Binance USD-M: contracts * contractSize
    assert _base_size("binanceusdm", {"contractSize": 0.001}, PERP, Decimal(-5)) == Decimal("0.005")
    # Deribit: the position's own size (options) / size_currency (futures), not x contractSize
    assert _base_size("deribit", {"info": {"size": "2"}}, OPT, Decimal(2)) == 2
    fut = {**PERP, "type": "future"}
    assert _base_size("deribit", {"info": {"size_currency": "-1.5"}}, fut, Decimal(1)) == Decimal(
        "1.5"
    )


class FakeEx:
    def __init__(self, markets: dict, positions: list, has: bool = True) -> None:
        self.id = "deribit"
        self.markets = markets
        self.has = {"fetchPositions": has}
        self._positions = positions
        self.calls = 0

    async def fetch_positions(self) -> list:
        self.calls += 1
        return self._positions


class FakeVenue:
    def __init__(self, ex: FakeEx) -> None:
        self.id = "deribit"
        self.ex = ex

    async def _call(self, _prio, fn):
        return await fn()


async def test_spot_only_account_is_not_asked() -> None:
    ex = FakeEx({"ETH/USDT": SPOT}, [{"symbol": "ETH/USDT", "contracts": 1}])
    assert not has_derivatives(SimpleNamespace(ex=ex))
    assert await cex_derivatives(FakeVenue(ex)) == [] and ex.calls == 0


@pytest.mark.parametrize(("side", "sign"), [("long", 1), ("short", -1)])
async def test_signed_by_side_and_closed_ones_dropped(side: str, sign: int) -> None:
    ex = FakeEx(
        {OPT["symbol"]: OPT, "ETH/USDC:USDC": {**PERP, "symbol": "ETH/USDC:USDC"}},
        [
            {"symbol": OPT["symbol"], "contracts": 3, "side": side, "info": {"size": "3"},
             "entryPrice": 100, "markPrice": 90},
            {"symbol": "ETH/USDC:USDC", "contracts": 0, "side": "long", "info": {}},
        ],
    )  # fmt: skip
    (d,) = await cex_derivatives(FakeVenue(ex))
    assert d.size == sign * 3 and d.entry_price == 100 and d.mark_price == 90
    assert d.to_json()["side"] == side and d.to_json()["type"] == "option"
