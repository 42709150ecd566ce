"""A CEX venue in the daemon: ccxt (unmodified) against the exchange simulator, configured by
a ``[venues.ID] kind = "cex"`` table with its credentials named by env vars. Reconciled at
start (a fill the venue made while the daemon was down is journaled before the API serves),
gathered into GET /v1/risk with the Safe, and cancelled by the one kill switch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from agent.deploy.devworld import routing_sim_config, seed_routing_book
from agent.exchange_sim.server import ExchangeSim
from agent.model import OrderType, Side, Spot, TimeInForce
from agent.oms import OrderManager, OrderState, SubmitOrder
from agent.oms.events import OrderSubmitted
from agent.venues.base import ChildOrder

from .conftest import auth

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def cex_sim() -> AsyncIterator[ExchangeSim]:
    sim = ExchangeSim(routing_sim_config())
    await sim.start()
    seed_routing_book(sim)
    yield sim
    await sim.stop()


def add_cex_venue(cfg: Path, sim_url: str) -> None:
    with cfg.open("a") as f:
        f.write(
            '\n[venues.binance]\nkind = "cex"\nexchange = "binance"\n'
            f'sim_url = "{sim_url}"\napi_key_env = "AGENT_CEX_KEY"\n'
            'secret_env = "AGENT_CEX_SECRET"\nsymbols = ["ETH/USDC"]\n'
        )


async def place(mgr: OrderManager, venue: Any, cid: str, size: str, limit: str | None) -> str:
    """What a routed CEX child does: the OMS accepts it, the venue gets it, OrderSubmitted."""
    kind = OrderType.LIMIT if limit else OrderType.MARKET
    tif = TimeInForce.GTC if limit else TimeInForce.IOC
    px = Decimal(limit) if limit else None
    mgr.submit(
        SubmitOrder(cid, "ETH/USDC", Side.BUY, Decimal(size), kind, px, tif, venue="binance")
    )
    ref = await venue.submit(
        ChildOrder(cid, Spot("ETH", "USDC"), Side.BUY, Decimal(size), kind, px, tif)
    )
    await mgr.record_async([OrderSubmitted(cid, "binance", ref.venue_order_id)])
    return ref.venue_order_id


async def test_cex_venue_reconciled_in_risk_and_halted(
    svc_config: tuple[Path, dict[str, str]],
    cex_sim: ExchangeSim,
    http: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agent.bootstrap import build_daemon
    from agent.service.config import load

    cfg, env = svc_config
    add_cex_venue(cfg, cex_sim.url)
    monkeypatch.setenv("AGENT_CEX_KEY", "sim-key")
    monkeypatch.setenv("AGENT_CEX_SECRET", "sim-secret")
    d = await build_daemon(load(cfg))
    try:
        venue = d.cex["binance"]
        # as if a previous run sent these and stopped before reading the outcome
        mgr = OrderManager.open(d.primary.app.journal)
        await place(mgr, venue, "cx-fill", "0.25", None)
        await place(mgr, venue, "cx-rest", "0.5", "100")  # rests far below the book
        await d.start()
        d.manager.sync()
        filled = d.manager.store.get("cx-fill")
        assert filled.state is OrderState.FILLED and filled.filled == Decimal("0.25")
        assert d.manager.store.get("cx-rest").state is OrderState.SUBMITTED

        async with http.get(f"{d.url}/v1/risk", headers=auth(env, "read")) as r:
            assert r.status == 200, await r.text()
            risk = await r.json()
        cex_bal = await venue.balances()
        assert risk["positions"]["binance"]["balances"]["ETH"] == str(cex_bal["ETH"])
        safe = {k: Decimal(v) for k, v in risk["positions"]["l1"]["balances"].items()}
        weth = next(g for g in risk["greeks"] if g["underlying"] == "WETH")
        # one exposure: the Safe's WETH and ETH and the CEX account's ETH
        want = safe.get("WETH", Decimal(0)) + safe["ETH"] + cex_bal["ETH"]
        assert weth["delta"] == pytest.approx(float(want), rel=1e-9)
        async with http.get(f"{d.url}/v1/venues", headers=auth(env, "read")) as r:
            kinds = {v["id"]: v for v in (await r.json())["venues"]}
        assert kinds["binance"]["healthy"] and kinds["binance"]["kind"] == "cex"
        async with http.get(f"{d.url}/v1/positions", headers=auth(env, "read")) as r:
            accounts = {p["account"]: p for p in (await r.json())["positions"]}
        assert accounts["binance"]["balances"]["ETH"] == str(cex_bal["ETH"])

        async with http.post(
            f"{d.url}/v1/halt", json={"reason": "drill"}, headers=auth(env, "admin")
        ) as r:
            assert r.status == 200, await r.text()
            out = await r.json()
        assert out["state"] == "halted"
        assert out["cex"] == {"binance": {"cancelled": ["cx-rest"]}}
        assert list(await venue.open_orders()) == []
        d.manager.sync()
        assert d.manager.store.get("cx-rest").state is OrderState.CANCELLED
    finally:
        if d.url and not d.draining:
            await d.stop()
        elif not d.url:
            for rt in d.chains.values():
                await rt.app.close()
            for v in d.cex.values():
                await v.close()


async def test_cex_venue_without_credentials_refused(
    svc_config: tuple[Path, dict[str, str]], cex_sim: ExchangeSim
) -> None:
    from agent.bootstrap import build_daemon
    from agent.errors import ConfigError
    from agent.service.config import load

    cfg, _ = svc_config
    add_cex_venue(cfg, cex_sim.url)  # names AGENT_CEX_KEY, which is not set
    with pytest.raises(ConfigError, match="AGENT_CEX_KEY"):
        await build_daemon(load(cfg))
