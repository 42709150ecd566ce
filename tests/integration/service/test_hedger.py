"""The delta hedger as a daemon loop: a WETH long beyond the band is proposed back to the
target; with ``execute = false`` the proposal is journaled and streamed only, with ``true`` it
is sold through the pipeline (gate and policy) and the next pass finds nothing to do."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from .conftest import auth, wait_done

pytestmark = pytest.mark.integration


async def started(cfg: Path) -> Any:
    from agent.bootstrap import build_daemon
    from agent.service.config import load

    d = await build_daemon(load(cfg))
    await d.start()
    return d


def records(d: Any, kind: str) -> list[dict[str, Any]]:
    return [
        json.loads(r.data)
        for r in d.primary.app.journal.read_all(1, decode=False)
        if r.type == kind
    ]


async def test_hedger_proposes_then_executes_through_the_pipeline(
    svc_config: tuple[Path, dict[str, str]], http: aiohttp.ClientSession, l1_isolated: None
) -> None:
    cfg, env = svc_config
    text = cfg.read_text()
    text = text[: text.index("[hedger]")]  # the example's (routes = {}) is replaced below
    d = await started(cfg)  # no [hedger]: no loop
    try:
        assert d.hedger is None
        before = await d.exposure_of("WETH")
        body = {"client_order_id": "hg-buy", "side": "buy", "base": "WETH", "quote": "USDC",
                "size": "2"}  # fmt: skip
        async with http.post(d.url + "/v1/orders", json=body, headers=auth(env, "trade")) as r:
            assert r.status == 202, await r.text()
        assert (await wait_done(http, d.url, "hg-buy", auth(env, "read")))["state"] == "filled"
    finally:
        await d.stop()

    def hedger(execute: bool) -> None:
        cfg.write_text(
            text + f"\n[hedger]\nexecute = {str(execute).lower()}\ninterval_s = 3600\n"
            f'[hedger.routes.WETH]\nband = "0.5"\ntarget = "{before}"\nlot = "0.001"\n'
        )

    hedger(False)
    d = await started(cfg)
    try:
        alerts = d.hub.subscribe()
        (p,) = await d.hedge_pass()
        assert p["side"] == "sell" and Decimal("1.998") <= Decimal(p["size"]) <= 2, p
        assert "status" not in p  # proposed only
        (j,) = records(d, "HedgeProposed")
        assert j["client_order_id"] == p["client_order_id"] and j["execute"] is False
        assert p["client_order_id"] not in {
            o["client_order_id"] for o in records(d, "OrderInitialized")
        }
        msgs = [alerts.get_nowait() for _ in range(alerts.qsize())]
        assert any(m["type"] == "HedgeProposal" and m["stream"] == "alerts" for m in msgs)
    finally:
        await d.stop()

    hedger(True)
    d = await started(cfg)
    try:
        (p,) = await d.hedge_pass()
        assert p["status"] == "filled", p
        left = await d.exposure_of("WETH") - before
        assert Decimal(0) <= left <= Decimal("0.002")  # sold to the target, rounded down to lots
        assert await d.hedge_pass() == []  # inside the band now
    finally:
        await d.stop()
