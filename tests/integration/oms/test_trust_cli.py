"""`agent trade swap` refuses what it cannot trust, before anything is signed (issue 14,
Deliver 5): a journal whose hash chain or checkpoint does not verify, and a --module that
is not the given Safe's enabled module with a role for the operator. Subprocesses, as a
user runs them, against the real dev world on anvil."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from agent.deploy.devworld import (
    DEPLOYER_KEY,
    OPERATOR_KEY,
    DevWorld,
    address_of,
    deploy_dev_wallet,
)
from agent.deploy.transactor import Transactor
from agent.journal.hashing import GENESIS, chain_hash
from agent.wallet.deploy import WalletDeployment

from .conftest import balance, operator_nonce

pytestmark = pytest.mark.integration
AGENT = [sys.executable, "-m", "agent.cli"]


def agent(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AGENT, *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "COLUMNS": "200", "TMPDIR": tempfile.gettempdir(),
             "AGENT_OPERATOR_KEY": OPERATOR_KEY, "DEPLOYER_KEY": DEPLOYER_KEY},
    )  # fmt: skip


def swap(world: DevWorld, safe: str, module: str, journal: Path, cid: str, *extra: str):  # type: ignore[no-untyped-def]
    return agent(
        "trade", "swap", "--side", "buy", "--base", "WETH", "--quote", "USDC", "--size", "1",
        "--client-id", cid, "--rpc-url", world.devnets.l1.rpc_url,
        "--manifest", str(world.manifest_paths[0]), "--safe", safe, "--module", module,
        "--journal", str(journal), *extra,
    )  # fmt: skip


def rows(journal: Path, sql: str, *args: object) -> list[tuple]:  # type: ignore[type-arg]
    c = sqlite3.connect(journal)
    try:
        out = c.execute(sql, args).fetchall()
        c.commit()
        return out
    finally:
        c.close()


def rpc_nonce(world: DevWorld, key: str) -> int:
    return int(world.devnets.l1.rpc("eth_getTransactionCount", address_of(key), "latest"), 16)


def one_error(stderr: str) -> str:
    """The one error line (the no-policy warning may precede it); never a traceback."""
    errs = [x for x in stderr.splitlines() if not x.startswith("warning:")]
    assert len(errs) == 1 and "Traceback" not in stderr, stderr
    return errs[0]


def tx_signed(journal: Path) -> int:
    if not journal.exists():
        return 0
    return rows(journal, "SELECT COUNT(*) FROM events WHERE type = 'TxSigned'")[0][0]


def rehash_from(journal: Path, position: int) -> None:
    """What a careful tamperer does after an edit: recompute every hash from ``position``
    on, and the head, so the chain alone is consistent again."""
    c = sqlite3.connect(journal)
    prev = c.execute("SELECT hash FROM events WHERE position = ?", (position - 1,)).fetchone()
    prev = bytes(prev[0]) if prev else GENESIS
    for p, s, v, t, ts, d in c.execute(
        "SELECT position, stream, version, type, recorded_at, data FROM events "
        "WHERE position >= ? ORDER BY position", (position,),
    ).fetchall():  # fmt: skip
        h = chain_hash(prev, s, v, t, ts, d)
        c.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE position = ?", (prev, h, p))
        prev = h
    last = c.execute("SELECT MAX(position) FROM events").fetchone()[0]
    c.execute("UPDATE meta SET value = ? WHERE key = 'head'", (f"{last}:{prev.hex()}",))
    c.commit()
    c.close()


def delete_order(j: Path) -> None:  # the finding: the order forgotten
    rows(j, "DELETE FROM events WHERE stream = 'order-t-1'")


def delete_tail(j: Path) -> None:  # the last records gone, the head fixed to match
    last = rows(j, "SELECT MAX(position) FROM events")[0][0]
    rows(j, "DELETE FROM events WHERE position > ?", last - 3)
    rehash_from(j, last - 2)


def delete_order_renumber(j: Path) -> None:  # deleted, positions closed up, chain rehashed
    first = rows(j, "SELECT MIN(position) FROM events WHERE stream = 'order-t-1'")[0][0]
    rows(j, "DELETE FROM events WHERE stream = 'order-t-1'")
    left = [
        p for (p,) in rows(j, "SELECT position FROM events WHERE position > ? ORDER BY 1", first)
    ]
    for new, old in enumerate(left, start=first):
        rows(j, "UPDATE events SET position = ? WHERE position = ?", new, old)
    rehash_from(j, first)


def edit_old(j: Path) -> None:  # the order's quantity edited, the chain rehashed
    p, d = rows(j, "SELECT position, data FROM events WHERE type = 'OrderInitialized' "
                   "AND stream = 'order-t-1'")[0]  # fmt: skip
    rows(j, "UPDATE events SET data = ? WHERE position = ?", d.replace('"1"', '"2"'), p)
    rehash_from(j, p)


def edit_in_place(j: Path) -> None:  # the quantity edited, the stored hashes left stale
    p, d = rows(j, "SELECT position, data FROM events WHERE type = 'OrderInitialized' "
                   "AND stream = 'order-t-1'")[0]  # fmt: skip
    rows(j, "UPDATE events SET data = ? WHERE position = ?", d.replace('"1"', '"2"'), p)


def move_checkpoint(j: Path) -> None:  # the tail deleted and the checkpoint moved with it
    delete_tail(j)
    head = rows(j, "SELECT value FROM meta WHERE key = 'head'")[0][0]
    rows(j, "UPDATE meta SET value = ? WHERE key = 'checkpoint'", head + ":" + "00" * 32)
    Path(str(j) + ".checkpoint").write_text(head + ":" + "00" * 32 + "\n")


def replace_file(j: Path) -> None:  # another (empty) journal put in its place
    for f in (j, Path(str(j) + "-wal"), Path(str(j) + "-shm")):
        f.unlink(missing_ok=True)


TAMPERS = [delete_order, delete_tail, delete_order_renumber, edit_old, edit_in_place,
           move_checkpoint, replace_file]  # fmt: skip


@pytest.fixture(scope="module")
def l1_module_isolated(world: DevWorld):  # type: ignore[no-untyped-def]
    """This module's trades are reverted after it (other modules see the chain unchanged)."""
    snap = world.devnets.l1.snapshot()
    yield
    world.devnets.l1.revert(snap)


