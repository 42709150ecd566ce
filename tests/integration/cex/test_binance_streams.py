"""Binance spot WebSocket streams of the simulator, driven by ccxt.pro's own binance class:
diff-depth sync onto the REST snapshot, tickers, trades, and the WebSocket API user data stream
(orders, my trades, balance); plus the legacy listenKey stream over plain aiohttp."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any, TypeVar

import aiohttp
import ccxt.pro as ccxt_pro
import pytest
import pytest_asyncio
from cex_helpers import start_sim, venue_config

from agent.exchange_sim.server import ExchangeSim
from agent.model import Side
from agent.venues.cex import build_exchange

pytestmark = pytest.mark.integration
T = TypeVar("T")
SYM, ID = "BTC/USDT", "BTCUSDT"


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[ExchangeSim]:
    s = await start_sim("binance", flow_interval_s=0)  # the test drives every book change
    yield s
    await s.stop()


@pytest_asyncio.fixture
async def ex(sim: ExchangeSim) -> AsyncIterator[Any]:
    e = build_exchange(venue_config(sim), pro=True)
    await e.load_markets()
    yield e
    await e.close()


async def until(
    fetch: Callable[[], Awaitable[T]], ok: Callable[[T], bool], timeout: float = 5.0
) -> T:
    """Call a ccxt watch_* until its result satisfies ``ok`` (each call waits for an update)."""

    async def loop() -> T:
        while True:
            v = await fetch()
            if ok(v):
                return v

    return await asyncio.wait_for(loop(), timeout)


def _book(sim: ExchangeSim) -> tuple[list[list[float]], list[list[float]]]:
    b = sim.exchange.books[ID]
    lv = lambda side: [[float(p), float(q)] for p, q in side.depth(1000)]  # noqa: E731
    return lv(b.bids), lv(b.asks)


def _place(sim: ExchangeSim, side: Side, qty: str, px: str | None, acct: str = "mm") -> None:
    sim.exchange.place(acct, ID, side, Decimal(qty), Decimal(px) if px else None)


async def test_watch_order_book_syncs_snapshot_and_diffs(sim: ExchangeSim, ex: Any) -> None:
    sim.ctx.add_key(sim.config.keys[0].__class__("mm-key", "mm-secret", "mm"))
    ob = await asyncio.wait_for(ex.watch_order_book(SYM), 5)
    assert ob["nonce"] == sim.exchange.books[ID].change_id
    # new levels, a level that grows, a cancel that empties one, and a taker sweeping two
    _place(sim, Side.BUY, "0.5", "59000")
    _place(sim, Side.BUY, "0.25", "59000")
    _place(sim, Side.SELL, "0.3", "61000")
    mm_sell = next(o for o in sim.exchange.open_orders("mm", ID) if o.side is Side.SELL)
    sim.exchange.cancel("mm", mm_sell.order_id)
    _place(sim, Side.BUY, "0.05", None, acct="trader")
    target = sim.exchange.books[ID].change_id
    ob = await until(lambda: ex.watch_order_book(SYM), lambda o: o["nonce"] == target)
    bids, asks = _book(sim)
    assert [list(x) for x in ob["bids"]] == bids
    assert [list(x) for x in ob["asks"]] == asks
    assert [59000.0, 0.75] in bids


async def test_depth_updates_chain_by_update_id(sim: ExchangeSim) -> None:
    """Raw stream check: each depthUpdate's U is the previous u + 1, and the first one after a
    REST snapshot covers its lastUpdateId + 1, as Binance documents for a local book."""
    sim.ctx.add_key(sim.config.keys[0].__class__("mm-key", "mm-secret", "mm"))
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{sim.ws_url}/stream/ws/btcusdt@depth@100ms") as ws,
    ):
        async with http.get(f"{sim.url}/api/v3/depth", params={"symbol": ID}) as r:
            snap = await r.json()
        for i in range(5):
            _place(sim, Side.BUY, "0.1", str(58000 + i))
        events = [json.loads((await asyncio.wait_for(ws.receive(), 5)).data) for _ in range(5)]
    assert all(e["e"] == "depthUpdate" and e["s"] == ID for e in events)
    assert events[0]["U"] <= snap["lastUpdateId"] + 1 <= events[0]["u"]
    for prev, cur in itertools.pairwise(events):
        assert cur["U"] == prev["u"] + 1


async def _subscribed(sim: ExchangeSim, n_streams: int = 0, account: str = "") -> None:
    """Wait until the simulator holds the subscriptions (ccxt sends them asynchronously)."""

    async def ready() -> None:
        while not (
            sum(len(c.streams) for c in sim.streams.conns) >= n_streams
            and (not account or any(c.account == account for c in sim.streams.conns))
        ):
            await asyncio.sleep(0.01)

    await asyncio.wait_for(ready(), 5)


async def test_watch_ticker_bids_asks_and_trades(sim: ExchangeSim, ex: Any) -> None:
    trades_task = asyncio.create_task(ex.watch_trades(SYM))
    ticker_task = asyncio.create_task(ex.watch_ticker(SYM, {"name": "ticker"}))
    bids_asks_task = asyncio.create_task(ex.watch_bids_asks([SYM]))
    await _subscribed(sim, n_streams=3)
    _, fills = sim.exchange.place("trader", ID, Side.BUY, Decimal("0.02"), None)
    assert fills
    trades = await asyncio.wait_for(trades_task, 5)
    assert trades[-1]["id"] == str(fills[0].trade_id)
    assert Decimal(str(trades[-1]["price"])) == fills[0].price
    assert trades[-1]["side"] == "buy"
    book = sim.exchange.books[ID]
    ticker = await asyncio.wait_for(ticker_task, 5)
    assert Decimal(str(ticker["last"])) == fills[-1].price
    assert Decimal(str(ticker["bid"])) == book.best_bid()
    assert Decimal(str(ticker["ask"])) == book.best_ask()
    ba = (await asyncio.wait_for(bids_asks_task, 5))[SYM]
    assert Decimal(str(ba["ask"])) == book.best_ask()
    assert Decimal(str(ba["bid"])) == book.best_bid()


async def test_user_stream_orders_trades_and_balance(sim: ExchangeSim, ex: Any) -> None:
    orders: list[dict] = []
    trades: list[dict] = []

    async def collect(watch, into: list, done) -> None:
        while not done(into):
            into.extend(await watch())

    qty = Decimal("0.03")
    filled = lambda: [o for o in orders if o["status"] == "closed"]  # noqa: E731
    orders_t = asyncio.create_task(collect(ex.watch_orders, orders, lambda _: filled()))
    trades_t = asyncio.create_task(
        collect(
            ex.watch_my_trades,
            trades,
            lambda ts: sum(Decimal(str(t["amount"])) for t in ts) >= qty,
        )
    )
    ledger = lambda: {b.asset: b.free for b in sim.exchange.ledger.balances("trader")}  # noqa: E731
    balance_t = asyncio.create_task(
        until(
            ex.watch_balance,
            lambda b: (
                "BTC" in b
                and Decimal(str(b["BTC"]["free"])) == ledger()["BTC"]
                and Decimal(str(b["USDT"]["free"])) == ledger()["USDT"]
            ),
        )
    )
    await _subscribed(sim, account="trader")
    placed = await ex.create_order(SYM, "market", "buy", float(qty), None, {"clientOrderId": "u-1"})
    await asyncio.wait_for(asyncio.gather(orders_t, trades_t), 5)
    closed = filled()[-1]
    assert closed["id"] == placed["id"] and closed["clientOrderId"] == "u-1"
    assert Decimal(str(closed["filled"])) == qty
    venue = [t for t in sim.exchange.trades if t.taker_order_id == int(placed["id"])]
    assert sorted(t["id"] for t in trades) == sorted(str(t.trade_id) for t in venue)
    bal = await balance_t  # the stream's balances equal the venue's ledger after the fill
    assert Decimal(str(bal["BTC"]["free"])) > Decimal(10)


async def test_user_stream_rejects_a_bad_signature(sim: ExchangeSim) -> None:
    bad = build_exchange(replace(venue_config(sim), secret="not-the-secret"), pro=True)
    try:
        await bad.load_markets()
        # ccxt 4.5.90 raises AuthenticationError, then trips over its own clean-up (a KeyError
        # chained onto it); either way the venue's -1022 reaches the caller
        with pytest.raises(Exception) as info:
            await asyncio.wait_for(bad.watch_orders(), 5)
        chain = [info.value, info.value.__context__, info.value.__cause__]
        auth = [e for e in chain if isinstance(e, ccxt_pro.AuthenticationError)]
        assert auth and "Signature for this request is not valid" in str(auth[0])
        assert not any(c.account for c in sim.streams.conns)
    finally:
        await bad.close()


async def test_unknown_stream_is_refused(sim: ExchangeSim) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{sim.ws_url}/stream/ws/0") as ws,
    ):
        await ws.send_json({"method": "SUBSCRIBE", "params": ["nosuchpair@depth"], "id": 7})
        reply = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
        assert reply["id"] == 7 and reply["error"]["code"] == 2
        await ws.send_str("{not json")
        reply = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
        assert reply["error"]["code"] == 3
        await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 8})
        assert json.loads((await asyncio.wait_for(ws.receive(), 5)).data)["result"] == []


async def test_legacy_listen_key_stream(sim: ExchangeSim, ex: Any) -> None:
    key = (await ex.publicPostUserDataStream())["listenKey"]
    await ex.publicPutUserDataStream({"listenKey": key})  # keep-alive
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{sim.ws_url}/ws/{key}") as ws,
    ):
        for _ in range(100):
            if any(c.listen_key == key for c in sim.streams.conns):
                break
            await asyncio.sleep(0.02)
        await ex.create_order(SYM, "limit", "buy", 0.01, 30000, {"clientOrderId": "lk-1"})
        kinds = []
        while len(kinds) < 2:
            msg = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
            kinds.append(msg["e"])
            if msg["e"] == "executionReport":
                assert msg["c"] == "lk-1" and msg["x"] == "NEW" and msg["X"] == "NEW"
        assert sorted(kinds) == ["executionReport", "outboundAccountPosition"]
        await ex.publicDeleteUserDataStream({"listenKey": key})
        closed = await asyncio.wait_for(ws.receive(), 5)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    with pytest.raises(ccxt_pro.BaseError, match="listenKey"):
        await ex.publicPutUserDataStream({"listenKey": key})
