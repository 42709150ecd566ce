"""Several agents, one journal: two `agent run` processes, each with its own agent.toml and
account (a Safe on L1, a Safe on L2), on one PostgreSQL journal. Each owns its orders' and
transactions' streams; the trading-state stream is shared, so a halt through either (the API
or `agent halt --journal postgresql://...`) stops both; concurrent orders on both stay
consistent (`agent journal verify` ok afterwards)."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.deploy.devworld import DevWorld, deploy_dev_wallet
from agent.service.devconfig import read_env, write_dev_config
from tests.integration.service.test_run import _http, _start, _wait_done, _wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]
AGENT = [sys.executable, "-m", "agent.cli"]


def _config(world: DevWorld, d: Path, layer: str, salt: int, journal: str) -> tuple[Path, dict]:
    d.mkdir()
    for src in world.manifest_paths:
        (d / src.name).write_text(src.read_text())
    w = deploy_dev_wallet(world, layer=layer, salt=salt, usdc=Decimal(1_000_000))
    cfg, env = write_dev_config(d, world, w, api_port=0)
    text = cfg.read_text().replace('path = "journal.sqlite"', f'path = "{journal}"')
    if layer == "l2":  # the same template, the wallet and its venues on the L2 chain
        text = text.replace("[wallets.l1]", "[wallets.l2]").replace('chain = "l1"', 'chain = "l2"')
    cfg.write_text(text)
    return cfg, {**os.environ, **read_env(env)}


def test_two_daemons_share_one_postgres_journal(
    world: DevWorld, pg_server: Any, tmp_path: Path
) -> None:
    journal = f"postgresql://{pg_server.user}@127.0.0.1:{pg_server.port}/postgres"
    journal += f"#fleet_{uuid.uuid4().hex[:8]}"
    cfg_a, env_a = _config(world, tmp_path / "a", "l1", 81, journal)
    cfg_b, env_b = _config(world, tmp_path / "b", "l2", 82, journal)
    procs: list[subprocess.Popen[str]] = []
    try:
        a, url_a = _start(cfg_a, env_a)
        procs.append(a)
        b, url_b = _start(cfg_b, env_b)
        procs.append(b)
        ta, tb = env_a["AGENT_API_TOKEN_TRADE"], env_b["AGENT_API_TOKEN_TRADE"]

        def order(url: str, token: str, cid: str, side: str = "buy") -> tuple[int, Any]:
            body = {"client_order_id": cid, "side": side, "base": "WETH", "quote": "USDC",
                    "size": "0.01"}  # fmt: skip
            return _http(url + "/v1/orders", token, body)

        # concurrent orders on both daemons, appended to the one journal at once
        jobs = [(url_a, ta, f"a{i}") for i in range(4)] + [(url_b, tb, f"b{i}") for i in range(4)]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda j: order(*j), jobs))
        assert [(s, body["status"]) for s, body in answers] == [(202, "accepted")] * 8, answers
        for url, token, cid in jobs:  # executed behind the 202 by the daemon that took it
            assert _wait_done(url, token, cid)["state"] == "filled"
        # each daemon sees every order (one journal) but works only its own: A's children
        # trade A's chain, B's children B's
        _, rows = _http(url_b + "/v1/orders?all=1", tb)
        assert {o["client_order_id"] for o in rows["orders"]} >= {j[2] for j in jobs}
        kids = [o for o in rows["orders"] if o["parent_id"]]
        assert {o["parent_id"][0] + o["venue"].partition("@")[2][:2] for o in kids} == {
            "al1",
            "bl2",
        }, kids

        # a halt through A's API stops B: its next order is refused and nothing is signed
        admin_a = env_a["AGENT_API_TOKEN_ADMIN"]
        s, h = _http(url_a + "/v1/halt", admin_a, {"reason": "fleet drill"})
        assert (s, h["state"]) == (200, "halted"), h
        s, body = order(url_b, tb, "b-halted")
        assert s == 422 and body["error"]["code"] == "TRADING_HALTED", body
        # resumed from the CLI on the journal alone, then halted again the same way
        r = subprocess.run(
            [*AGENT, "resume", "--journal", journal, "-r", "drill over"],
            capture_output=True, text=True, env=env_a,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert order(url_b, tb, "b-halted")[1]["status"] == "accepted"  # the id was not burnt
        assert _wait_done(url_b, tb, "b-halted")["state"] == "filled"
        r = subprocess.run(
            [*AGENT, "halt", "--journal", journal, "-r", "cli drill"],
            capture_output=True, text=True, env=env_a,
        )  # fmt: skip
        assert r.returncode == 0 and "halted" in r.stdout, r.stderr
        s, body = order(url_a, ta, "a-halted")
        assert s == 422 and body["error"]["code"] == "TRADING_HALTED", body
        for p in (a, b):
            p.send_signal(signal.SIGTERM)
            _wait_for(p, "drained and stopped")
            assert p.wait(30) == 0
        v = subprocess.run(
            [*AGENT, "journal", "verify", "--journal", journal],
            capture_output=True, text=True, env=env_a,
        )  # fmt: skip
        assert v.returncode == 0 and "ok" in v.stdout, v.stdout + v.stderr
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