@pytest.fixture(scope="module")
def filled(
    world: DevWorld, oms_wallet: WalletDeployment, tmp_path_factory, l1_module_isolated
) -> Path:  # type: ignore[no-untyped-def]
    """A journal (and its checkpoint file) after one filled buy of 1 WETH, client id t-1."""
    d = tmp_path_factory.mktemp("filled")
    j = d / "journal.sqlite"
    r = swap(world, oms_wallet.safe, oms_wallet.module, j, "t-1")
    assert r.returncode == 0, r.stderr
    assert "order t-1: filled" in r.stdout
    assert Path(str(j) + ".checkpoint").exists()
    return d


@pytest.mark.parametrize("tamper", TAMPERS, ids=lambda f: f.__name__)
def test_tampered_journal_is_refused_before_signing(
    world: DevWorld, oms_wallet: WalletDeployment, filled: Path, tmp_path: Path, tamper
) -> None:  # type: ignore[no-untyped-def]
    for f in filled.iterdir():
        shutil.copy(f, tmp_path / f.name)
    j = tmp_path / "journal.sqlite"
    tamper(j)
    signed, nonce = tx_signed(j), operator_nonce(world)
    weth = balance(world, "WETH", oms_wallet.safe)
    r = swap(world, oms_wallet.safe, oms_wallet.module, j, "t-1")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert one_error(r.stderr).startswith("error: [JOURNAL_TAMPERED] "), r.stderr
    assert "restore the journal" in r.stderr and "Traceback" not in r.stderr
    assert tx_signed(j) == signed  # nothing signed, nothing journaled
    assert operator_nonce(world) == nonce  # nothing sent
    assert balance(world, "WETH", oms_wallet.safe) == weth  # not bought twice
    # `journal verify` names it too; with the key it also checks the checkpoint's MAC
    v = agent("journal", "verify", "--journal", str(j), "--key-env", "AGENT_OPERATOR_KEY")
    assert v.returncode == 1 and "JOURNAL_TAMPERED" in v.stderr, (v.stdout, v.stderr)


