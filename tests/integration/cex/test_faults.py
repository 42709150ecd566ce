"""Faults: a lost order response is reconciled; 429s back off and never reach a ban;
dropped streams reconnect and duplicated/late fills are reported once."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from cex_helpers import connect, start_sim, venue_config

from agent.model import OrderType, Perpetual, Side, Spot, TimeInForce
from agent.venues.base import ChildOrder, VenueEventKind
from agent.venues.cex import build_exchange

pytestmark = pytest.mark.integration


def _child(cid: str, inst, size="0.01", **kw) -> ChildOrder:
    return ChildOrder(cid, inst, Side.BUY, Decimal(size), **kw)


async def test_plain_ccxt_places_a_deribit_order_twice_when_the_connection_drops():
    """The risk, shown with ccxt as it comes: Deribit's buy is a GET, and aiohttp re-sends an
    idempotent request once when the connection drops before the response."""
    sim = await start_sim("deribit", "drop_accept=1", flow_interval_s=0)
    raw = build_exchange(venue_config(sim), pro=False)
    try:
        await raw.load_markets()
        order = await raw.create_order(
            "BTC/USDC:USDC", "limit", "buy", 0.01, 30000, {"label": "twice"}
        )
        ours = [o for o in sim.exchange.orders.values() if o.client_id == "twice"]
        assert len(ours) == 2, "the re-sent GET placed a second order"
        assert order["id"] == str(ours[1].order_id)  # ccxt only ever heard of the second
    finally:
        await raw.close()
        await sim.stop()


@pytest.mark.parametrize("fault", ["drop_accept=1", "stall_accept=1"])
@pytest.mark.parametrize(
    "venue,inst",
    [
        ("binance", Spot("BTC", "USDT")),
        ("deribit", Perpetual("BTC", "USDC", "USDC")),
    ],
)
async def test_order_accepted_while_connection_drops_is_reconciled(venue, inst, fault):
    sim = await start_sim(venue, fault, flow_interval_s=0)
    try:
        v = await connect(sim, timeout_ms=1500)
        child = _child(
            "drop-1",
            inst,
            order_type=OrderType.LIMIT,
            limit_price=Decimal("30000"),
            time_in_force=TimeInForce.GTC,
        )
        ref = await v.submit(child)
        # exactly one order with that client id exists at the venue: neither lost nor doubled
        ours = [o for o in sim.exchange.orders.values() if o.client_id == "drop-1"]
        assert len(ours) == 1
        assert ref.venue_order_id == str(ours[0].order_id)
        assert sim.ctx.orders_placed == 1
        assert [o.ref.venue_order_id for o in await v.open_orders()] == [ref.venue_order_id]
        await v.close()
    finally:
        await sim.stop()


async def test_repeated_429s_back_off_and_never_reach_a_ban():
    # a tiny venue budget (40 weight / 2 s) and a client that asks for far more than that
    sim = await start_sim(
        "binance", "rate_limit=40,rate_window=2,ban_after=1,ban_s=60", flow_interval_s=0
    )
    try:
        v = await connect(sim, rate_per_s=1000, burst=1000)  # misconfigured: too fast
        inst = Spot("BTC", "USDT")
        for i in range(30):
            await v.submit(
                _child(
                    f"rl-{i}",
                    inst,
                    order_type=OrderType.LIMIT,
                    limit_price=Decimal("30000"),
                    time_in_force=TimeInForce.GTC,
                )
            )
        assert sim.ctx.gate.count_429 >= 1, "the test must actually hit the venue's limit"
        assert sim.ctx.gate.count_418 == 0
        assert v.rate_limited == sim.ctx.gate.count_429
        assert len(await v.open_orders()) == 30
        await v.close()
    finally:
        await sim.stop()


async def test_cancels_go_ahead_of_new_orders():
    sim = await start_sim("binance", flow_interval_s=0)
    try:
        v = await connect(sim, rate_per_s=20, burst=1)
        inst = Spot("BTC", "USDT")
        refs = [
            await v.submit(
                _child(
                    f"p-{i}",
                    inst,
                    order_type=OrderType.LIMIT,
                    limit_price=Decimal("30000"),
                    time_in_force=TimeInForce.GTC,
                )
            )
            for i in range(3)
        ]
        v.limiter.granted.clear()
        news = [
            v.submit(
                _child(
                    f"n-{i}",
                    inst,
                    order_type=OrderType.LIMIT,
                    limit_price=Decimal("30000"),
                    time_in_force=TimeInForce.GTC,
                )
            )
            for i in range(4)
        ]
        cancels = [v.cancel(r) for r in refs]
        await asyncio.gather(*news, *cancels)
        granted = [p.name for p in v.limiter.granted]
        # once queued together, every cancel is granted before any remaining new order
        first_normal_after_cancel = granted.index("CANCEL")
        assert granted[first_normal_after_cancel : first_normal_after_cancel + 3] == ["CANCEL"] * 3
        await v.close()
    finally:
        await sim.stop()


@pytest.mark.parametrize(
    "venue,inst",
    [("deribit", Perpetual("BTC", "USDC", "USDC")), ("binance", Spot("BTC", "USDT"))],
)
async def test_stream_drops_reconnect_and_duplicate_late_fills_are_reported_once(venue, inst):
    sim = await start_sim(venue, "ws_drop_after=6,dup_fills,late_fills=50", flow_interval_s=0)
    try:
        v = await connect(sim)
        assert v.capabilities.streaming
        events = v.events()
        fills: list = []

        async def collect(n: int) -> None:
            async for ev in events:
                if ev.kind is VenueEventKind.FILL:
                    fills.append(ev)
                    if len(fills) >= n:
                        return

        task = asyncio.create_task(collect(3))

        async def subscribed() -> None:  # the user stream is live at the venue
            while not (
                any(c.account for c in sim.streams.conns)
                if venue == "binance"
                else any(s.channels for s in sim.api.sessions)
            ):
                await asyncio.sleep(0.01)

        await asyncio.wait_for(subscribed(), 5)
        for i in range(3):
            await v.submit(_child(f"m-{i}", inst))  # market: each takes one level
        await asyncio.wait_for(task, 15)

        async def late_copies_sent() -> None:
            while sim.ctx.background:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(late_copies_sent(), 5)
        # a barrier: one more fill; messages on a socket are ordered, so every duplicate or
        # late copy of the first three has been delivered before this one arrives
        task = asyncio.create_task(collect(4))
        await v.submit(_child("m-barrier", inst))
        await asyncio.wait_for(task, 15)
        ids = [f.fill.trade_id for f in fills]
        assert len(ids) == len(set(ids)) == 4
        venue_trades = [t for t in sim.exchange.trades if t.taker_account == "trader"]
        assert len(venue_trades) == 4
        assert v.reconnects >= 1
        await v.close()
    finally:
        await sim.stop()


async def test_clock_skew_is_absorbed_by_time_adjustment():
    sim = await start_sim("binance", "skew=7000", flow_interval_s=0)
    try:
        v = await connect(sim, options={"adjustForTimeDifference": True})
        bal_ref = await v.submit(
            _child(
                "skew-1",
                Spot("BTC", "USDT"),
                order_type=OrderType.LIMIT,
                limit_price=Decimal("30000"),
                time_in_force=TimeInForce.GTC,
            )
        )
        assert bal_ref.venue_order_id
        await v.close()
    finally:
        await sim.stop()
