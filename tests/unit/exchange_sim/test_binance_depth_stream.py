"""Binance diff-depth stream of the simulator: a REST snapshot taken at any moment, plus the
depthUpdate events after it (Binance's U/u rule), rebuilds exactly the venue's book."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.exchange_sim.binance import BinanceApi
from agent.exchange_sim.binance_ws import BinanceStreams, Conn, parse_stream
from agent.exchange_sim.context import SimContext
from agent.exchange_sim.exchange import Exchange, SimReject
from agent.exchange_sim.faults import FaultConfig, WeightGate
from agent.exchange_sim.instruments import default_spot
from agent.model import Side

SYM = "BTCUSDT"


def test_stream_names_parse_like_binance():
    assert parse_stream("btcusdt@depth") == (SYM, "depth")
    assert parse_stream("btcusdt@depth@100ms") == (SYM, "depth")
    assert parse_stream("btcusdt@bookTicker") == (SYM, "bookTicker")
    assert parse_stream("btcusdt@ticker") == (SYM, "ticker")
    for bad in ("btcusdt", "@depth", "btcusdt@depth@5ms", "btcusdt@kline_1m", "btcusdt@depth20"):
        assert parse_stream(bad) is None


def _streams() -> tuple[Exchange, BinanceStreams, Conn]:
    ex = Exchange(default_spot(), clock=lambda: 0)
    for a in ("a", "b"):
        ex.ledger.deposit(a, "BTC", Decimal(10**6))
        ex.ledger.deposit(a, "USDT", Decimal(10**12))
    ctx = SimContext("binance", ex, FaultConfig(), WeightGate(6000, 60, 3, 120))
    streams = BinanceStreams(ctx, BinanceApi(ctx))
    streams._schedule = lambda: None  # type: ignore[method-assign]  # tickers need a loop
    conn = Conn(ws=None, queue=asyncio.Queue())  # type: ignore[arg-type]
    streams.conns.add(conn)
    streams._subscribe(conn, "btcusdt@depth@100ms")
    return ex, streams, conn


def _apply(side: dict[Decimal, Decimal], levels: list[list[str]]) -> None:
    for px, q in levels:
        if Decimal(q) == 0:
            side.pop(Decimal(px), None)
        else:
            side[Decimal(px)] = Decimal(q)


op = st.tuples(
    st.sampled_from(["place", "cancel"]),
    st.sampled_from("ab"),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(1, 40),  # qty in 0.001
    st.integers(-8, 8),  # price offset in ticks of 1 USDT
)


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(op, min_size=1, max_size=60), snap_at=st.integers(0, 60))
def test_snapshot_plus_diffs_rebuilds_the_book(ops, snap_at):
    ex, _streams_obj, conn = _streams()
    snapshot = None
    for i, (kind, acct, side, qty, off) in enumerate(ops):
        if i == snap_at:
            book = ex.books[SYM]
            snapshot = (dict(book.bids.depth(10**6)), dict(book.asks.depth(10**6)), book.change_id)
        try:
            if kind == "place":
                ex.place(acct, SYM, side, Decimal(qty) / 1000, Decimal(60_000 + off))
            else:
                open_ = ex.open_orders(acct, SYM)
                if open_:
                    ex.cancel(acct, open_[qty % len(open_)].order_id)
        except SimReject:
            pass
    if snapshot is None:  # the snapshot is taken after the last change
        book = ex.books[SYM]
        snapshot = (dict(book.bids.depth(10**6)), dict(book.asks.depth(10**6)), book.change_id)
    bids, asks, last = snapshot
    events = []
    while not conn.queue.empty():
        events.append(conn.queue.get_nowait())
    first = True
    for e in events:
        assert e["e"] == "depthUpdate" and e["U"] <= e["u"]
        if e["u"] <= last:
            continue  # already in the snapshot
        if first:
            assert e["U"] - 1 <= last <= e["u"] - 1  # chains onto lastUpdateId
            first = False
        else:
            assert e["U"] == last + 1  # no gap between updates
        _apply(bids, e["b"])
        _apply(asks, e["a"])
        last = e["u"]
    book = ex.books[SYM]
    assert bids == dict(book.bids.depth(10**6))
    assert asks == dict(book.asks.depth(10**6))
