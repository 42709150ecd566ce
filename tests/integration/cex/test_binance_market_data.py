"""Binance market data and order features the execution algorithms use, read and placed by
unmodified ccxt against the simulator: trades, aggTrades, klines, icebergQty, quoteOrderQty
market buys, PRICE_FILTER maxPrice, NOTIONAL and the 0.1% default fee."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest
from cex_helpers import start_sim, venue_config

from agent.exchange_sim.flow import MM_ACCOUNT
from agent.model import Side
from agent.venues.cex import build_exchange

pytestmark = pytest.mark.integration
# ccxt maps Binance's -1013 "Filter failure: ..." to BadRequest (InvalidOrder by some messages)
FILTER_FAILURE = (ccxt.BadRequest, ccxt.InvalidOrder)


async def _sim_and_client(empty: bool = False):
    sim = await start_sim("binance", flow_interval_s=0)
    if empty:  # only the orders a test places itself
        sim.exchange.cancel_all(MM_ACCOUNT, "BTCUSDT")
        assert sim.exchange.books["BTCUSDT"].best_ask() is None
    ex = build_exchange(venue_config(sim), pro=False)
    await ex.load_markets()
    return sim, ex


def _cross(sim, n: int, price: Decimal = Decimal(60000)) -> None:
    """``n`` taker buys of 0.001 BTC, each against a fresh resting ask of the market maker."""
    ex = sim.exchange
    for k in range(n):
        px = price + k
        ex.place(MM_ACCOUNT, "BTCUSDT", Side.SELL, Decimal("0.001"), px)
        ex.place(MM_ACCOUNT, "BTCUSDT", Side.BUY, Decimal("0.001"), None)


async def test_trades_and_agg_trades_match_the_exchange_tape():
    sim, ex = await _sim_and_client()
    try:
        before = len([t for t in sim.exchange.trades if t.instrument == "BTCUSDT"])
        _cross(sim, 5)
        tape = [t for t in sim.exchange.trades if t.instrument == "BTCUSDT"]
        assert len(tape) == before + 5
        recent = await ex.public_get_trades({"symbol": "BTCUSDT", "limit": 5})
        assert [int(r["id"]) for r in recent] == [t.trade_id for t in tape[-5:]]
        assert all(r["isBuyerMaker"] is False for r in recent)  # the takers bought
        trades = await ex.fetch_trades("BTC/USDT", limit=5)  # ccxt's default: aggTrades
        assert [Decimal(str(t["price"])) for t in trades] == [t.price for t in tape[-5:]]
        assert {t["side"] for t in trades} == {"buy"}
        first = int(trades[0]["id"])
        again = await ex.fetch_trades("BTC/USDT", params={"fromId": first})
        assert [t["id"] for t in again] == [t["id"] for t in trades]
    finally:
        await ex.close()
        await sim.stop()


async def test_one_taker_order_sweeping_a_level_is_one_agg_trade():
    sim, ex = await _sim_and_client(empty=True)
    try:
        e = sim.exchange
        for _ in range(3):  # three makers at one price
            e.place(MM_ACCOUNT, "BTCUSDT", Side.SELL, Decimal("0.002"), Decimal(70000))
        book = e.books["BTCUSDT"]
        assert book.best_ask() == Decimal(70000)
        _order, fills = e.place(MM_ACCOUNT, "BTCUSDT", Side.BUY, Decimal("0.006"), None)
        assert len(fills) == 3
        aggs = await ex.public_get_aggtrades({"symbol": "BTCUSDT", "limit": 1})
        assert len(aggs) == 1
        a = aggs[0]
        assert Decimal(a["q"]) == Decimal("0.006")
        assert (int(a["f"]), int(a["l"])) == (fills[0].trade_id, fills[-1].trade_id)
    finally:
        await ex.close()
        await sim.stop()


async def test_klines_carry_ohlcv_of_the_tape():
    sim, ex = await _sim_and_client()
    try:
        _cross(sim, 4, Decimal(61000))
        tape = [t for t in sim.exchange.trades if t.instrument == "BTCUSDT"]
        candles = await ex.fetch_ohlcv("BTC/USDT", "1m", limit=3)
        assert candles, "klines returned nothing"
        last = candles[-1]
        in_minute = [t for t in tape if t.ts_ms // 60_000 * 60_000 == last[0]]
        assert in_minute, "the last candle's minute holds the tape's last trades"
        assert Decimal(str(last[1])) == in_minute[0].price  # open
        assert Decimal(str(last[2])) == max(t.price for t in in_minute)  # high
        assert Decimal(str(last[3])) == min(t.price for t in in_minute)  # low
        assert Decimal(str(last[4])) == in_minute[-1].price  # close
        assert Decimal(str(last[5])) == sum((t.amount for t in in_minute), Decimal(0))
        with pytest.raises(ccxt.BadRequest):
            await ex.public_get_klines({"symbol": "BTCUSDT", "interval": "7m"})
    finally:
        await ex.close()
        await sim.stop()


async def test_iceberg_shows_only_its_slice_and_replenishes_on_fill():
    sim, ex = await _sim_and_client()
    try:
        price = 50000.0  # below the seeded book's bids: nothing crosses
        order = await ex.create_order(
            "BTC/USDT", "limit", "buy", 0.01, price, {"icebergQty": 0.002}
        )
        sim_order = sim.exchange.orders[int(order["id"])]
        assert sim_order.display == Decimal("0.002")
        book = await ex.fetch_order_book("BTC/USDT", limit=1000)
        level = [q for p, q in book["bids"] if p == price]
        assert level == [0.002], "the book shows the slice, not the order"
        # a seller sweeps the bids down to 50000: the iceberg fills slice after slice, all of it
        sim.exchange.place(MM_ACCOUNT, "BTCUSDT", Side.SELL, Decimal("1"), Decimal(50000))
        status = await ex.fetch_order(order["id"], "BTC/USDT")
        assert status["filled"] == pytest.approx(0.01)
        refused = None
        try:
            await ex.create_order("BTC/USDT", "limit", "buy", 0.01, price, {"icebergQty": 0.0005})
        except FILTER_FAILURE as e:  # 20 slices > ICEBERG_PARTS 10
            refused = e
        assert refused is not None and "ICEBERG_PARTS" in str(refused)
    finally:
        await ex.close()
        await sim.stop()


async def test_iceberg_refresh_goes_to_the_back_of_the_queue():
    sim, _ex = await _sim_and_client(empty=True)
    try:
        e = sim.exchange
        e.ledger.deposit("acct-a", "BTC", Decimal(1))
        ice, _ = e.place(
            "acct-a",
            "BTCUSDT",
            Side.SELL,
            Decimal("0.004"),
            Decimal(80000),
            display=Decimal("0.002"),
        )
        plain, _ = e.place(MM_ACCOUNT, "BTCUSDT", Side.SELL, Decimal("0.002"), Decimal(80000))
        _o, fills = e.place(
            MM_ACCOUNT, "BTCUSDT", Side.BUY, Decimal("0.003"), Decimal(80000), tif=_ioc()
        )
        makers = [f.maker_order_id for f in fills]
        # the iceberg's first slice, then the plain order (the refreshed slice lost priority)
        assert makers == [ice.order_id, plain.order_id]
        assert ice.filled == Decimal("0.002") and plain.filled == Decimal("0.001")
    finally:
        await _ex.close()
        await sim.stop()


def _ioc():
    from agent.exchange_sim.matching import SimTif

    return SimTif.IOC


async def test_quote_order_qty_market_buy_spends_the_quote_amount():
    sim, ex = await _sim_and_client()
    try:
        book = sim.exchange.books["BTCUSDT"]
        ask = book.best_ask()
        assert ask is not None
        order = await ex.create_order(
            "BTC/USDT", "market", "buy", None, None, {"quoteOrderQty": 100}
        )
        filled = Decimal(str(order["filled"]))
        cost = Decimal(str(order["cost"]))
        assert 0 < cost <= 100
        lot = sim.exchange.instruments["BTCUSDT"].lot
        assert filled % lot == 0
        assert cost + ask * lot > 100, "at most one lot's worth of the budget is left over"
        raw = await ex.private_get_order({"symbol": "BTCUSDT", "orderId": order["id"]})
        assert Decimal(raw["origQuoteOrderQty"]) == 100
    finally:
        await ex.close()
        await sim.stop()


async def test_filters_and_default_fee():
    sim, ex = await _sim_and_client()
    try:
        info = {f["filterType"]: f for f in ex.market("BTC/USDT")["info"]["filters"]}
        assert Decimal(info["NOTIONAL"]["minNotional"]) == 5
        with pytest.raises(FILTER_FAILURE, match="PRICE_FILTER"):  # above maxPrice
            await ex.create_order("BTC/USDT", "limit", "sell", 0.001, 2_000_000)
        with pytest.raises(FILTER_FAILURE, match="NOTIONAL"):  # 0.0001 * 30000 = 3 < 5
            await ex.create_order("BTC/USDT", "limit", "buy", 0.0001, 30000)
        order = await ex.create_order("BTC/USDT", "market", "buy", 0.001)
        fee = sum(Decimal(str(f["fee"]["cost"])) for f in order["trades"])
        assert fee == Decimal("0.001") * Decimal("0.001")  # 0.1% of 0.001 BTC, in BTC
        assert ex.market("BTC/USDT")["taker"] == pytest.approx(0.001)
    finally:
        await ex.close()
        await sim.stop()
