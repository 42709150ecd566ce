"""The daemon's order intake (agent/service/intake.py) on anvil: accept-then-execute, the
router and the PlanExecutor over the daemon's venues, limits, the children's risk gate, bad
input. Each order's outcome is read back from the daemon (GET, the journal), never assumed."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from tests.integration.service.conftest import auth, wait_done

pytestmark = pytest.mark.integration


def order(cid: str, side: str = "buy", size: str = "1", **kw: Any) -> dict[str, Any]:
    return {"client_order_id": cid, "side": side, "base": "WETH", "quote": "USDC",
            "size": size, **kw}  # fmt: skip


def children(daemon: Any, parent: str) -> list[Any]:
    daemon.manager.sync()
    return list(daemon.manager.store.parent_view(parent).children)


async def test_routed_order_splits_across_venues_and_fills(
    daemon: Any, svc_config: Any, http: aiohttp.ClientSession, l1_isolated: None
) -> None:
    _, env = svc_config
    h = auth(env, "trade")
    async with http.post(daemon.url + "/v1/orders", json=order("rt-1", size="250"), headers=h) as r:
        body = await r.json()
        assert r.status == 202, body
        assert r.headers["Location"] == "/v1/orders/rt-1" and body["state"] == "accepted"
    got = await wait_done(http, daemon.url, "rt-1", auth(env, "read"))
    assert got["state"] == "filled" and Decimal(got["filled"]) == 250, got
    kids = children(daemon, "rt-1")
    venues = {k.venue for k in kids if k.filled}
    assert len(venues) >= 2, [(k.venue, k.filled) for k in kids]
    assert sum(k.filled for k in kids) == 250
    # every child passed the swap pipeline's risk gate before it was signed
    journal = daemon.primary.app.journal
    for k in kids:
        acc = [e for _, e in journal.replay(1) if type(e).__name__ == "OrderAccepted"
               and e.client_order_id == k.client_order_id]  # fmt: skip
        assert acc and "max_order_notional" in acc[0].checks, acc
    # the resubmit is idempotent: 200, the same order, nothing executed again
    n = operator_nonce_of(daemon)
    async with http.post(daemon.url + "/v1/orders", json=order("rt-1", size="250"), headers=h) as r:
        again = await r.json()
        assert (r.status, again["status"], again["state"]) == (200, "duplicate", "filled")
    assert operator_nonce_of(daemon) == n


def operator_nonce_of(daemon: Any) -> int:
    return len(daemon.primary.app.executor.engine.records)


async def _price(daemon: Any, side: Any) -> Decimal:
    """The router's average price for 0.01 WETH now (quote per base)."""
    from agent.model import Spot

    rep = await daemon.intake.routing.plan(Spot("WETH", "USDC"), side, 10**16, parent_id="px")
    q = sum(c.quote_amount for c in rep.plan.children)
    return Decimal(q).scaleb(-6) / Decimal("0.01")


async def test_limit_orders_never_fill_beyond_their_limit(
    daemon: Any, svc_config: Any, http: aiohttp.ClientSession, l1_isolated: None
) -> None:
    from agent.model import Side

    _, env = svc_config
    h, rd = auth(env, "trade"), auth(env, "read")
    # a buy limit below every venue: accepted, then ends DENIED by the router, nothing sent
    sent = operator_nonce_of(daemon)
    async with http.post(
        daemon.url + "/v1/orders", json=order("lim-far", size="1", limit_price="1000"), headers=h
    ) as r:
        assert r.status == 202 and (await r.json())["state"] == "accepted"
    got = await wait_done(http, daemon.url, "lim-far", rd)
    assert (got["state"], got["code"]) == ("denied", "ROUTE_LIMIT_UNREACHABLE"), got
    assert Decimal(got["filled"]) == 0 and operator_nonce_of(daemon) == sent
    # a buy far beyond the depth within 0.1% of the price: what fits under the limit fills,
    # at or below it, child by child; the rest is cancelled with the reason
    lim = (await _price(daemon, Side.BUY) * Decimal("1.001")).quantize(Decimal("0.01"))
    body = order("lim-part", size="300", limit_price=str(lim), time_in_force="ioc")
    async with http.post(daemon.url + "/v1/orders", json=body, headers=h) as r:
        assert r.status == 202, await r.text()
    got = await wait_done(http, daemon.url, "lim-part", rd)
    assert got["state"] == "cancelled" and "unfilled" in got["reason"], got
    assert 0 < Decimal(got["filled"]) < 300 and Decimal(got["avg_price"]) <= lim, got
    for k in children(daemon, "lim-part"):
        assert k.avg_price is None or k.avg_price <= lim, (k.venue, k.avg_price, lim)
    # a sell limit above every venue: nothing sold
    async with http.post(
        daemon.url + "/v1/orders", headers=h,
        json=order("lim-sell", side="sell", size="1", limit_price="100000"),
    ) as r:  # fmt: skip
        assert r.status == 202
    got = await wait_done(http, daemon.url, "lim-sell", rd)
    assert (got["state"], Decimal(got["filled"])) == ("denied", 0), got


