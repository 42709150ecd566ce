"""`agent wallet deploy` killed mid-way is finished by running it again: the process is killed
(SIGKILL) once its Safe is mined and its module deployment sent but not mined (or once the
module is mined too and the configuration sent); the rerun with the same arguments finds
what exists at its CREATE2 address, skips it, and finishes: the module enabled with the
policy in one owners' Safe transaction.

On a fork of the session's L1 with automine off, so the test decides when each block is mined
(no timing guesses) and the shared chain is untouched."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from agent.chain.devnet import Devnet, fork
from agent.deploy.devworld import DEPLOYER_KEY, OPERATOR_KEY, OWNER_KEYS, DevWorld, address_of

pytestmark = pytest.mark.integration


@pytest.fixture
def l1_fork(world: DevWorld) -> Iterator[Devnet]:
    f = fork(world.devnets.l1, name="resume")
    try:
        yield f
    finally:
        f.stop()


def wait_for(what: str, cond: Callable[[], bool], proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not cond():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"deploy exited ({proc.returncode}) before {what}: {out}{err}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.parametrize("mined", [1, 2], ids=["after-safe", "after-module"])
def test_deploy_killed_mid_way_resumes(world: DevWorld, l1_fork: Devnet, mined: int) -> None:
    """Killed with ``mined`` transactions mined (the Safe; the Safe and the module) and the
    next one sent, unmined."""
    from agent.deploy.transactor import Transactor
    from agent.wallet.deploy import predict_safe

    owners = [address_of(k) for k in OWNER_KEYS]
    manifest = world.manifest_paths[0]
    argv = [
        sys.executable, "-m", "agent.cli", "wallet", "deploy", "--rpc-url", l1_fork.rpc_url,
        "--manifest", str(manifest), *(x for o in owners for x in ("--owner", o)),
        "--threshold", "2", "--operator", address_of(OPERATOR_KEY), "--key-env", "DEPLOYER",
        "--owner-key-env", "OWNER1", "--owner-key-env", "OWNER2", "--salt", str(4242 + mined),
    ]  # fmt: skip
    env = {**os.environ, "DEPLOYER": DEPLOYER_KEY, "OWNER1": OWNER_KEYS[0],
           "OWNER2": OWNER_KEYS[1], "COLUMNS": "200"}  # fmt: skip
    deployer = address_of(DEPLOYER_KEY)
    tx = Transactor(l1_fork.rpc_url, DEPLOYER_KEY)
    safe = predict_safe(tx, world.l1, owners, 2, 4242 + mined)

    def sent() -> int:
        return int(l1_fork.rpc("eth_getTransactionCount", deployer, "pending"), 16)

    base = sent()
    l1_fork.rpc("evm_setAutomine", False)
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        for i in range(1, mined + 1):
            wait_for(f"transaction {i} is sent", lambda i=i: sent() == base + i, proc)
            l1_fork.rpc("evm_mine")
        assert l1_fork.rpc("eth_getCode", safe, "latest") != "0x"
        wait_for("the next transaction is sent", lambda: sent() == base + mined + 1, proc)
    finally:
        proc.kill()
        proc.communicate()
    # killed: the last transaction never mined, the Safe has no module enabled
    l1_fork.rpc("anvil_dropAllTransactions")
    l1_fork.rpc("evm_setAutomine", True)
    assert list(tx.call("Safe", safe, "getModulesPaginated", "0x" + "0" * 39 + "1", 10)[0]) == []

    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    found = "safe" if mined == 1 else "safe, module"
    assert f"resumed: {found} existed already" in r.stdout
    assert f"safe     {safe}" in r.stdout
    module = next(ln.split()[1] for ln in r.stdout.splitlines() if ln.startswith("module "))
    assert tx.call("Safe", safe, "isModuleEnabled", module)
    assert sorted(o.lower() for o in tx.call("Safe", safe, "getOwners")) == sorted(
        o.lower() for o in owners
    )
    assert "PolicyModule enabled and configured" in r.stdout

    # a third run finds everything done and sends nothing
    before = sent()
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "resumed: safe, module, configuration existed already" in r.stdout
    assert sent() == before
