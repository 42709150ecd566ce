"""TxEngine with an async (remote) signer: a signer that hangs, is down, crashes or signs the
wrong thing leaves a TxRefused with its code, nothing signed in the journal, nothing sent,
and the nonce free for the next send. Real HTTP to a programmable node, SQLite on disk."""

from __future__ import annotations

import asyncio

import pytest

from agent.chain.rpc import RpcClient
from agent.chain.txengine import EngineConfig, TxEngine, TxRefused, TxSpec
from agent.errors import ValidationError
from agent.journal import SqliteJournal
from agent.oms.events import TxSigned
from agent.oms.tx import TxState
from agent.signing import LocalSigner
from agent.signing.errors import (
    SignerFailedError,
    SignerMismatchError,
    SignerTimeoutError,
    SignerUnavailableError,
)
from tests.unit.chain.fakenode import FakeNode

TO = "0x" + "77" * 20
KEY = "0x" + "01" * 32
HISTORY = {"baseFeePerGas": ["0x3b9aca00", "0x3b9aca00"], "reward": [["0x1"]], "oldestBlock": "0x5"}


class RemoteSigner:
    """Async only (no sign_transaction_sync), with a switchable failure mode."""

    def __init__(self) -> None:
        self.local = LocalSigner(KEY)
        self.other = LocalSigner("0x" + "02" * 32)
        self.address = self.local.address
        self.mode = "ok"
        self.calls = 0

    async def sign_transaction(self, tx):
        self.calls += 1
        await asyncio.sleep(0)
        if self.mode == "hang":
            await asyncio.Event().wait()
        if self.mode == "down":
            raise ConnectionRefusedError(111, "Connection refused")
        if self.mode == "crash":
            raise RuntimeError("segfault-ish")
        if self.mode == "wrong_tx":
            return self.local.sign_transaction_sync(tx.replace(value=tx.value + 1))
        if self.mode == "wrong_key":
            st = self.other.sign_transaction_sync(tx)
            return type(st)(st.tx, st.raw, st.hash, self.address, st.y_parity, st.r, st.s)
        if self.mode == "second_fails" and self.calls == 2:
            raise ConnectionResetError("peer reset")
        return self.local.sign_transaction_sync(tx)

    async def sign_typed_data(self, typed):  # pragma: no cover - not used here
        raise NotImplementedError


@pytest.fixture
async def setup(tmp_path):
    node = await FakeNode().start()
    node.methods["eth_getTransactionCount"] = lambda p: "0x0"
    node.methods["eth_feeHistory"] = lambda p: HISTORY
    node.methods["eth_getBlockByNumber"] = lambda p: {"number": "0x5", "hash": "0x" + "5b" * 32}
    node.methods["eth_getTransactionReceipt"] = lambda p: None
    node.methods["eth_getTransactionByHash"] = lambda p: {"hash": p[0]}
    node.methods["eth_sendRawTransaction"] = lambda p: "0x" + "ab" * 32
    journal = SqliteJournal(tmp_path / "j.db")
    rpc = await RpcClient(node.url).connect()
    signer = RemoteSigner()
    eng = TxEngine(rpc, signer, journal, EngineConfig(chain_id=1, sign_timeout=0.3))
    await eng.start()
    yield node, journal, eng, signer
    await eng.flush()
    await rpc.close()
    journal.close()
    await node.stop()


def sent_raw(node) -> list[str]:
    return [
        c["params"][0]
        for p in node.posts
        for c in (p if isinstance(p, list) else [p])
        if c["method"] == "eth_sendRawTransaction"
    ]


def events(journal, eng):
    return [r.event for r in journal.read_stream(eng.stream)]


async def test_async_signer_signs_and_sends(setup):
    node, journal, eng, signer = setup
    res = await eng.send(TxSpec(TO, value=5, client_order_id="a"))
    assert res.record.state is TxState.SENT
    evs = events(journal, eng)
    assert isinstance(evs[0], TxSigned) and evs[0].sender == signer.address.lower()
    # the bytes on the wire are the local key's signature of the same request
    want = signer.local.sign_transaction_sync(eng.request_of(res.tx_hash))
    assert sent_raw(node) == [want.raw_hex]


@pytest.mark.parametrize(
    ("mode", "err"),
    [
        ("hang", SignerTimeoutError),
        ("down", SignerUnavailableError),
        ("crash", SignerFailedError),
        ("wrong_tx", SignerMismatchError),
        ("wrong_key", SignerMismatchError),
    ],
)
async def test_failing_signer_leaves_order_unsent_with_reason(setup, mode, err):
    node, journal, eng, signer = setup
    signer.mode = mode
    with pytest.raises(err) as info:
        await eng.send(TxSpec(TO, value=1, client_order_id="o1"))
    assert info.value.code == err.code
    evs = events(journal, eng)
    assert [type(e) for e in evs] == [TxRefused]
    assert evs[0].code == err.code and evs[0].client_order_id == "o1" and evs[0].nonce == 0
    assert not any(isinstance(e, TxSigned) for e in evs)
    assert sent_raw(node) == []
    signer.mode = "ok"  # the signer is back: same nonce, nothing burnt
    res = await eng.send(TxSpec(TO, value=1, client_order_id="o1"))
    assert res.record.nonce == 0 and res.record.state is TxState.SENT
    assert len(sent_raw(node)) == 1


async def test_batch_is_all_or_nothing(setup):
    node, journal, eng, signer = setup
    signer.mode = "second_fails"
    with pytest.raises(SignerUnavailableError):
        await eng.send_many([TxSpec(TO, value=i, client_order_id="b") for i in range(3)])
    assert [type(e) for e in events(journal, eng)] == [TxRefused]
    assert sent_raw(node) == []
    signer.mode = "ok"
    out = await eng.send_many([TxSpec(TO, value=i) for i in range(3)])
    assert [r.record.nonce for r in out] == [0, 1, 2]


async def test_replacement_with_signer_down_keeps_the_original(setup):
    node, journal, eng, signer = setup
    res = await eng.send(TxSpec(TO, value=1, client_order_id="r"))
    signer.mode = "down"
    with pytest.raises(SignerUnavailableError):
        await eng.speed_up(0)
    evs = events(journal, eng)
    assert isinstance(evs[-1], TxRefused) and evs[-1].code == "SIGNER_UNAVAILABLE"
    assert sum(isinstance(e, TxSigned) for e in evs) == 1
    assert eng.records[res.tx_hash].state is TxState.SENT and len(sent_raw(node)) == 1


async def test_local_signer_stays_inline(tmp_path):
    """The local key's sync path is used as is: no task, no timer (the hot path)."""
    signer = LocalSigner(KEY)
    eng = TxEngine(None, signer, None, EngineConfig(chain_id=1))
    assert eng._sync_sign == signer.sign_transaction_sync


def test_sign_timeout_is_validated():
    with pytest.raises(ValidationError, match="sign_timeout"):
        EngineConfig(chain_id=1, sign_timeout=0)
