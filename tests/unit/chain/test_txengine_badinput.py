"""Bad input reaching the engine from a broken node: a typed error, a TxRefused (or TxDropped)
in the journal (SQLite on disk), nothing sent, and the engine keeps working afterwards."""

from __future__ import annotations

import pytest

from agent.chain.rpc import RpcClient
from agent.chain.txengine import EngineConfig, TxEngine, TxRefused, TxSpec
from agent.errors import RpcError, RpcResponseError, RpcUnavailableError
from agent.journal import SqliteJournal
from agent.oms.events import TxDropped, TxSent, TxSigned
from agent.oms.tx import TxState
from agent.signing import LocalSigner

from .fakenode import FakeNode, NodeError

TO = "0x" + "77" * 20
GOOD_HISTORY = {
    "baseFeePerGas": ["0x3b9aca00", "0x3b9aca00"],
    "reward": [["0x1"]],
    "oldestBlock": "0x5",
}


@pytest.fixture
async def setup(tmp_path):
    node = await FakeNode().start()
    node.methods["eth_getTransactionCount"] = lambda p: "0x0"
    node.methods["eth_feeHistory"] = lambda p: GOOD_HISTORY
    node.methods["eth_getBlockByNumber"] = lambda p: {"number": "0x5", "hash": "0x" + "5b" * 32}
    node.methods["eth_getTransactionReceipt"] = lambda p: None
    node.methods["eth_getTransactionByHash"] = lambda p: {"hash": p[0]}
    node.methods["eth_sendRawTransaction"] = lambda p: "0x" + "ab" * 32
    journal = SqliteJournal(tmp_path / "j.db")
    rpc = await RpcClient(node.url).connect()
    eng = TxEngine(rpc, LocalSigner("0x" + "01" * 32), journal, EngineConfig(chain_id=1))
    await eng.start()
    yield node, journal, eng
    await eng.flush()
    await rpc.close()
    journal.close()
    await node.stop()


def sent_raw(node) -> int:
    return sum(
        1
        for p in node.posts
        for c in (p if isinstance(p, list) else [p])
        if c["method"] == "eth_sendRawTransaction"
    )


def events(journal, eng):
    return [r.event for r in journal.read_stream(eng.stream)]


@pytest.mark.parametrize(
    ("answer", "err"),
    [
        (b"<html>502</html>", RpcResponseError),
        (b'{"jsonrpc":"2.0","id":', RpcResponseError),
        ((503, b"down"), RpcUnavailableError),
    ],
)
async def test_garbage_before_signing_refuses_and_sends_nothing(setup, answer, err):
    node, journal, eng = setup
    node.raw = lambda body: answer if b"eth_feeHistory" in body else None
    with pytest.raises(err):
        await eng.send(TxSpec(TO, value=1, client_order_id="g"))
    evs = events(journal, eng)
    assert [type(e) for e in evs] == [TxRefused] and evs[0].client_order_id == "g"
    assert evs[0].code == err.code
    assert sent_raw(node) == 0
    node.raw = None  # the node recovers: the engine is still usable, nonce 0 was not burnt
    res = await eng.send(TxSpec(TO, value=1))
    assert res.record.nonce == 0 and res.record.state is TxState.SENT and sent_raw(node) == 1


async def test_node_error_on_broadcast_is_journaled_and_frees_the_nonce(setup):
    node, journal, eng = setup

    def refuse(p):
        raise NodeError(-32003, "insufficient funds for gas * price + value")

    node.methods["eth_sendRawTransaction"] = refuse
    res = await eng.send(TxSpec(TO, value=10**30, client_order_id="poor"))
    assert isinstance(res.error, RpcError) and res.error.rpc_code == -32003
    assert res.record.state is TxState.DROPPED
    await eng.flush()
    kinds = [type(e) for e in events(journal, eng)]
    assert kinds == [TxSigned, TxDropped]  # write-ahead record, then the refusal
    node.methods["eth_sendRawTransaction"] = lambda p: "0x" + "cd" * 32
    again = await eng.send(TxSpec(TO, value=1))
    assert again.record.nonce == 0  # the refused tx never entered a pool: nonce reused


async def test_garbage_answer_to_broadcast_leaves_fate_unknown(setup):
    node, journal, eng = setup
    node.raw = lambda body: b"garbage" if b"eth_sendRawTransaction" in body else None
    res = await eng.send(TxSpec(TO, value=1))
    assert isinstance(res.error, RpcResponseError)
    assert res.record.state is TxState.SIGNED  # maybe sent: never re-signed, poll settles it
    node.raw = None
    await eng.poll()  # the node knows the hash: recorded as sent, not sent again
    assert eng.records[res.tx_hash].state is TxState.SENT
    await eng.flush()
    assert [type(e) for e in events(journal, eng)] == [TxSigned, TxSent]