BAD = [  # (body change, status, code, field)
    ({"order_type": "limit"}, 400, "LIMIT_PRICE_REQUIRED", "limit_price"),
    ({"order_type": "market", "limit_price": "3000"}, 400, "LIMIT_PRICE_ON_MARKET", "limit_price"),
    ({"limit_price": "0"}, 400, "INVALID_VALUE", "limit_price"),
    ({"limit_price": 3000}, 400, "WRONG_TYPE", "limit_price"),
    ({"limit_price": "-1"}, 400, "INVALID_VALUE", "limit_price"),
    ({"time_in_force": "gtc"}, 400, "UNSUPPORTED_TIME_IN_FORCE", "time_in_force"),
    ({"time_in_force": "day"}, 400, "WRONG_TYPE", "time_in_force"),
    ({"base": "DOGE"}, 400, "UNKNOWN_ASSET", "base"),
    ({"size": "0"}, 400, "INVALID_SIZE", "size"),
    ({"size": "1.0000000000000000001"}, 400, "INVALID_SIZE", "size"),
    ({"max_slippage_bps": 5000}, 400, "INVALID_VALUE", "max_slippage_bps"),
    ({"quote": "WETH"}, 400, "INVALID_VALUE", "quote"),
]


async def test_bad_orders_are_one_line_errors_and_journal_nothing(
    daemon: Any, svc_config: Any, http: aiohttp.ClientSession
) -> None:
    _, env = svc_config
    head = daemon.primary.app.journal.head()
    sent = operator_nonce_of(daemon)
    for change, status, code, field in BAD:
        async with http.post(
            daemon.url + "/v1/orders", json=order("bad-1") | change, headers=auth(env, "trade")
        ) as r:
            got = await r.json()
        assert (r.status, got["error"]["code"], got["error"]["field"]) == (status, code, field), (
            change, got,
        )  # fmt: skip
        msg = got["error"]["message"]
        assert msg and "\n" not in msg and "Traceback" not in msg
    assert daemon.primary.app.journal.head() == head and operator_nonce_of(daemon) == sent


async def test_a_full_queue_refuses_with_503_and_journals_nothing(
    daemon: Any, svc_config: Any, http: aiohttp.ClientSession
) -> None:
    """api.max_queued_orders bounds what waits for the intake's executor: one more order is
    503 INTAKE_BUSY with nothing journaled and its client id still free."""
    _, env = svc_config
    intake = daemon.intake
    assert intake.max_queued == 1_000  # the config's default reached the intake
    head, sent = daemon.primary.app.journal.head(), operator_nonce_of(daemon)
    intake.max_queued = 0  # as if that many were waiting
    try:
        async with http.post(
            daemon.url + "/v1/orders", json=order("busy-1"), headers=auth(env, "trade")
        ) as r:
            got = await r.json()
    finally:
        intake.max_queued = 1_000
    assert (r.status, got["error"]["code"]) == (503, "INTAKE_BUSY"), got
    assert "api.max_queued_orders" in got["error"]["message"]
    assert daemon.primary.app.journal.head() == head and operator_nonce_of(daemon) == sent
    assert daemon.manager.store.get("busy-1") is None


