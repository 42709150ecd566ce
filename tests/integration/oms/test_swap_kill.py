"""kill -9 of a real `agent trade swap` process at each boundary of the send path, then the
same command again: the restarted app rebuilds from the journal, the tx engine reconciles
with the chain, the order follows what the chain says, and the swap executes exactly once
(or, killed before its transaction was journaled, not at all: nothing of it left the
process, so the order expires instead of hanging)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from agent.chain.txengine import CRASH_POINTS
from agent.deploy.devworld import OPERATOR_KEY, DevWorld
from agent.journal import SqliteJournal
from agent.oms import OrderState, OrderStore
from agent.wallet.deploy import WalletDeployment

from .conftest import balance, operator_nonce

pytestmark = pytest.mark.integration
SIZE = Decimal("1.25")


def swap(world: DevWorld, w: WalletDeployment, tmp: Path, crash: str | None, cid: str):  # type: ignore[no-untyped-def]
    manifest = tmp / "l1.manifest.json"
    if not manifest.exists():
        world.l1.save(manifest)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_CRASH")}
    env["AGENT_OPERATOR_KEY"] = OPERATOR_KEY
    if crash:
        env["AGENT_CRASH_AT"] = crash
    args = [
        sys.executable, "-m", "agent.cli", "trade", "swap", "--side", "buy", "--base", "WETH",
        "--quote", "USDC", "--size", str(SIZE), "--client-id", cid,
        "--rpc-url", world.devnets.l1.rpc_url, "--manifest", str(manifest), "--safe", w.safe,
        "--module", w.module, "--journal", str(tmp / "journal.sqlite"),
    ]  # fmt: skip
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)


# after_journal_append (re-broadcast of the journaled bytes) is the engine's own path, killed
# at every boundary by tests/integration/chain/test_txengine_kill.py; each run here costs a
# CLI start-up (~4 s on the shared machine)
POINTS = [p for p in CRASH_POINTS if p != "after_journal_append"]


@pytest.mark.parametrize("point", POINTS)
def test_kill9_between_sign_and_receipt_executes_once(
    world: DevWorld, oms_wallet: WalletDeployment, l1_isolated: None, tmp_path: Path, point: str
) -> None:
    nonce0, weth0 = operator_nonce(world), balance(world, "WETH", oms_wallet.safe)
    cid = f"kill-{point}"
    crashed = swap(world, oms_wallet, tmp_path, point, cid)
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr

    again = swap(world, oms_wallet, tmp_path, None, cid)
    assert again.returncode == 0, again.stdout + again.stderr
    with SqliteJournal(tmp_path / "journal.sqlite") as j:
        store = OrderStore.replay(j)
        assert j.verify().ok
    o = store.orders[cid]
    txs = store.txs_by_order.get(cid, [])
    size = world.l1.asset("WETH").to_base(SIZE)
    if point == "after_sign":  # killed before the write-ahead record: nothing left the process
        assert o.state is OrderState.EXPIRED and not txs, o
        assert (operator_nonce(world), balance(world, "WETH", oms_wallet.safe)) == (nonce0, weth0)
        assert f"order {cid}: expired" in again.stdout
        return
    assert (o.state, o.filled) == (OrderState.FILLED, SIZE), o
    assert len(txs) == 1  # one signature, re-broadcast as the same bytes if needed
    assert o.trade_ids == {txs[0]}
    assert operator_nonce(world) == nonce0 + 1  # exactly one transaction reached the chain
    assert balance(world, "WETH", oms_wallet.safe) == weth0 + size
    assert f"order {cid}: filled" in again.stdout
    if point == "before_receipt_recorded":  # and a third run is a no-op
        third = swap(world, oms_wallet, tmp_path, None, cid)
        assert third.returncode == 0 and "duplicate" in third.stdout.lower() + third.stderr.lower()
        assert operator_nonce(world) == nonce0 + 1
