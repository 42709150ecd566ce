"""The daemon's API over real HTTP, on the anvil devnet, against the real swap pipeline."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.deploy.devworld import DevWorld
from agent.errors import ConfigError
from agent.service.schema import ROUTES
from tests.integration.service.conftest import auth, operator_nonce, wait_done

pytestmark = pytest.mark.integration


def order(cid: str, **kw: Any) -> dict[str, Any]:
    return {"client_order_id": cid, "side": "buy", "base": "WETH", "quote": "USDC",
            "size": "1", **kw}  # fmt: skip


async def _json(resp: aiohttp.ClientResponse) -> Any:
    assert resp.content_type == "application/json", await resp.text()
    return await resp.json()


async def test_openapi_matches_the_handlers(daemon: Any, http: aiohttp.ClientSession) -> None:
    env_admin = daemon.api.tokens
    token = next(t for t, r in env_admin.items() if r == "admin")
    h = {"Authorization": f"Bearer {token}"}
    async with http.get(daemon.url + "/openapi.json") as r:
        doc = await _json(r)
    assert doc["openapi"].startswith("3.")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    served = {
        (res.method, res.resource.canonical)  # type: ignore[union-attr]
        for res in daemon._runner.app.router.routes()
        if res.method != "HEAD"
    }
    assert documented == served
    for p, ops in doc["paths"].items():
        for m, op in ops.items():
            if "requestBody" in op:  # every documented body is enforced: unknown field -> 400
                ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"]
                url = daemon.url + p.replace("{client_order_id}", "nope")
                async with http.request(m, url, json={"zz": 1}, headers=h) as r:
                    body = await _json(r)
                assert r.status == 400, (p, body)
                assert body["error"]["code"] in ("UNKNOWN_FIELD", "MISSING_FIELD"), body
            elif m == "get" and p != "/v1/stream":
                url = daemon.url + p.replace("{client_order_id}", "nope")
                async with http.get(url, headers=h) as r:
                    assert r.status in (200, 404), (p, r.status)
                    if r.status == 404:
                        assert (await r.json())["error"]["code"] == "ORDER_NOT_FOUND"
    assert {r.handler for r in ROUTES} == {
        op["operationId"] for ops in doc["paths"].values() for op in ops.values()
    }


async def test_bad_requests_are_json_errors_and_sign_nothing(
    world: DevWorld, daemon: Any, http: aiohttp.ClientSession, svc_config: Any
) -> None:
    env = svc_config[1]
    url = daemon.url + "/v1/orders"
    head = daemon.primary.app.journal.head()
    nonce = operator_nonce(world)
    cases: list[tuple[dict[str, str], Any, int, str, str | None]] = [
        ({}, order("a1"), 401, "AUTH_MISSING", None),
        ({"Authorization": "Bearer nope"}, order("a2"), 401, "AUTH_INVALID", None),
        ({"Authorization": "Basic abc"}, order("a3"), 401, "AUTH_MISSING", None),
        (auth(env, "read"), order("a4"), 403, "AUTH_FORBIDDEN", None),
        (auth(env, "trade"), b"{not json", 400, "MALFORMED_JSON", None),
        (auth(env, "trade"), order("a5", colour="red"), 400, "UNKNOWN_FIELD", "colour"),
        (auth(env, "trade"), order("a6", size=1), 400, "WRONG_TYPE", "size"),
        (auth(env, "trade"), order("a7", max_slippage_bps="30"), 400, "WRONG_TYPE",
         "max_slippage_bps"),
        (auth(env, "trade"), order("a8", size="1e400"), 400, "INVALID_VALUE", "size"),
        (auth(env, "trade"), order("a9", side="hold"), 400, "WRONG_TYPE", "side"),
        (auth(env, "trade"), {k: v for k, v in order("a10").items() if k != "base"}, 400,
         "MISSING_FIELD", "base"),
        (auth(env, "trade"), order("a11", base="DOGE"), 400, "UNKNOWN_ASSET", None),
        (auth(env, "trade"), b"{" + b" " * 70_000 + b"}", 413, "BODY_TOO_LARGE", None),
        (auth(env, "trade"), order("a12", chain="l9"), 400, "UNKNOWN_CHAIN", "chain"),
    ]  # fmt: skip
    for headers, body, status, code, field in cases:
        kw = {"data": body} if isinstance(body, bytes) else {"json": body}
        async with http.post(url, headers=headers, **kw) as r:  # type: ignore[arg-type]
            got = await _json(r)
        assert (r.status, got["error"]["code"]) == (status, code), (
            body if len(str(body)) < 200 else "big",
            got,
        )
        if field is not None:
            assert got["error"]["field"] == field, got
        assert got["error"]["message"]
    # admin-only and unknown routes
    async with http.post(daemon.url + "/v1/halt", json={}, headers=auth(env, "trade")) as r:
        assert (r.status, (await r.json())["error"]["code"]) == (403, "AUTH_FORBIDDEN")
    async with http.get(daemon.url + "/v1/nothing", headers=auth(env, "read")) as r:
        assert (r.status, (await r.json())["error"]["code"]) == (404, "NOT_FOUND")
    assert daemon.primary.app.journal.head() == head  # nothing journaled
    assert operator_nonce(world) == nonce  # nothing signed or sent


async def test_submit_get_list_resubmit_and_metrics(
    daemon: Any, http: aiohttp.ClientSession, svc_config: Any, l1_isolated: None
) -> None:
    env = svc_config[1]
    h = auth(env, "trade")
    async with http.post(daemon.url + "/v1/orders", json=order("api-1"), headers=h) as r:
        body = await _json(r)
    assert r.status == 202 and body["status"] == "accepted", body  # executed behind the ack
    assert r.headers["Location"] == "/v1/orders/api-1"
    got = await wait_done(http, daemon.url, "api-1", auth(env, "read"))
    assert got["state"] == "filled" and Decimal(got["filled"]) == 1
    kids = [k.client_order_id for k in daemon.manager.store.parent_view("api-1").children]
    async with http.post(daemon.url + "/v1/orders", json=order("api-1"), headers=h) as r:
        again = await _json(r)
    assert r.status == 200 and again["status"] == "duplicate"  # idempotent client id
    async with http.get(daemon.url + "/v1/orders?all=1", headers=auth(env, "read")) as r:
        rows = (await _json(r))["orders"]
    assert sorted(o["client_order_id"] for o in rows) == sorted(["api-1", *kids])
    async with http.get(
        daemon.url + "/v1/fills?client_order_id=api-1", headers=auth(env, "read")
    ) as r:
        fills = (await _json(r))["fills"]
    assert [(f["client_order_id"], Decimal(f["quantity"])) for f in fills] == [("api-1", 1)]
    assert Decimal(fills[0]["price"]) > 0 and fills[0]["trade_id"]
    cli = await asyncio.create_subprocess_exec(  # the CLI asks the running daemon over HTTP
        sys.executable, "-m", "agent.cli", "orders", "--api", daemon.url, "--all", "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(cli.communicate(), 120)
    assert cli.returncode == 0, err.decode()
    assert ("api-1", "filled") in [(o["client_order_id"], o["state"]) for o in json.loads(out)]
    async with http.get(daemon.url + "/v1/orders?state=bogus", headers=auth(env, "read")) as r:
        assert (r.status, (await r.json())["error"]["field"]) == (400, "state")
    async with http.post(daemon.url + "/v1/orders/api-1/cancel", json={}, headers=h) as r:
        assert (r.status, (await r.json())["state"]) == (200, "filled")  # a no-op when done
    daemon._follow_once()  # the follower's pass, synchronously: no waiting on its timer
    async with http.get(daemon.url + "/metrics", headers=auth(env, "read")) as r:
        text = await r.text()
    assert r.status == 200
    metrics = dict(
        line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    assert float(metrics["agent_intent_to_signed_seconds_count"]) >= 1
    assert float(metrics['agent_orders{state="filled"}']) == 1 + len(kids)  # parent, children
    assert float(metrics["agent_fills_total"]) >= 1
    async with http.get(daemon.url + "/v1/positions", headers=auth(env, "read")) as r:
        pos = (await _json(r))["positions"]
    assert pos[0]["chain"] == "l1" and Decimal(pos[0]["balances"]["WETH"]) >= 1
    async with http.get(daemon.url + "/v1/venues", headers=auth(env, "read")) as r:
        venues = (await _json(r))["venues"]
    assert len(venues) == 2 and all(v["healthy"] for v in venues)


async def test_websocket_streams_the_order_events(
    daemon: Any, http: aiohttp.ClientSession, svc_config: Any, l1_isolated: None
) -> None:
    env = svc_config[1]
    async with http.ws_connect(daemon.url + "/v1/stream", headers=auth(env, "read")) as ws:
        async with http.post(
            daemon.url + "/v1/orders", json=order("ws-1"), headers=auth(env, "trade")
        ) as r:
            assert r.status == 202, await r.text()
        seen: list[str] = []
        while "TxSigned" not in seen or "OrderFilled" not in seen:
            msg = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
            # the parent's events, and its batch's transaction (ws-1@<chain id>#0)
            ev = msg["event"]
            if (ev.get("client_order_id") or ev.get("parent_id") or "").partition("@")[0] == "ws-1":
                seen.append(msg["type"])
    assert seen[:2] == ["OrderInitialized", "OrderAccepted"], seen
    assert "RoutePlanned" in seen and seen.index("TxSigned") < seen.index("OrderFilled")


async def test_stop_closes_the_streams(
    daemon: Any, http: aiohttp.ClientSession, svc_config: Any
) -> None:
    async with http.ws_connect(
        daemon.url + "/v1/stream", headers=auth(svc_config[1], "read")
    ) as ws:
        await asyncio.wait_for(daemon.stop(), 30)  # a connected client does not hold the drain
        msg = await asyncio.wait_for(ws.receive(), 10)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), msg


async def test_halt_across_processes_names_the_journal(
    world: DevWorld, daemon: Any, http: aiohttp.ClientSession, svc_config: Any
) -> None:
    env = svc_config[1]
    journal = str(daemon.journal_path)
    # another process writes the halt to the same journal: the daemon obeys it
    out = subprocess.run(
        [sys.executable, "-m", "agent.cli", "halt", "--journal", journal, "-r", "drill"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert journal in out.stdout.replace("\n", "")
    async with http.get(daemon.url + "/v1/trading", headers=auth(env, "read")) as r:
        assert await _json(r) == {"state": "halted", "journal": journal}
    nonce = operator_nonce(world)
    async with http.post(
        daemon.url + "/v1/orders", json=order("halted-1"), headers=auth(env, "trade")
    ) as r:
        body = await _json(r)
    assert r.status == 422 and "HALTED" in body["error"]["code"], body
    assert operator_nonce(world) == nonce
    async with http.post(
        daemon.url + "/v1/resume", json={"reason": "drill over"}, headers=auth(env, "admin")
    ) as r:
        assert (await _json(r))["state"] == "active"
    async with http.post(
        daemon.url + "/v1/halt", json={"reducing": True}, headers=auth(env, "admin")
    ) as r:
        assert await _json(r) == {"state": "reducing", "reason": "", "journal": journal}
    async with http.post(daemon.url + "/v1/resume", json={}, headers=auth(env, "admin")) as r:
        assert r.status == 200


async def test_config_naming_another_chain_refuses_to_start(
    world: DevWorld, svc_config: Any
) -> None:
    from agent.bootstrap import build_daemon
    from agent.service.config import load

    cfg_path: Path = svc_config[0]
    text = cfg_path.read_text()
    l1, l2 = world.devnets.l1.rpc_url, world.devnets.l2.rpc_url
    cfg_path.write_text(text.replace(f'rpc_url = "{l1}"', f'rpc_url = "{l2}"', 1))
    with pytest.raises(ConfigError, match=r"chains\.l1\.rpc_url: .* reports chain id"):
        await build_daemon(load(cfg_path))


async def test_missing_secret_refuses_to_start(
    svc_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.bootstrap import build_daemon
    from agent.service.config import load

    monkeypatch.delenv("AGENT_OPERATOR_KEY")
    with pytest.raises(ConfigError, match=r"wallets\.l1\.signer_key_env: environment variable"):
        await build_daemon(load(svc_config[0]))


async def test_only_the_configured_venues_trade(svc_config: Any) -> None:
    from agent.bootstrap import build_daemon
    from agent.service.config import load

    cfg_path: Path = svc_config[0]
    text = cfg_path.read_text()
    cfg_path.write_text(
        text.replace('[venues.uniswap_v3_l1]\nkind = "uniswap_v3"\nchain = "l1"', "", 1)
    )
    d = await build_daemon(load(cfg_path))
    try:
        assert [v.id for v in d.primary.app.pipeline.venues] == ["uniswap_v2@l1"]
    finally:
        for rt in d.chains.values():
            await rt.app.close()
    cfg_path.write_text(text + '\n[venues.bin]\nkind = "cex"\nexchange = "binance"\n')
    # a live exchange without credentials refuses the start (tests/integration/service/test_cex.py)
    with pytest.raises(ConfigError, match=r"venues\.bin\.api_key_env: a CEX venue without"):
        await build_daemon(load(cfg_path))


async def test_risk_of_the_whole_fund_and_margin_alerts(
    svc_config: Any, http: aiohttp.ClientSession, l1_isolated: None
) -> None:
    from agent.bootstrap import build_daemon
    from agent.risk.monitor import AlertLevel, MarginMonitor
    from agent.service.config import load

    cfg_path, env = svc_config
    text = cfg_path.read_text()
    for old, new in (("margin_warning = 0.5", "margin_warning = 0.000001"),
                     ("margin_critical = 0.8", "margin_critical = 0.000002"),
                     ("margin_liquidation = 1.0", "margin_liquidation = 0.000003"),
                     ("margin_interval_s = 15.0", "margin_interval_s = 3600")):  # fmt: skip
        assert old in text
        text = text.replace(old, new)
    cfg_path.write_text(text)
    d = await build_daemon(load(cfg_path))
    await d.start()
    try:
        async with http.post(
            d.url + "/v1/orders", json=order("risk-1"), headers=auth(env, "trade")
        ) as r:
            assert r.status == 202, await r.text()
        assert (await wait_done(http, d.url, "risk-1", auth(env, "read")))["state"] == "filled"
        async with http.get(d.url + "/v1/risk", headers=auth(env, "read")) as r:
            rep = await _json(r)
        assert rep["equity"] > 0 and rep["margin"]["maintenance"] > 0
        weth = next(g for g in rep["greeks"] if g["underlying"] == "WETH")
        bal = Decimal(rep["positions"]["l1"]["balances"]["WETH"])
        assert abs(Decimal(str(weth["delta"])) - bal) < Decimal("0.000001")  # delta of spot = size
        assert {v["method"] for v in rep["var"]} and all(v["var"] >= 0 for v in rep["var"])
        await asyncio.wait_for(d.margin_checked.wait(), 60)  # the loop's first pass is done
        d.monitor = MarginMonitor(d.monitor.thresholds)  # level OK whatever that pass saw
        async with http.ws_connect(d.url + "/v1/stream", headers=auth(env, "read")) as ws:
            await d.margin_pass()  # now WETH is held: the ratio is far above the thresholds
            msg = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
        assert msg["type"] == "MarginAlert" and msg["event"]["level"] == "LIQUIDATION", msg
        assert d.monitor.level is AlertLevel.LIQUIDATION
        async with http.get(d.url + "/metrics", headers=auth(env, "read")) as r:
            text = await r.text()
        ratio = next(
            ln for ln in text.splitlines() if ln.startswith('agent_margin_ratio{account="fund"}')
        )
        assert float(ratio.rsplit(" ", 1)[1]) == pytest.approx(
            rep["margin"]["margin_ratio"], rel=0.05
        )
    finally:
        await d.stop()


def _paused(world: DevWorld, module: str) -> bool:
    from agent.service.kill import PAUSED

    raw = world.devnets.l1.rpc("eth_call", {"to": module, "data": "0x" + PAUSED.hex()}, "latest")
    return int(raw, 16) != 0


async def test_halt_onchain_pauses_the_module_and_resume_leaves_it_to_the_owners(
    world: DevWorld, daemon: Any, http: aiohttp.ClientSession, svc_config: Any,
    svc_wallet: Any, l1_isolated: None,
) -> None:  # fmt: skip
    from agent.deploy.devworld import GUARDIAN_KEY, address_of

    env = svc_config[1]
    assert not _paused(world, svc_wallet.module)
    async with http.post(
        daemon.url + "/v1/halt", json={"onchain": True, "reason": "incident"},
        headers=auth(env, "admin"),
    ) as r:  # fmt: skip
        out = await _json(r)
    assert r.status == 200 and out["state"] == "halted", out
    (p,) = out["paused"]
    assert p["chain"] == "l1" and p["tx_hash"].startswith("0x") and p["paused"]
    assert _paused(world, svc_wallet.module)
    signed = [
        json.loads(rec.data)
        for rec in daemon.primary.app.journal.read_all(1, decode=False)
        if rec.type == "TxSigned"
    ]
    assert any(
        s["tx_hash"] == p["tx_hash"] and s["sender"].lower() == address_of(GUARDIAN_KEY).lower()
        for s in signed
    )
    async with http.post(daemon.url + "/v1/resume", json={}, headers=auth(env, "admin")) as r:
        assert (await _json(r))["state"] == "active"
    nonce = operator_nonce(world)
    async with http.post(
        daemon.url + "/v1/orders", json=order("paused-1"), headers=auth(env, "trade")
    ) as r:
        body = await _json(r)
    assert r.status == 202, body
    # trading is ACTIVE again, but the module stays paused until the owners unpause it: the
    # off-chain guard reads the pause flag at the check and denies with the policy's code
    got = await wait_done(http, daemon.url, "paused-1", auth(env, "read"))
    # (the parent was working when its batch was refused: it ends cancelled, the reason names
    # each child's refusal)
    assert got["state"] == "cancelled" and "POLICY_PAUSED" in got["reason"], got
    kids = daemon.manager.store.parent_view("paused-1").children
    assert kids and all((k.state.value, k.code) == ("denied", "POLICY_PAUSED") for k in kids)
    assert operator_nonce(world) == nonce
    assert _paused(world, svc_wallet.module)


def test_cli_halt_onchain_from_the_config(
    world: DevWorld, svc_config: Any, svc_wallet: Any, l1_isolated: None
) -> None:
    cfg = str(svc_config[0])
    argv = [sys.executable, "-m", "agent.cli", "halt", "--onchain", "--config", cfg]
    first = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "trading state: halted" in first.stdout and "paused (tx 0x" in first.stdout
    assert _paused(world, svc_wallet.module)
    again = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "already paused" in again.stdout, again.stderr
    bare = subprocess.run(argv[:-2], capture_output=True, text=True, timeout=60)
    assert bare.returncode == 2 and "--onchain: pass --config" in bare.stderr