async def test_every_routed_child_passes_the_risk_gate(
    svc_config: Any, http: aiohttp.ClientSession, l1_isolated: None
) -> None:
    """A desk cap below the order's notional: the children are denied by the swap pipeline's
    gate (max_order_notional) before anything is signed; with the pair's price known, the next
    such order is refused at the door."""
    from agent.bootstrap import build_daemon
    from agent.risk.checks.max_notional import CODE
    from agent.service.config import load

    cfg_path, env = svc_config
    text = cfg_path.read_text()
    assert 'max_order_notional = "1000000"' in text
    cfg_path.write_text(
        text.replace('max_order_notional = "1000000"', 'max_order_notional = "500"')
    )
    d = await build_daemon(load(cfg_path))
    await d.start()
    try:
        sent = operator_nonce_of(d)
        async with http.post(
            d.url + "/v1/orders", json=order("cap-1", size="1"), headers=auth(env, "trade")
        ) as r:
            assert r.status == 202, await r.text()  # no price known yet: judged per child
        got = await wait_done(http, d.url, "cap-1", auth(env, "read"))
        assert got["state"] in ("denied", "cancelled") and Decimal(got["filled"]) == 0, got
        kids = children(d, "cap-1")
        assert kids and all((k.state.value, k.code) == ("denied", CODE) for k in kids), kids
        assert operator_nonce_of(d) == sent  # nothing signed
        async with http.post(
            d.url + "/v1/orders", json=order("cap-2", size="1"), headers=auth(env, "trade")
        ) as r:
            body = await r.json()
        assert (r.status, body["error"]["code"]) == (422, "RISK_MAX_NOTIONAL"), body
        d.manager.sync()
        assert d.manager.store.get("cap-2") is None  # refused at the door: the id is free
    finally:
        await d.stop()


def _signed(journal: Any) -> bool:
    import sqlite3

    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as c:
        try:
            q = "SELECT count(*) FROM events WHERE type = 'TxSigned' AND data LIKE '%k9-%'"
            return bool(c.execute(q).fetchone()[0])
        except sqlite3.OperationalError:
            return False


@pytest.mark.slow
def test_kill_9_between_accept_and_execution_executes_once_or_expires(
    svc_config: Any, l1_isolated: None
) -> None:
    """Eight orders accepted (202) at once, then SIGKILL while the first are executing and the
    rest wait in the queue; the restarted daemon settles what was under way from the chain and
    expires what was never planned. Each order ends filled once or expired/cancelled with the
    reason, and the Safe moved exactly what the orders say they filled: never twice."""
    import concurrent.futures
    import os
    import signal

    from tests.integration.service.test_run import _http, _start, _wait_done

    cfg, secrets = svc_config
    env = {**os.environ, **secrets}
    trade = secrets["AGENT_API_TOKEN_TRADE"]
    ids = [f"k9-{i}" for i in range(8)]
    d, url = _start(cfg, env)
    try:
        _, pos = _http(url + "/v1/positions", trade)
        weth0 = Decimal(pos["positions"][0]["balances"]["WETH"])
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(lambda c: _http(url + "/v1/orders", trade, order(c, size="0.5")), ids)
            )
        # the first batch is journaled as signed (write-ahead): kill now, mid-way
        journal = cfg.parent / "journal.sqlite"
        deadline = time.monotonic() + 60
        while not _signed(journal):
            assert time.monotonic() < deadline, "no batch was signed"
            time.sleep(0.005)  # polling the journal file for the condition itself
        d.send_signal(signal.SIGKILL)  # no drain: whatever was in flight stops there
        d.wait(30)
        assert [(s, b["state"]) for s, b in answers] == [(202, "accepted")] * 8, answers
    finally:
        if d.poll() is None:
            d.kill()
    d2, url2 = _start(cfg, env)
    try:
        ends = {c: _wait_done(url2, trade, c) for c in ids}
        states = {c: e["state"] for c, e in ends.items()}
        assert set(states.values()) <= {"filled", "expired", "cancelled"}, ends
        for e in ends.values():
            if e["state"] == "expired":
                assert "not executed before a restart" in e["reason"], e
                assert Decimal(e["filled"]) == 0
            elif e["state"] == "cancelled":
                assert "restarted" in e["reason"] or "unfilled" in e["reason"], e
        assert "expired" in states.values(), states  # some were still queued at the kill
        assert "filled" in states.values(), states  # the signed batch was settled from the chain
        _, pos = _http(url2 + "/v1/positions", trade)
        moved = Decimal(pos["positions"][0]["balances"]["WETH"]) - weth0
        filled = sum(Decimal(e["filled"]) for e in ends.values())
        assert moved == filled and filled <= 4, (moved, filled, states)
        # a second restart changes nothing: recovery is idempotent
        d2.send_signal(signal.SIGTERM)
        assert d2.wait(30) == 0
        d3, url3 = _start(cfg, env)
        try:
            assert {c: _http(f"{url3}/v1/orders/{c}", trade)[1]["state"] for c in ids} == states
        finally:
            d3.send_signal(signal.SIGTERM)
            d3.wait(30)
    finally:
        if d2.poll() is None:
            d2.kill()
