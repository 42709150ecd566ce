"""Several agents, one journal: two real processes on one PostgreSQL journal, each owning
its orders' streams and sharing the trading-state stream (the kill switch)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import agent.oms  # noqa: F401  (registers the OMS event types)
from agent.journal.postgres import PostgresJournal
from agent.oms import OrderStore

PROC = Path(__file__).with_name("agent_proc.py")


class Agent:
    def __init__(self, location: str, prefix: str) -> None:
        self.p = subprocess.Popen(
            [sys.executable, str(PROC), location, prefix],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.recv() == {"ready": True}

    def send(self, **cmd: Any) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(json.dumps(cmd) + "\n")
        self.p.stdin.flush()

    def recv(self) -> dict[str, Any]:
        assert self.p.stdout is not None
        line = self.p.stdout.readline()
        assert line, f"agent process exited with {self.p.wait()}"
        return json.loads(line)

    def call(self, **cmd: Any) -> dict[str, Any]:
        self.send(**cmd)
        return self.recv()

    def close(self) -> None:
        if self.p.poll() is None:
            self.send(op="quit")
            self.p.wait(timeout=30)


@pytest.fixture
def location(pg_server) -> str:
    return f"postgresql://{pg_server.user}@127.0.0.1:{pg_server.port}/postgres#shared_{uuid.uuid4().hex[:8]}"


def test_two_agents_share_one_journal_and_one_kill_switch(location: str) -> None:
    a, b = Agent(location, "a"), Agent(location, "b")
    try:
        for _ in range(3):  # both submit at the same time: their groups interleave
            a.send(op="submit", n=150)
            b.send(op="submit", n=150)
            ra, rb = a.recv(), b.recv()
            assert set(ra["states"]) == set(rb["states"]) == {"accepted"}

        assert a.call(op="set_state", state="halted") == {"state": "halted"}
        rb = b.call(op="submit", n=5)  # b never read the trading stream itself: the halt
        assert set(rb["states"]) == {"denied"} and set(rb["codes"]) == {"TRADING_HALTED"}
        ra = a.call(op="submit", n=5)
        assert set(ra["codes"]) == {"TRADING_HALTED"}

        assert b.call(op="set_state", state="active") == {"state": "active"}
        assert set(a.call(op="submit", n=5)["states"]) == {"accepted"}
        assert b.call(op="set_state", state="halted") == {"state": "halted"}  # either way
        assert set(a.call(op="submit", n=2)["codes"]) == {"TRADING_HALTED"}
    finally:
        a.close()
        b.close()

    url, _, schema = location.partition("#")
    with PostgresJournal(url, schema=schema) as j:
        rep = j.verify()
        assert rep.ok, rep.describe()
        store = OrderStore.replay(j)
        owners = Counter(o.client_order_id.split("-")[0] for o in store.orders.values())
        assert owners == {"a": 450 + 5 + 5 + 2, "b": 450 + 5}
        states = Counter(o.state.value for o in store.orders.values())
        assert states == {"accepted": 905, "denied": 12}
        # every order stream was written by its owner only, versions 1, 2 with no gaps
        assert all(o.version == 2 for o in store.orders.values())
        trading = [r.event.by for r in j.read_stream("trading")]
        assert trading == ["a", "b", "b"]
        assert store.trading_state.value == "halted"
