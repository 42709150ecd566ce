"""kill -9 of a real agent process at each boundary of the send path, then restart.

The worker (python -m agent.chain.txengine.worker) places N transfer orders and sends them
through the engine and the journal; AGENT_CRASH_AT makes it SIGKILL itself at the named
boundary on the 3rd pass. After a restart without the hook it must finish, and the chain and
the journal must show: every order executed exactly once (no tx sent twice, no order lost),
the account's nonces contiguous, and one signed transaction per nonce.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agent.chain.devnet import DEV_KEYS, L1_CHAIN_ID
from agent.chain.txengine import CRASH_POINTS
from agent.journal import SqliteJournal
from agent.oms.events import TxSigned, tx_stream
from agent.oms.tx import TxState, apply_tx
from agent.signing import LocalSigner

pytestmark = pytest.mark.integration
ORDERS = 6
VALUE_BASE = 1000
TO = "0x" + "5e" * 20


def run_worker(anvil, journal: Path, crash: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_CRASH")}
    env["AGENT_SIGNER_KEY"] = DEV_KEYS[4]
    if crash:
        env["AGENT_CRASH_AT"] = crash
        env["AGENT_CRASH_AFTER"] = "3"
    args = [
        sys.executable, "-m", "agent.chain.txengine.worker",
        "--rpc", anvil.rpc_url, "--chain-id", str(L1_CHAIN_ID), "--journal", str(journal),
        "--orders", str(ORDERS), "--to", TO, "--value-base", str(VALUE_BASE),
    ]  # fmt: skip
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)


def sender_txs(anvil, sender: str) -> list[dict]:
    out = []
    for n in range(1, anvil.block_number() + 1):
        block = anvil.rpc("eth_getBlockByNumber", hex(n), True)
        out += [t for t in block["transactions"] if t["from"].lower() == sender.lower()]
    return out


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_kill9_then_restart(anvil, tmp_path, point):
    journal = tmp_path / "agent.db"
    crashed = run_worker(anvil, journal, point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    done = run_worker(anvil, journal, None)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["ok"]

    sender = LocalSigner(DEV_KEYS[4]).address
    txs = sender_txs(anvil, sender)
    # no order lost, none executed twice: each order's unique value appears exactly once
    assert sorted(int(t["value"], 16) for t in txs) == [VALUE_BASE + i for i in range(ORDERS)]
    # nonces contiguous from 0, and the chain agrees
    assert sorted(int(t["nonce"], 16) for t in txs) == list(range(ORDERS))
    assert int(anvil.rpc("eth_getTransactionCount", sender, "latest"), 16) == ORDERS

    with SqliteJournal(journal) as j:
        assert j.verify().ok
        recs: dict = {}
        signed_nonces = []
        for r in j.read_stream(tx_stream(L1_CHAIN_ID, sender)):
            ev = r.event
            if isinstance(ev, TxSigned):
                signed_nonces.append(ev.nonce)
            h = getattr(ev, "old_tx_hash", None) or getattr(ev, "tx_hash", None)
            if h is not None:
                recs[h] = apply_tx(recs.get(h), ev)
    assert sorted(signed_nonces) == list(range(ORDERS))  # one signed tx per nonce, no re-sign
    done_orders = sorted(
        r.client_order_id for r in recs.values() if r.state in (TxState.MINED, TxState.CONFIRMED)
    )
    assert done_orders == sorted(f"o-{i}" for i in range(ORDERS))
