"""The daemon's order intake (agent/service/intake.py) on anvil: accept-then-execute, the
router and the PlanExecutor over the daemon's venues, limits, the children's risk gate, bad
input. Each order's outcome is read back from the daemon (GET, the journal), never assumed."""

from __future__ import annotations

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
    daemon: Any, svc_config: Any, http: aiohttp.ClientSession
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
