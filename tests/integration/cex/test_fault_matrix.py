"""The rest of the fault list, per venue: latency, 5xx, 429 on Deribit, the 418 ban a careless
client earns, clock skew without ccxt's time adjustment, and one child sent twice at once."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import ccxt.async_support as ccxt_async
import pytest
from cex_helpers import connect, start_sim, venue_config

from agent.model import OrderType, Perpetual, Side, Spot, TimeInForce
from agent.venues.base import ChildOrder
from agent.venues.cex import build_exchange

pytestmark = pytest.mark.integration
VENUES = [("binance", Spot("BTC", "USDT")), ("deribit", Perpetual("BTC", "USDC", "USDC"))]


def _resting(cid: str, inst) -> ChildOrder:
    return ChildOrder(
        cid, inst, Side.BUY, Decimal("0.01"), OrderType.LIMIT, Decimal("30000"), TimeInForce.GTC
    )


def _ours(sim, prefix: str) -> list:
    return [o for o in sim.exchange.orders.values() if o.client_id.startswith(prefix)]


@pytest.mark.parametrize("venue,inst", VENUES)
async def test_latency_is_injected_and_tolerated(venue, inst):
    sim = await start_sim(venue, "latency=60", flow_interval_s=0)
    try:
        v = await connect(sim, streaming=False)
        t0 = time.monotonic()
        ref = await v.submit(_resting("lat-1", inst))
        assert time.monotonic() - t0 >= 0.06  # the fault is active on the order path
        assert [o.ref.venue_order_id for o in await v.open_orders()] == [ref.venue_order_id]
        await v.cancel(ref)
        assert await v.open_orders() == []
        await v.close()
    finally:
        await sim.stop()


@pytest.mark.parametrize("venue,inst", VENUES)
async def test_5xx_orders_are_reconciled_then_resent_never_doubled(venue, inst):
    # 503s arrive before the venue handles a request: the adapter finds no order by its client
    # id and sends again; reads are retried. Seeded dice: the same run every time.
    sim = await start_sim(venue, "5xx=0.3,seed=3", flow_interval_s=0)
    try:
        v = await connect(sim, streaming=False, max_retries=6)
        refs = [await v.submit(_resting(f"x5-{i}", inst)) for i in range(8)]
        orders = _ours(sim, "x5-")
        assert len(orders) == 8 and len({o.client_id for o in orders}) == 8
        assert {r.venue_order_id for r in refs} == {str(o.order_id) for o in orders}
        assert len(await v.open_orders()) == 8
        assert sim.ctx.count_5xx >= 2  # the fault actually fired
        await v.close()
    finally:
        await sim.stop()


async def test_deribit_429s_back_off_and_never_reach_a_ban():
    sim = await start_sim(
        "deribit", "rate_limit=12,rate_window=2,ban_after=1,ban_s=60", flow_interval_s=0
    )
    try:
        v = await connect(sim, streaming=False, rate_per_s=1000, burst=1000)  # too fast
        inst = VENUES[1][1]
        for i in range(16):
            await v.submit(_resting(f"rl-{i}", inst))
        assert sim.ctx.gate.count_429 >= 1 and sim.ctx.gate.count_418 == 0
        assert len(_ours(sim, "rl-")) == 16
        await v.close()
    finally:
        await sim.stop()


async def test_a_client_that_ignores_429_is_banned_with_418_and_retry_after():
    sim = await start_sim(
        "binance", "rate_limit=25,rate_window=5,ban_after=2,ban_s=30", flow_interval_s=0
    )
    raw = build_exchange(venue_config(sim), pro=False)  # plain ccxt, no back-off of ours
    try:
        await raw.load_markets()  # exchangeInfo weighs 20 of the 25
        refused = 0
        for _ in range(12):
            try:
                await raw.fetch_time()
            except ccxt_async.DDoSProtection:
                refused += 1
        assert sim.ctx.gate.count_429 >= 1 and sim.ctx.gate.count_418 >= 1
        assert refused == sim.ctx.gate.count_429 + sim.ctx.gate.count_418
        headers = {k.lower(): v for k, v in raw.last_response_headers.items()}
        assert int(headers["retry-after"]) > 0
        assert "banned" in raw.last_http_response
    finally:
        await raw.close()
        await sim.stop()


async def test_clock_skew_is_measured_and_the_order_sent_once():
    # the venue's clock runs 15 s ahead: beyond ccxt's default recvWindow of 10 s
    sim = await start_sim("binance", "skew=15000", flow_interval_s=0)
    try:
        v = await connect(sim, streaming=False)  # no adjustForTimeDifference
        ref = await v.submit(_resting("skew-a", Spot("BTC", "USDT")))
        assert [str(o.order_id) for o in _ours(sim, "skew-a")] == [ref.venue_order_id]
        assert v.ex.options["timeDifference"] <= -14000
        await v.close()
    finally:
        await sim.stop()


@pytest.mark.parametrize("venue,inst", VENUES)
async def test_the_same_child_sent_twice_at_once_is_one_order(venue, inst):
    sim = await start_sim(venue, "latency=20", flow_interval_s=0)
    try:
        v = await connect(sim, streaming=False)
        child = _resting("twin-1", inst)
        a, b = await asyncio.gather(v.submit(child), v.submit(child))
        assert a == b and len(_ours(sim, "twin-")) == 1
        await v.close()
    finally:
        await sim.stop()
