"""The CEX book curve against the exchange simulator through unmodified ccxt: the curve's
notional is what a real market order fills at, the taker fee and lot are the market's, and a
stale book is left out of the legs with the reason."""

from __future__ import annotations

import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from agent.model import Side, Spot
from agent.routing.sources import CexSource, gather
from agent.venues.cex.book import StaleBookError, book_curve

sys.path.insert(0, str(Path(__file__).parents[1] / "cex"))
from cex_helpers import connect, start_sim

ETH = Spot("ETH", "USDT")
E18 = 10**18


@pytest.fixture
async def sim_venue():  # type: ignore[no-untyped-def]
    sim = await start_sim("binance", flow_interval_s=3600)  # the book stays as first seeded
    venue = await connect(sim)
    yield sim, venue
    await venue.close()
    await sim.stop()


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
async def test_book_curve_notional_is_what_a_market_order_fills_at(sim_venue, side: Side) -> None:  # type: ignore[no-untyped-def]
    _sim, venue = sim_venue
    curve, pin = await book_curve(venue, ETH, side, base_decimals=18, quote_decimals=6)
    assert pin.startswith("book:")
    market = venue.ex.markets["ETH/USDT"]
    assert curve.fee_rate == Fraction(Decimal(str(market["taker"])))
    assert curve.lot == int(Decimal(str(market["precision"]["amount"])) * E18)
    x = min(curve.capacity, 7 * curve.lot * 10) // curve.lot * curve.lot
    assert x > 0
    order = await venue.ex.create_order("ETH/USDT", "market", side.value, float(Decimal(x) / E18))
    trades = await venue.ex.fetch_my_trades("ETH/USDT")
    mine = [t for t in trades if t["order"] == order["id"]]
    filled = sum(Decimal(str(t["amount"])) for t in mine)
    paid = sum(Decimal(str(t["price"])) * Decimal(str(t["amount"])) for t in mine)
    assert filled * E18 == x
    # the curve's exact notional, in USDT, is the fills' price x amount
    assert (
        Decimal(curve.notional(x).numerator) / Decimal(curve.notional(x).denominator) / 10**6
        == paid
    )
    # and its all-in cost adds exactly the taker fee on that notional, rounded against us
    fee = Fraction(Decimal(str(market["taker"])))
    n = curve.notional(x)
    want = -(-n * (1 + fee) // 1) if side is Side.BUY else n * (1 - fee) // 1
    assert curve.cost(x) == want


async def test_a_stale_book_is_refused_and_left_out_with_the_reason(sim_venue) -> None:  # type: ignore[no-untyped-def]
    _sim, venue = sim_venue
    with pytest.raises(StaleBookError) as e:
        await book_curve(venue, ETH, Side.BUY, base_decimals=18, quote_decimals=6,
                         max_age_ms=1_000, now_ms=2**62)  # fmt: skip
    assert e.value.code == "BOOK_STALE" and "old" in str(e.value)
    got = await gather(ETH, Side.BUY, E18, chains=[], cexes=[CexSource(venue, max_age_ms=-1)])
    assert got.legs == []
    assert got.excluded and got.excluded[0][0] == venue.id
    assert "StaleBookError" in got.excluded[0][1]
    fresh = await gather(ETH, Side.BUY, E18, chains=[], cexes=[CexSource(venue)])
    assert [lg.venue_id for lg in fresh.legs] == [venue.id] and fresh.excluded == []
