"""The two-party signer end to end: `agent signer keygen` (two processes), `agent signer
serve` (party 2's process), the agent's TxEngine with a ThresholdSigner (party 1) on anvil.
The transactions are mined from the joint address; a signer that is down leaves the order
unsent with SIGNER_UNAVAILABLE and nothing journaled as signed."""

from __future__ import annotations

import json
import stat

import pytest

from agent.chain.rpc import RpcClient
from agent.chain.txengine import EngineConfig, TxEngine, TxRefused, TxSpec
from agent.journal import SqliteJournal
from agent.oms.events import TxSigned
from agent.oms.tx import TxState
from agent.signing.errors import SignerUnavailableError
from agent.signing.threshold import ThresholdSigner, read_share

from .conftest import CHAIN_ID, Serve, agent_cli

TO = "0x" + "5e" * 20


def test_keygen_writes_two_matching_shares_in_two_processes(keys):
    s1, s2 = read_share(keys["p1"], role=1), read_share(keys["p2"], role=2)
    assert s1.address == s2.address == keys["address"]
    for p in (keys["p1"], keys["p2"]):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    # neither file holds the other party's secret: the operator key exists in no file
    d1, d2 = json.loads(keys["p1"].read_text()), json.loads(keys["p2"].read_text())
    assert "x2" not in d1 and "x1" not in d2 and "paillier_p" not in d2
    r = agent_cli("signer", "address", "--share", str(keys["p2"]))
    assert r.returncode == 0 and keys["address"] in r.stdout


async def test_threshold_signed_txs_are_mined_from_the_joint_address(keys, serve, anvil, tmp_path):
    address = keys["address"]
    assert serve.address == address
    anvil.rpc("anvil_setBalance", address, hex(10**19))
    signer = ThresholdSigner.from_files(keys["p1"], serve.peer)
    journal = SqliteJournal(tmp_path / "j.db")
    async with RpcClient(anvil.rpc_url, expected_chain_id=CHAIN_ID) as rpc:
        eng = TxEngine(rpc, signer, journal, EngineConfig(chain_id=CHAIN_ID, confirmations=1))
        await eng.start()
        before = int(await rpc.call("eth_getBalance", [TO, "latest"]), 16)
        out = await eng.send_many(
            [TxSpec(TO, value=1234), TxSpec(TO, value=1, data=b"\xde\xad", gas=30_000)]
        )
        for res in out:
            assert res.error is None
            rec = await eng.wait_for(res.tx_hash, {TxState.MINED, TxState.CONFIRMED}, 30)
            tx = await rpc.call("eth_getTransactionByHash", [rec.tx_hash])
            receipt = await rpc.call("eth_getTransactionReceipt", [rec.tx_hash])
            assert tx["from"].lower() == address.lower() == receipt["from"].lower()
            assert int(receipt["status"], 16) == 1
        assert int(await rpc.call("eth_getBalance", [TO, "latest"]), 16) == before + 1235
        await eng.flush()
        await signer.aclose()
    journal.close()


async def test_signer_down_leaves_the_order_unsent(keys, anvil, tmp_path):
    serve = Serve(keys["p2"])
    peer = serve.peer
    serve.stop()  # party 2 is gone
    signer = ThresholdSigner.from_files(keys["p1"], peer)
    journal = SqliteJournal(tmp_path / "j.db")
    async with RpcClient(anvil.rpc_url, expected_chain_id=CHAIN_ID) as rpc:
        eng = TxEngine(rpc, signer, journal, EngineConfig(chain_id=CHAIN_ID, confirmations=1))
        await eng.start()
        nonce = int(await rpc.call("eth_getTransactionCount", [signer.address, "latest"]), 16)
        with pytest.raises(SignerUnavailableError) as info:
            await eng.send(TxSpec(TO, value=1, client_order_id="down-1"))
        assert info.value.code == "SIGNER_UNAVAILABLE" and peer in info.value.message
        evs = [r.event for r in journal.read_stream(eng.stream)]
        assert [type(e) for e in evs] == [TxRefused] and evs[0].client_order_id == "down-1"
        assert not any(isinstance(e, TxSigned) for e in evs)
        assert (
            int(await rpc.call("eth_getTransactionCount", [signer.address, "pending"]), 16) == nonce
        )
    journal.close()


def test_cli_check_and_send(keys, serve, anvil, tmp_path):
    anvil.rpc("anvil_setBalance", keys["address"], hex(10**19))
    r = agent_cli("signer", "check", "--share", str(keys["p1"]), "--peer", serve.peer)
    assert r.returncode == 0, r.stderr
    assert "ok:" in r.stdout
    r = agent_cli(
        "signer", "send", "--share", str(keys["p1"]), "--peer", serve.peer,
        "--rpc-url", anvil.rpc_url, "--to", TO, "--value-wei", "77",
        "--journal", str(tmp_path / "cli.db"),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    state, h = r.stdout.split()[:2]
    assert state in ("mined", "confirmed")
    tx = anvil.rpc("eth_getTransactionByHash", h)
    assert tx["from"].lower() == keys["address"].lower() and int(tx["value"], 16) == 77
    # party 1's share presented as party 2's, a wrong peer: one line, a code, non-zero
    r = agent_cli("signer", "check", "--share", str(keys["p2"]), "--peer", serve.peer)
    assert r.returncode != 0 and "TSS_SHARE_INVALID" in r.stderr and "Traceback" not in r.stderr


def test_encrypted_shares_end_to_end(tmp_path, monkeypatch):
    """keygen --password-env encrypts both files (party 2's process too); serve and check
    need the password; without it: one line, TSS_SHARE_INVALID."""
    monkeypatch.setenv("TSS_PW", "s3cret-pass")
    r = agent_cli("signer", "keygen", "--out-dir", str(tmp_path), "--password-env", "TSS_PW")
    assert r.returncode == 0, r.stderr
    p1, p2 = tmp_path / "party1.share.json", tmp_path / "party2.share.json"
    for p in (p1, p2):
        assert "crypto" in json.loads(p.read_text())
    r = agent_cli("signer", "address", "--share", str(p2))
    assert r.returncode == 1 and "[TSS_SHARE_INVALID]" in r.stderr and "encrypted" in r.stderr
    r = agent_cli("signer", "address", "--share", str(p2), "--password-env", "NOT_SET_ANYWHERE")
    assert r.returncode == 2 and "--password-env" in r.stderr
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "signer", "serve", "--share", str(p2),
         "--listen", "127.0.0.1:0", "--password-env", "TSS_PW"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving "), line
        r = agent_cli("signer", "check", "--share", str(p1), "--peer", line.split()[-1],
                      "--password-env", "TSS_PW")  # fmt: skip
        assert r.returncode == 0, r.stderr
    finally:
        proc.terminate()
        proc.wait(10)


async def test_party2_restart_between_signatures(keys):
    """Party 2 restarts while the agent's connection is idle: the next signature opens a new
    connection (a fresh session) instead of refusing the order."""
    from agent.signing.dispatch import sign_tx
    from agent.signing.types import TxRequest

    first = Serve(keys["p2"])
    signer = ThresholdSigner.from_files(keys["p1"], first.peer)
    tx = TxRequest(chain_id=1, nonce=0, to=signer.address, gas=21_000)
    try:
        await sign_tx(signer, tx)
        assert "1 signed" in first.stop()
        second = Serve(keys["p2"], listen=first.peer)  # same address, new process
        try:
            st = await sign_tx(signer, tx.replace(nonce=1))
            assert st.sender == signer.address
        finally:
            assert "1 signed, 0 refused" in second.stop()
    finally:
        await signer.aclose()
