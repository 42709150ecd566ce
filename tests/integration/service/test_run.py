"""What a fund does on day one, as subprocesses: `agent devnet up` (writes agent.toml and
agent.env), `agent config validate`, `agent run --config`, an order over HTTP, `agent halt
--api`, SIGTERM (drains, exits 0), and a restart that recovers the order from the journal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.service.devconfig import read_env
from tests.integration.service.conftest import TERMINAL

pytestmark = [pytest.mark.integration, pytest.mark.slow]
AGENT = [sys.executable, "-m", "agent.cli"]


def _wait_for(proc: subprocess.Popen[str], needle: str) -> tuple[str, str]:
    """Read the child's stdout until a line with ``needle``; (that line, all read)."""
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if needle in line:
            return line, "".join(seen)
    raise AssertionError(f"{needle!r} never printed; output:\n{''.join(seen)}")


def _http(url: str, token: str, body: Any = None) -> tuple[int, Any]:
    req = urllib.request.Request(
        url, data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _wait_done(url: str, token: str, cid: str, timeout: float = 120) -> dict[str, Any]:
    """GET the order until it is terminal (executed behind the 202)."""
    deadline = time.monotonic() + timeout
    while True:
        status, got = _http(f"{url}/v1/orders/{cid}", token)
        if status == 200 and got["state"] in TERMINAL:
            return got
        assert time.monotonic() < deadline, (status, got)
        time.sleep(0.05)  # polling the daemon for the condition itself


def _start(cfg: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [*AGENT, "run", "--config", str(cfg)], stdout=subprocess.PIPE,
        stderr=open(os.environ.get("H17_DAEMON_LOG", os.devnull), "a"),  # noqa: SIM115
        text=True, env=env,
    )  # fmt: skip
    line, _ = _wait_for(proc, "agent: serving")
    return proc, line.split()[2]


def test_devnet_up_config_run_halt_sigterm_restart(tmp_path: Path) -> None:
    state = tmp_path / "dn"
    dev = subprocess.Popen(
        [*AGENT, "devnet", "up", "--state-dir", str(state), "--no-relayers"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    procs: list[subprocess.Popen[str]] = [dev]
    try:
        _, out = _wait_for(dev, "Ctrl-C")
        assert "agent operator" in out and "guardian" in out and "Safe owner 1" in out, out
        cfg = state / "agent.toml"
        v = subprocess.run([*AGENT, "config", "validate", str(cfg)], capture_output=True, text=True)
        assert v.returncode == 0 and "ok (2 chains, 1 wallets" in v.stdout, v.stderr
        text = cfg.read_text().replace("port = 8080", "port = 0")  # any free port
        cfg.write_text(text)
        secrets = read_env(state / "agent.env")
        env = {**os.environ, **secrets}
        d, url = _start(cfg, env)
        procs.append(d)
        trade, admin = secrets["AGENT_API_TOKEN_TRADE"], secrets["AGENT_API_TOKEN_ADMIN"]
        order = {"client_order_id": "day1", "side": "buy", "base": "WETH", "quote": "USDC",
                 "size": "0.5"}  # fmt: skip
        status, body = _http(url + "/v1/orders", trade, order)
        assert (status, body["status"]) == (202, "accepted"), body
        assert _wait_done(url, trade, "day1")["state"] == "filled"
        # funding the dev Safe: a command, not a script
        safe = next(ln.split('"')[1] for ln in text.splitlines() if ln.startswith("safe ="))
        _, before = _http(url + "/v1/positions", trade)
        f = subprocess.run(
            [*AGENT, "devnet", "fund", "--state-dir", str(state), "--to", safe, "--asset",
             "DAI", "--amount", "1234.5"], capture_output=True, text=True, env=env,
        )  # fmt: skip
        assert f.returncode == 0 and "minted 1234.5 DAI" in f.stdout, f.stderr
        _, after = _http(url + "/v1/positions", trade)
        dai = [Decimal(p["positions"][0]["balances"]["DAI"]) for p in (before, after)]
        assert dai[1] - dai[0] == Decimal("1234.5")
        for bad, needle in ((["--to", safe[:-1] + "x"], "--to:"),
                            (["--to", safe.lower(), "--amount", "-3"], "--amount:"),
                            (["--to", safe.lower(), "--asset", "DOGE"], "DOGE")):  # fmt: skip
            args = [*AGENT, "devnet", "fund", "--state-dir", str(state), "--amount", "1", *bad]
            b = subprocess.run(args, capture_output=True, text=True, env=env)
            assert b.returncode == 2 and needle in b.stderr and b.stderr.count("\n") == 1, b.stderr
        # the kill switch through the API, from the CLI
        h = subprocess.run(
            [*AGENT, "halt", "--api", url, "-r", "drill"], capture_output=True, text=True,
            env={**env, "AGENT_API_TOKEN_ADMIN": admin},
        )  # fmt: skip
        assert h.returncode == 0, h.stderr
        assert str((state / "journal.sqlite").resolve()) in h.stdout.replace("\n", "")
        status, body = _http(url + "/v1/orders", trade, {**order, "client_order_id": "day1-b"})
        assert status == 422 and "HALTED" in body["error"]["code"], body
        bad = subprocess.run(
            [*AGENT, "resume", "--api", url], capture_output=True, text=True,
            env={**env, "AGENT_API_TOKEN_ADMIN": trade},  # a trade token may not resume
        )  # fmt: skip
        assert bad.returncode == 1 and "AUTH_FORBIDDEN" in bad.stderr, bad.stderr
        assert bad.stderr.count("\n") == 1
        # SIGTERM drains and exits 0
        d.send_signal(signal.SIGTERM)
        _wait_for(d, "drained and stopped")
        assert d.wait(30) == 0
        # a restart recovers from the journal: the order and the halt are still there
        d2, url2 = _start(cfg, env)
        procs.append(d2)
        status, got = _http(url2 + "/v1/orders/day1", trade)
        assert (status, got["state"]) == (200, "filled"), got
        status, tr = _http(url2 + "/v1/trading", trade)
        assert tr["state"] == "halted"
        d2.send_signal(signal.SIGTERM)
        assert d2.wait(30) == 0
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGINT if p is dev else signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()


def test_sigterm_during_an_order_drains_it(world: Any, svc_config: Any, l1_isolated: None) -> None:
    """SIGTERM while an intent is in flight: the intent finishes (filled, answered), then the
    daemon exits 0; nothing half-done is left in the journal."""
    import sqlite3
    import threading

    cfg, secrets = svc_config
    env = {**os.environ, **secrets}
    d, url = _start(cfg, env)
    try:
        got: dict[str, Any] = {}
        order = {"client_order_id": "drain-1", "side": "buy", "base": "WETH", "quote": "USDC",
                 "size": "0.5"}  # fmt: skip
        t = threading.Thread(
            target=lambda: got.update(
                r=_http(url + "/v1/orders", secrets["AGENT_API_TOKEN_TRADE"], order)
            )
        )
        t.start()
        journal = cfg.parent / "journal.sqlite"
        # the order is in the daemon's hands once its first event is journaled
        while True:
            with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as c:
                try:
                    n = c.execute(
                        "SELECT count(*) FROM events WHERE stream = 'order-drain-1'"
                    ).fetchone()[0]
                except sqlite3.OperationalError:
                    n = 0
            if n or not t.is_alive():
                break
            time.sleep(0.01)  # polling the journal file for the condition itself
        d.send_signal(signal.SIGTERM)
        t.join(60)
        status, body = got["r"]
        assert (status, body["status"]) == (202, "accepted"), body
        try:
            assert d.wait(20) == 0
        except subprocess.TimeoutExpired:
            subprocess.run(["py-spy", "dump", "--pid", str(d.pid)], env=env)
            raise
        # the order in execution finished (filled), or, still queued, expired with the reason;
        # its children are all settled: nothing half-done is left
        from agent.journal import SqliteJournal
        from agent.oms.store import OrderStore

        j = SqliteJournal(journal)
        try:
            store = OrderStore.replay(j)
        finally:
            j.close()
        o = store.get("drain-1")
        assert o is not None and o.state.value in ("filled", "expired"), o
        if o.state.value == "expired":
            assert "stopped before executing" in o.reason
        assert all(k.state.terminal for k in store.parent_view("drain-1").children)
    finally:
        if d.poll() is None:
            d.kill()