def test_untampered_resubmit_is_a_duplicate(
    world: DevWorld, oms_wallet: WalletDeployment, filled: Path, tmp_path: Path
) -> None:
    for f in filled.iterdir():
        shutil.copy(f, tmp_path / f.name)
    j = tmp_path / "journal.sqlite"
    nonce = operator_nonce(world)
    r = swap(world, oms_wallet.safe, oms_wallet.module, j, "t-1")
    assert r.returncode == 0, r.stderr
    assert "filled" in r.stdout and operator_nonce(world) == nonce


# --- a --module the operator must not sign for --------------------------------------------
@pytest.fixture(scope="module")
def other_wallet(world: DevWorld, l1_module_isolated) -> WalletDeployment:  # type: ignore[no-untyped-def]
    return deploy_dev_wallet(world, salt=43)


@pytest.fixture(scope="module")
def idle_module(world: DevWorld, oms_wallet: WalletDeployment, l1_module_isolated) -> str:  # type: ignore[no-untyped-def]
    """A PolicyModule for the oms Safe that its owners never enabled."""
    tx = Transactor(world.devnets.l1.rpc_url, DEPLOYER_KEY)
    return tx.deploy("PolicyModule", oms_wallet.safe, world.l1.address("MultiSendCallOnly"))


@pytest.mark.parametrize(
    "case", ["no_code", "wrong_safe", "not_a_module", "not_enabled", "no_role"]
)
def test_wrong_module_is_refused_before_signing(
    world: DevWorld, oms_wallet: WalletDeployment, other_wallet: WalletDeployment,
    idle_module: str, tmp_path: Path, case: str,
) -> None:  # fmt: skip
    module = {
        "no_code": "0x" + "de" * 20,
        "wrong_safe": other_wallet.module,
        "not_a_module": world.l1.token("USDC").address,  # code, but no safe()
        "not_enabled": idle_module,
        "no_role": oms_wallet.module,
    }[case]
    # no_role: the deployer's key signs, and the deployer is no operator of this module
    extra = ["--key-env", "DEPLOYER_KEY"] if case == "no_role" else []
    j = tmp_path / "journal.sqlite"
    nonces = operator_nonce(world), rpc_nonce(world, DEPLOYER_KEY)
    weth = balance(world, "WETH", oms_wallet.safe)
    r = swap(world, oms_wallet.safe, module, j, f"m-{case}", *extra)
    assert r.returncode == 1, (r.stdout, r.stderr)
    code = "MODULE_WRONG_SAFE" if case == "not_a_module" else f"MODULE_{case.upper()}"
    assert one_error(r.stderr).startswith(f"error: [{code}] "), r.stderr
    assert tx_signed(j) == 0  # nothing signed or journaled as signed
    assert (operator_nonce(world), rpc_nonce(world, DEPLOYER_KEY)) == nonces  # nothing sent
    assert balance(world, "WETH", oms_wallet.safe) == weth


# --- issue 17 item 7: denied orders and the kill switch -----------------------------------
def test_resubmitted_denied_order_exits_nonzero_with_its_code(
    world: DevWorld, oms_wallet: WalletDeployment, tmp_path: Path, l1_module_isolated
) -> None:  # type: ignore[no-untyped-def]
    j = tmp_path / "journal.sqlite"
    nonce = operator_nonce(world)
    for attempt in range(2):  # the first submit, then the same client id again
        r = swap(world, oms_wallet.safe, oms_wallet.module, j, "d-1", "--max-notional", "10")
        assert r.returncode == 3, (attempt, r.stdout, r.stderr)
        assert "denied: [RISK_MAX_NOTIONAL]" in r.stderr, (attempt, r.stderr)
    assert operator_nonce(world) == nonce and tx_signed(j) == 0


