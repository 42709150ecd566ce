"""REDUCING judged from the fund's positions: after a buy, a sell of at most the WETH the Safe
holds passes (journaled reduce-only), a buy or a sell beyond the long is refused."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from .conftest import auth, wait_done

pytestmark = pytest.mark.integration


def order(cid: str, side: str, size: str) -> dict[str, Any]:
    return {"client_order_id": cid, "side": side, "base": "WETH", "quote": "USDC", "size": size}


async def test_reducing_accepts_the_sell_that_reduces_the_long(
    daemon: Any, http: aiohttp.ClientSession, svc_config: Any, l1_isolated: None
) -> None:
    env = svc_config[1]
    trade, admin = auth(env, "trade"), auth(env, "admin")
    async with http.post(
        daemon.url + "/v1/orders", json=order("rd-buy", "buy", "2"), headers=trade
    ) as r:
        assert r.status == 202, await r.text()
    assert (await wait_done(http, daemon.url, "rd-buy", auth(env, "read")))["state"] == "filled"
    long = await daemon.exposure_of("WETH")
    assert long >= 2
    async with http.post(daemon.url + "/v1/halt", json={"reducing": True}, headers=admin) as r:
        assert (await r.json())["state"] == "reducing"
    over = str(long + 1)
    async with http.post(
        daemon.url + "/v1/orders", json=order("rd-over", "sell", over), headers=trade
    ) as r:
        body = await r.json()
    assert r.status == 422 and body["error"]["code"] == "TRADING_REDUCING", body
    async with http.post(
        daemon.url + "/v1/orders", json=order("rd-add", "buy", "1"), headers=trade
    ) as r:
        body = await r.json()
    assert r.status == 422 and body["error"]["code"] == "TRADING_REDUCING", body
    async with http.post(
        daemon.url + "/v1/orders", json=order("rd-sell", "sell", "1"), headers=trade
    ) as r:
        body = await r.json()
    assert r.status == 202, body
    got = await wait_done(http, daemon.url, "rd-sell", auth(env, "read"))
    assert got["state"] == "filled", got
    assert await daemon.exposure_of("WETH") == long - Decimal(1)
    inits = [
        json.loads(rec.data)
        for rec in daemon.primary.app.journal.read_all(1, decode=False)
        if rec.type == "OrderInitialized"
    ]
    flags = {i["client_order_id"]: i.get("reduce_only") for i in inits}
    assert flags["rd-sell"] is True and flags["rd-buy"] is False
    assert "rd-over" not in flags and "rd-add" not in flags  # refused by the state: ids reusable
