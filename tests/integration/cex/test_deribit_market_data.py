"""Deribit market data the algorithms read, through unmodified ccxt against the simulator:
last trades, TradingView candles, book summaries, the order history, the public trades.*
channel, the credit-based rate limit and the account summary's PnL fields."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from cex_helpers import start_sim, venue_config

from agent.exchange_sim.faults import CreditGate
from agent.exchange_sim.flow import MM_ACCOUNT
from agent.model import Side
from agent.venues.cex import build_exchange

pytestmark = pytest.mark.integration
PERP = "BTC_USDC-PERPETUAL"
PERP_SYMBOL = "BTC/USDC:USDC"


async def _sim_and_client(pro: bool = False):
    sim = await start_sim("deribit", flow_interval_s=0)
    ex = build_exchange(venue_config(sim), pro=pro)
    await ex.load_markets()
    return sim, ex


def _tape(sim, n: int, start: Decimal = Decimal(60000)) -> None:
    """``n`` trades between the market maker's resting asks and its market buys."""
    for k in range(n):
        px = start + k * Decimal("0.5")
        sim.exchange.place(MM_ACCOUNT, PERP, Side.SELL, Decimal("0.01"), px)
        sim.exchange.place(MM_ACCOUNT, PERP, Side.BUY, Decimal("0.01"), None)


async def test_last_trades_and_candles_follow_the_tape():
    sim, ex = await _sim_and_client()
    try:
        _tape(sim, 6)
        tape = [t for t in sim.exchange.trades if t.instrument == PERP]
        trades = await ex.fetch_trades(PERP_SYMBOL, limit=6)
        assert sorted(int(t["info"]["trade_seq"]) for t in trades) == [
            t.trade_id for t in tape[-6:]
        ]
        assert {t["side"] for t in trades} == {"buy"}  # the takers bought
        raw = await ex.public_get_get_last_trades_by_instrument(
            {"instrument_name": PERP, "count": 2, "sorting": "desc"}
        )
        assert raw["result"]["has_more"] is True
        assert [r["trade_seq"] for r in raw["result"]["trades"]] == [
            tape[-1].trade_id,
            tape[-2].trade_id,
        ]
        candles = await ex.fetch_ohlcv(PERP_SYMBOL, "1m", since=tape[0].ts_ms - 60_000, limit=5)
        assert candles
        vol = sum(Decimal(str(c[5])) for c in candles)
        assert vol == sum((t.amount for t in tape), Decimal(0))
        assert Decimal(str(candles[-1][4])) == tape[-1].price  # close
    finally:
        await ex.close()
        await sim.stop()


async def test_book_summaries_and_order_history():
    sim, ex = await _sim_and_client()
    try:
        raw = await ex.public_get_get_book_summary_by_currency(
            {"currency": "BTC", "kind": "option"}
        )
        rows = raw["result"]
        assert rows and all(r["instrument_name"].endswith(("-C", "-P")) for r in rows)
        assert all("mark_iv" in r and "underlying_price" in r for r in rows)
        one = await ex.public_get_get_book_summary_by_instrument({"instrument_name": PERP})
        book = sim.exchange.books[PERP]
        assert one["result"][0]["bid_price"] == float(book.best_bid())
        # one filled and one cancelled-unfilled order of our own
        filled = await ex.create_order(PERP_SYMBOL, "market", "buy", 0.01)
        resting = await ex.create_order(PERP_SYMBOL, "limit", "buy", 0.01, 30000)
        await ex.cancel_order(resting["id"], PERP_SYMBOL)
        hist = await ex.private_get_get_order_history_by_instrument({"instrument_name": PERP})
        assert [o["order_id"] for o in hist["result"]] == [filled["id"]]
        both = await ex.private_get_get_order_history_by_instrument(
            {"instrument_name": PERP, "include_unfilled": "true"}
        )
        assert [o["order_id"] for o in both["result"]] == [resting["id"], filled["id"]]
    finally:
        await ex.close()
        await sim.stop()


async def test_public_trades_channel_streams_every_trade_once():
    sim, ex = await _sim_and_client(pro=True)
    try:
        seen: list[int] = []
        for k in range(3):  # one trade per watch: each message resolves the pending watch
            pending = asyncio.ensure_future(ex.watch_trades(PERP_SYMBOL))
            while k == 0 and not any(
                ch.startswith("trades.") for s in sim.api.sessions for ch in s.channels
            ):
                await asyncio.sleep(0.01)  # the subscription must be in place before trading
            _tape(sim, 1, Decimal(60000) + k)
            got = await asyncio.wait_for(pending, 5)
            seen += [int(t["info"]["trade_seq"]) for t in got]
        tape = [t.trade_id for t in sim.exchange.trades if t.instrument == PERP][-3:]
        assert seen == tape, "every trade once, in order"
        ticks = [t["info"]["tick_direction"] for t in got]
        assert ticks == [0]  # 60002 after 60001: a plus tick
    finally:
        await ex.close()
        await sim.stop()


def test_credit_gate_is_deribits_bucket():
    now = [0.0]
    gate = CreditGate(clock=lambda: now[0])
    assert all(gate.check().status == 200 for _ in range(100))  # a burst of 100
    refused = gate.check()
    assert refused.status == 429 and refused.retry_after_s >= 1
    now[0] += 0.05  # 500 credits back: exactly one more request
    assert gate.check().status == 200
    assert gate.check().status == 429
    now[0] += 10
    assert sum(gate.check().status == 200 for _ in range(150)) == 100  # capped at the pool
    assert gate.count_418 == 0


async def test_account_summary_pnl_means_what_deribits_means():
    sim, ex = await _sim_and_client()
    try:
        e = sim.exchange
        e.cancel_all(MM_ACCOUNT, PERP)
        account = sim.ctx.keys["sim-key"].account
        e.place(MM_ACCOUNT, PERP, Side.SELL, Decimal("0.2"), Decimal(60000))
        e.place(account, PERP, Side.BUY, Decimal("0.2"), None)  # long 0.2 at 60000
        e.place(MM_ACCOUNT, PERP, Side.BUY, Decimal("0.1"), Decimal(61000))
        e.place(account, PERP, Side.SELL, Decimal("0.1"), None)  # close half at 61000
        summary = (await ex.private_get_get_account_summary({"currency": "USDC"}))["result"]
        realized = Decimal("0.1") * 1000
        assert Decimal(str(summary["session_rpl"])) == realized
        mark = e.mark_price(PERP)
        unrealized = (mark - 60000) * Decimal("0.1")
        assert Decimal(str(summary["session_upl"])) == unrealized
        assert Decimal(str(summary["futures_pl"])) == realized + unrealized
        assert Decimal(str(summary["total_pl"])) == realized + unrealized
        assert summary["options_pl"] == 0 and summary["options_value"] == 0
        pos = (await ex.private_get_get_position({"instrument_name": PERP}))["result"]
        assert Decimal(str(pos["realized_profit_loss"])) == realized
        assert Decimal(str(pos["average_price"])) == 60000
    finally:
        await ex.close()
        await sim.stop()
