"""Hostile venue payloads end to end: the real simulator acts on each request, then a middleware
swaps its answer for a malformed one (missing fields, strings where numbers belong, negative
sizes, unknown symbols). Unmodified ccxt parses it; the adapter must raise a typed
VenuePayloadError with the raw payload logged, and leave order state as it was: an order the
venue accepted is adopted by its client id, never lost or doubled, and a fill cursor does not
move past a bad page."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from cex_helpers import connect

from agent.errors import VenuePayloadError
from agent.exchange_sim.faults import FaultConfig
from agent.exchange_sim.server import ExchangeSim, SimConfig
from agent.model import OrderType, Perpetual, Side, Spot, TimeInForce
from agent.venues.base import ChildOrder
from agent.venues.cex import CexVenue

pytestmark = pytest.mark.integration
INST = {"binance": Spot("BTC", "USDT"), "deribit": Perpetual("BTC", "USDC", "USDC")}


class Hostile:
    """Replace the next answer on a matching path (after the venue handled the request)."""

    def __init__(self) -> None:
        self.rules: list[tuple[str, Callable[[Any], Any]]] = []
        self.served = 0

    def once(self, path_part: str, corrupt: Callable[[Any], Any]) -> None:
        self.rules.append((path_part, corrupt))

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        resp = await handler(request)
        for i, (part, corrupt) in enumerate(self.rules):
            if part in request.path and isinstance(resp, web.Response) and resp.text:
                del self.rules[i]
                self.served += 1
                body = corrupt(json.loads(resp.text))
                return web.Response(
                    text=body if isinstance(body, str) else json.dumps(body),
                    status=200,
                    content_type="application/json",
                )
        return resp


@pytest_asyncio.fixture(params=["binance", "deribit"])
async def env(request) -> AsyncIterator[tuple[ExchangeSim, CexVenue, Hostile]]:
    hostile = Hostile()
    sim = ExchangeSim(SimConfig(venue=request.param, faults=FaultConfig(), flow_interval_s=0))
    sim.app.middlewares.append(hostile.middleware)
    await sim.start()
    venue = await connect(sim, streaming=False)
    yield sim, venue, hostile
    await venue.close()
    await sim.stop()


def _child(venue: str, cid: str) -> ChildOrder:
    return ChildOrder(
        cid,
        INST[venue],
        Side.BUY,
        Decimal("0.01"),
        OrderType.LIMIT,
        Decimal("30000"),
        TimeInForce.GTC,
    )


def _order_part(venue: str) -> str:
    return "/api/v3/order" if venue == "binance" else "/private/buy"


def _set(path: list[Any], value: Any) -> Callable[[Any], Any]:
    """A corruption that sets body[path...] = value (``"*"`` walks every list element)."""

    def go(node: Any, keys: list[Any]) -> None:
        if keys[0] == "*":
            for item in node:
                go(item, keys[1:])
        elif len(keys) == 1:
            node[keys[0]] = value
        else:
            go(node[keys[0]], keys[1:])

    def corrupt(body: Any) -> Any:
        go(body, path)
        return body

    return corrupt


SUBMIT_CORRUPTIONS = {
    "binance": {
        "string for a number": _set(["executedQty"], "abc"),
        "missing id": _set(["orderId"], None),
        "not json": lambda b: "<html>gateway</html>",
    },
    "deribit": {
        "string for a number": _set(["result", "order", "filled_amount"], "abc"),
        "missing id": _set(["result", "order", "order_id"], None),
        "not json": lambda b: "<html>gateway</html>",
    },
}


@pytest.mark.parametrize("case", ["string for a number", "missing id", "not json"])
async def test_bad_order_answer_is_typed_logged_and_the_order_adopted(env, case, caplog):
    sim, venue, hostile = env
    name = sim.config.venue
    hostile.once(_order_part(name), SUBMIT_CORRUPTIONS[name][case])
    with caplog.at_level(logging.WARNING):
        ref = await venue.submit(_child(name, "bad-" + case.replace(" ", "-")))
    assert hostile.served == 1
    ours = [o for o in sim.exchange.orders.values() if o.client_id == ref.client_order_id]
    assert len(ours) == 1 and ref.venue_order_id == str(ours[0].order_id)  # adopted, not doubled
    assert "raw payload" in caplog.text or "adopted" in caplog.text
    assert await venue.submit(_child(name, ref.client_order_id)) == ref  # idempotent after


OPEN_CORRUPTIONS = {
    "binance": {
        "negative size": _set(["*", "origQty"], "-0.5"),
        "unknown symbol": _set(["*", "symbol"], "DOGEXYZ"),
        "string for a number": _set(["*", "price"], "12abc"),
        "missing field": _set(["*", "orderId"], None),
    },
    "deribit": {
        "negative size": _set(["result", "*", "amount"], -0.5),
        "unknown symbol": _set(["result", "*", "instrument_name"], "DOGE-XYZ"),
        "string for a number": _set(["result", "*", "price"], "12abc"),
        "missing field": _set(["result", "*", "order_id"], None),
    },
}


@pytest.mark.parametrize(
    "case", ["negative size", "unknown symbol", "string for a number", "missing field"]
)
async def test_bad_open_orders_page_is_typed_and_logged(env, case, caplog):
    sim, venue, hostile = env
    name = sim.config.venue
    ref = await venue.submit(_child(name, "resting-1"))
    hostile.once("pen", OPEN_CORRUPTIONS[name][case])  # openOrders / get_open_orders_by_*
    with caplog.at_level(logging.WARNING), pytest.raises(VenuePayloadError) as e:
        await venue.open_orders()
    assert e.value.code == "VENUE_BAD_PAYLOAD"
    assert "raw payload" in caplog.text
    # nothing was corrupted: the next (honest) page shows the one resting order
    assert [o.ref.venue_order_id for o in await venue.open_orders()] == [ref.venue_order_id]


TRADE_CORRUPTIONS = {
    "binance": _set(["*", "qty"], "1e"),
    "deribit": _set(["result", "trades", "*", "amount"], "abc"),
}


async def test_bad_trades_page_does_not_move_the_fill_cursor(env, caplog):
    sim, venue, hostile = env
    name = sim.config.venue
    first = await venue.fills_since(None)
    await venue.submit(
        ChildOrder("taker-1", INST[name], Side.BUY, Decimal("0.01"), OrderType.MARKET)
    )
    hostile.once("rades", TRADE_CORRUPTIONS[name])  # myTrades / get_user_trades_by_*
    with caplog.at_level(logging.WARNING), pytest.raises(VenuePayloadError):
        await venue.fills_since(first.cursor)
    assert "raw payload" in caplog.text
    rep = await asyncio.wait_for(venue.fills_since(first.cursor), 5)
    venue_trades = [t for t in sim.exchange.trades if t.taker_account == "trader"]
    assert venue_trades and len(rep.fills) == len(venue_trades)
    assert {f.order_id for f in rep.fills} == {str(t.taker_order_id) for t in venue_trades}
