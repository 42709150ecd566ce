"""Pure parts of the CEX adapter: payload validation, capabilities, limiter ordering."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest

from agent.errors import ConfigError, VenuePayloadError
from agent.model import OrderType, Side, Spot
from agent.venues.base import VenueOrderState
from agent.venues.cex.capabilities import capabilities_from_has
from agent.venues.cex.config import CexConfig, sim_overrides
from agent.venues.cex.normalize import SymbolMap, fill_of, order_report
from agent.venues.cex.ratelimit import Priority, RateLimiter

MARKETS = {
    "BTC/USDT": {"spot": True, "base": "BTC", "quote": "USDT", "precision": {"amount": 1e-05}}
}
SYMS = SymbolMap("cex:test", MARKETS)
GOOD_ORDER = {
    "id": "7",
    "symbol": "BTC/USDT",
    "side": "buy",
    "status": "open",
    "amount": 0.5,
    "filled": 0.2,
    "price": 60000.0,
    "clientOrderId": "c1",
}
GOOD_TRADE = {
    "id": "t1",
    "order": "7",
    "symbol": "BTC/USDT",
    "side": "buy",
    "amount": 0.5,
    "price": 60000.0,
    "cost": 30000.0,
    "fee": {"cost": 0.00025, "currency": "BTC"},
}


def test_good_payloads_map_into_the_domain_model():
    rep = order_report("cex:test", GOOD_ORDER, SYMS)
    assert rep.state is VenueOrderState.PARTIALLY_FILLED
    assert rep.instrument == Spot("BTC", "USDT") and rep.side is Side.BUY
    assert rep.size == Decimal("0.5") and rep.ref.client_order_id == "c1"
    f = fill_of("cex:test", GOOD_TRADE, SYMS, {"BTC": 8, "USDT": 6})
    assert (f.asset_in, f.amount_in, f.asset_out, f.amount_out) == (
        "USDT",
        30_000_000_000,
        "BTC",
        50_000_000,
    )
    assert f.fee == 25_000 and f.fee_asset == "BTC"


@pytest.mark.parametrize(
    "patch",
    [
        {"amount": None},
        {"amount": "abc"},
        {"amount": -1},
        {"amount": True},
        {"side": "sideways"},
        {"symbol": "DOGE/XYZ"},
        {"id": None},
        {"filled": 9},
        {"status": "weird"},
        {"price": "NaN"},
    ],
)
def test_hostile_orders_raise_typed_error_and_log_raw(patch, caplog):
    bad = {**GOOD_ORDER, **patch}
    with caplog.at_level(logging.WARNING), pytest.raises(VenuePayloadError) as e:
        order_report("cex:test", bad, SYMS)
    assert e.value.code == "VENUE_BAD_PAYLOAD"
    assert "raw payload" in caplog.text and '"side"' in caplog.text


@pytest.mark.parametrize(
    "patch",
    [
        {"amount": "1e"},
        {"price": -5},
        {"price": 0},
        {"order": None},
        {"symbol": None},
        {"fee": {"cost": "x", "currency": "BTC"}},
    ],
)
def test_hostile_trades_raise_typed_error(patch):
    with pytest.raises(VenuePayloadError):
        fill_of("cex:test", {**GOOD_TRADE, **patch}, SYMS, {})


def test_capabilities_follow_ccxt_has():
    has = {
        "createOrder": True,
        "cancelOrder": True,
        "editOrder": False,
        "fetchOpenOrders": True,
        "fetchMyTrades": True,
        "fetchOrder": True,
        "watchMyTrades": True,
    }
    caps = capabilities_from_has(has, streaming_enabled=True)
    assert caps.cancel and caps.reports and caps.streaming and not caps.amend
    assert caps.order_types == {OrderType.MARKET, OrderType.LIMIT}
    assert not capabilities_from_has(has, streaming_enabled=False).streaming
    assert not capabilities_from_has({"createOrder": True}, streaming_enabled=True).reports


def test_config_refuses_unknown_exchange_and_sim_flavour():
    with pytest.raises(ConfigError, match=r"cex\.exchange_id"):
        CexConfig("no-such-exchange")
    with pytest.raises(ConfigError, match="sim_url"):
        sim_overrides("kraken", "http://127.0.0.1:1")
    over = sim_overrides("binance", "http://127.0.0.1:9")
    assert over["urls"]["api"]["private"] == "http://127.0.0.1:9/api/v3"
    assert over["options"]["fetchCurrencies"] is False


async def test_limiter_grants_cancels_before_queued_new_orders():
    now = [0.0]
    lim = RateLimiter(rate_per_s=1000, burst=1, clock=lambda: now[0])
    await lim.acquire(Priority.NORMAL)  # spends the only token
    lim.granted.clear()
    waiters = [
        asyncio.create_task(lim.acquire(p))
        for p in (
            Priority.NORMAL,
            Priority.BACKGROUND,
            Priority.CANCEL,
            Priority.NORMAL,
            Priority.CANCEL,
        )
    ]
    await asyncio.sleep(0)
    for _ in range(50):  # advance the fake clock; each step refills one token
        now[0] += 0.001
        await asyncio.sleep(0.002)
        if all(w.done() for w in waiters):
            break
    assert [p.name for p in lim.granted] == ["CANCEL", "CANCEL", "NORMAL", "NORMAL", "BACKGROUND"]


async def test_limiter_penalty_blocks_everyone_until_retry_after():
    now = [0.0]
    lim = RateLimiter(rate_per_s=1000, burst=5, clock=lambda: now[0])
    lim.penalize(2.0)
    task = asyncio.create_task(lim.acquire(Priority.CANCEL))
    await asyncio.sleep(0.01)
    assert not task.done() and lim.blocked_for == 2.0
    now[0] = 2.01
    await asyncio.wait_for(task, 5)