def test_order_denied_while_halted_keeps_its_client_id(
    world: DevWorld, oms_wallet: WalletDeployment, tmp_path: Path, l1_module_isolated
) -> None:  # type: ignore[no-untyped-def]
    j = tmp_path / "journal.sqlite"
    assert agent("halt", "--journal", str(j), "--reason", "test").returncode == 0
    nonce = operator_nonce(world)
    r = swap(world, oms_wallet.safe, oms_wallet.module, j, "h-1")
    assert r.returncode == 3 and "denied: [TRADING_HALTED]" in r.stderr, (r.stdout, r.stderr)
    assert operator_nonce(world) == nonce and tx_signed(j) == 0
    assert agent("resume", "--journal", str(j)).returncode == 0
    r = swap(world, oms_wallet.safe, oms_wallet.module, j, "h-1")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "order h-1: filled" in r.stdout


async def test_module_revert_is_decoded_by_name_and_nothing_signed(
    world: DevWorld, make_app, l1_isolated: None
) -> None:  # type: ignore[no-untyped-def]
    """A call the module refuses: the error names PolicyViolation, its status by name, and
    carries the off-chain code for the same rule (no `custom error 0x95e83831`)."""
    from eth_abi import encode
    from eth_utils import function_signature_to_4byte_selector as sel

    from agent.errors import WouldRevertError
    from agent.wallet.multisend import Call

    app = await make_app()
    steal = Call(
        world.l1.token("USDC").address,
        sel("transfer(address,uint256)") + encode(["address", "uint256"], [app.signer.address, 1]),
    )
    nonce = operator_nonce(world)
    with pytest.raises(WouldRevertError) as e:
        await app.executor.execute([steal])
    msg = str(e.value)
    assert e.value.code == "POLICY_FUNCTION_NOT_ALLOWED", msg
    assert "PolicyModule.PolicyViolation(status=FUNCTION_NOT_ALLOWED (5), word=0x" in msg
    assert "custom error" not in msg and "nothing was signed" in msg
    assert operator_nonce(world) == nonce
    assert not [r for r in app.journal.read_all() if r.type == "TxSigned"]


def test_unreachable_node_is_one_line_and_nothing_leaks(
    world: DevWorld, oms_wallet: WalletDeployment, tmp_path: Path
) -> None:
    r = agent(
        "trade", "swap", "--side", "buy", "--base", "WETH", "--quote", "USDC", "--size", "1",
        "--client-id", "u-1", "--rpc-url", "http://127.0.0.1:9",
        "--manifest", str(world.manifest_paths[0]), "--safe", oms_wallet.safe,
        "--module", oms_wallet.module, "--journal", str(tmp_path / "j.sqlite"),
    )  # fmt: skip
    assert r.returncode == 1
    assert one_error(r.stderr).startswith("error: [RPC_UNAVAILABLE] "), r.stderr
    assert "Unclosed" not in r.stderr


async def test_mined_revert_says_why_by_name(world: DevWorld, make_app, l1_isolated: None) -> None:  # type: ignore[no-untyped-def]
    """Sent without an estimate (gas given), the module's refusal is mined as a revert: the
    error names it, replayed and decoded, instead of only the hash."""
    from eth_abi import encode
    from eth_utils import function_signature_to_4byte_selector as sel

    from agent.errors import TransactionFailedError
    from agent.wallet.multisend import Call

    app = await make_app()
    steal = Call(
        world.l1.token("USDC").address,
        sel("transfer(address,uint256)") + encode(["address", "uint256"], [app.signer.address, 1]),
    )
    with pytest.raises(TransactionFailedError) as e:
        await app.executor.execute([steal], gas=300_000)
    assert "reverted: " in str(e.value), str(e.value)
    assert "PolicyModule.PolicyViolation(status=FUNCTION_NOT_ALLOWED (5)" in str(e.value)
