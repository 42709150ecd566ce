"""POST /v1/orders with an ``algorithm`` object: the daemon runs the parent through the
algorithm runner over the router and the one OMS (each slice a routed parent order on the
daemon's journal); inconsistent parameters are a 400 naming the field, nothing journaled."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from agent.algos.events import AlgoCompleted, AlgoState, algo_stream

from .conftest import auth

pytestmark = pytest.mark.integration


def order(cid: str, algorithm: dict[str, Any]) -> dict[str, Any]:
    return {"client_order_id": cid, "side": "buy", "base": "WETH", "quote": "USDC",
            "size": "2", "algorithm": algorithm}  # fmt: skip


async def test_twap_through_the_api(
    daemon: Any, http: aiohttp.ClientSession, svc_config: Any, l1_isolated: None
) -> None:
    h = auth(svc_config[1], "trade")
    url = daemon.url + "/v1/orders"
    head = daemon.primary.app.journal.head()
    for algo, field in [
        ({"kind": "twap", "horizon": "2s", "interval": "5s"}, "algorithm.interval"),
        ({"kind": "wap"}, "algorithm.kind"),
        ({"kind": "pov", "participation": "1.5"}, "algorithm.participation"),
        ({"kind": "iceberg", "limit": "3000", "display": "2"}, "algorithm.display"),
    ]:
        async with http.post(url, json=order("bad", algo), headers=h) as r:
            got = await r.json()
        assert r.status == 400 and got["error"]["field"] == field, got
    assert daemon.primary.app.journal.head() == head  # nothing journaled

    algo = {"kind": "twap", "horizon": "4s", "interval": "2s"}
    async with http.post(url, json=order("api-twap", algo), headers=h) as r:
        got = await r.json()
    assert r.status == 202 and got["status"] == "accepted", got
    assert got["stream"] == algo_stream("api-twap")

    journal = daemon.primary.app.journal
    state = AlgoState()
    end = time.monotonic() + 90
    while state.finished is None:  # the schedule runs in the daemon: follow its stream
        assert time.monotonic() < end, "the TWAP did not finish"
        await asyncio.sleep(0.2)
        state = AlgoState()
        for rec in journal.read_stream(algo_stream("api-twap")):
            state.apply(rec.event)
    assert isinstance(state.finished, AlgoCompleted) and state.filled == Decimal(2), state
    assert len(state.done) >= 2
    for d in state.done.values():  # each slice: a routed parent order in the daemon's OMS
        async with http.get(f"{url}/{d.client_order_id}", headers=auth(svc_config[1], "read")) as r:
            row = await r.json()
        assert r.status == 200 and row["state"] == "filled", row
