"""Devnets: distinct chain ids, snapshots, forks, and no anvil outliving its parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from agent.chain import devnet
from agent.chain.devnet import L1_CHAIN_ID, L2_CHAIN_ID
from agent.deploy.devworld import DevWorld
from agent.errors import DevnetError, RpcUnavailableError

pytestmark = pytest.mark.integration


def test_l1_and_l2_have_distinct_private_chain_ids(world: DevWorld) -> None:
    ids = {int(d.rpc("eth_chainId"), 16) for d in world.devnets}
    assert ids == {L1_CHAIN_ID, L2_CHAIN_ID}
    assert world.l1.chain_id == L1_CHAIN_ID and world.l2.chain_id == L2_CHAIN_ID


def test_revert_returns_a_fresh_snapshot_each_time(world: DevWorld, l1_isolated: None) -> None:
    d = world.devnets.l1
    start = d.block_number()
    snap = d.snapshot()
    for _ in range(3):  # the same logical point, reverted to repeatedly
        d.rpc("evm_mine")
        d.rpc("evm_mine")
        assert d.block_number() == start + 2
        snap = d.revert(snap)
        assert d.block_number() == start
    with pytest.raises(DevnetError):
        d.revert("0xdeadbeef")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # a zombie still answers kill(0); read its state
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


def _wait_dead(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)  # polling /proc for the kernel to reap the process
    return False


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_anvil_never_outlives_its_parent(how: signal.Signals) -> None:
    """A parent that starts devnets and then dies (even by SIGKILL) takes them along."""
    code = (
        "from agent.chain import devnet; import sys, threading\n"
        "p = devnet.start_pair()\n"
        "print(p.l1.pid, p.l2.pid, flush=True)\n"
        "threading.Event().wait()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    pids = [int(x) for x in proc.stdout.readline().split()]
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    proc.send_signal(how)
    proc.wait(10)
    assert all(_wait_dead(p) for p in pids), f"anvil outlived its parent after {how.name}"


def test_fork_of_the_session_devnet_at_a_pinned_block(world: DevWorld, l1_isolated: None) -> None:
    d = world.devnets.l1
    pinned = d.block_number()
    d.rpc("evm_mine")
    with devnet.fork(d, name="l1-fork", block=pinned) as f:
        assert f.chain_id == L1_CHAIN_ID
        assert f.block_number() == pinned
        weth = world.l1.address("WETH9")
        assert f.rpc("eth_getCode", weth, "latest") == d.rpc("eth_getCode", weth, "latest")
        f.rpc("anvil_setBalance", weth, hex(1))  # a write on the fork ...
        assert int(d.rpc("eth_getBalance", weth, "latest"), 16) != 1  # ... never reaches L1


def test_unreachable_rpc_is_a_typed_error() -> None:
    with pytest.raises(RpcUnavailableError, match="did not answer"):
        devnet.rpc_call("http://127.0.0.1:9", "eth_chainId", timeout=1)


def test_a_log_dir_the_devnet_made_goes_with_it_and_a_given_one_stays(tmp_path) -> None:
    own = devnet.start(devnet.DevnetSpec("logs-own", L1_CHAIN_ID))
    made = own.log_path.parent
    assert own.log_path.read_text()  # anvil wrote its banner there
    own.stop()
    assert not made.exists()  # anvil logs every transaction: nothing piles up in /tmp
    kept = devnet.start(devnet.DevnetSpec("logs-kept", L1_CHAIN_ID), log_dir=tmp_path / "logs")
    kept.stop()
    assert kept.log_path.exists() and kept.log_path.parent == tmp_path / "logs"
