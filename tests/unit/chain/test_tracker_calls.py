"""What one tracking pass asks the node: receipts only where one can exist."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from agent.chain.rpc import RpcClient
from agent.chain.txengine import EngineConfig, TxEngine, TxSpec
from agent.errors import RpcResponseError
from agent.journal import SqliteJournal
from agent.oms.tx import TxState
from agent.signing import LocalSigner

from .fakenode import FakeNode

TO = "0x" + "77" * 20
HISTORY = {"baseFeePerGas": ["0x1", "0x1"], "reward": [["0x1"]], "oldestBlock": "0x5"}


def calls(node: FakeNode, method: str) -> list[list]:
    return [
        c["params"]
        for p in node.posts
        for c in (p if isinstance(p, list) else [p])
        if c["method"] == method
    ]


@pytest.fixture
async def chain(tmp_path):
    node = await FakeNode().start()
    state = {"count": 0, "head": 5, "hashes": {5: "0x" + "05" * 32, 6: "0x" + "06" * 32}}

    def block(p):
        n = state["head"] if p[0] == "latest" else int(p[0], 16)
        return {"number": hex(n), "hash": state["hashes"].get(n, "0x" + "ee" * 32)}

    def receipt(p):
        return {
            "transactionHash": p[0], "blockNumber": "0x5", "blockHash": state["hashes"][5],
            "status": "0x1", "gasUsed": "0x5208", "effectiveGasPrice": "0x1",
        }  # fmt: skip

    node.methods.update({
        "eth_getTransactionCount": lambda p: hex(state["count"]),
        "eth_feeHistory": lambda p: HISTORY,
        "eth_getBlockByNumber": block,
        "eth_getTransactionReceipt": receipt,
        "eth_getTransactionByHash": lambda p: {"hash": p[0], "blockHash": None},
        "eth_sendRawTransaction": lambda p: "0x" + "ab" * 32,
    })  # fmt: skip
    journal = SqliteJournal(tmp_path / "j.db")
    rpc = await RpcClient(node.url).connect()
    eng = TxEngine(
        rpc, LocalSigner("0x" + "01" * 32), journal,
        EngineConfig(chain_id=1, confirmations=2, presence_every=60, stuck_blocks=100),
    )  # fmt: skip
    await eng.start()
    yield node, state, eng
    await eng.flush()
    await rpc.close()
    journal.close()
    await node.stop()


async def test_in_flight_txs_cost_no_receipt_and_anchored_ones_none_either(chain) -> None:
    node, state, eng = chain
    res = await eng.send_many([TxSpec(TO, value=i) for i in range(3)])
    node.posts.clear()
    await eng.poll()  # nonces 0..2 >= mined count 0: no receipt can exist yet
    assert calls(node, "eth_getTransactionReceipt") == []
    state["count"] = 3  # all three mined in block 5
    await eng.poll()
    assert len(calls(node, "eth_getTransactionReceipt")) == 3
    assert {eng.records[r.tx_hash].state for r in res} == {TxState.MINED}  # depth 1 < 2
    node.posts.clear()
    state["head"] = 6  # a new block on top; block 5 keeps its hash: no receipt needed
    await eng.poll()
    assert calls(node, "eth_getTransactionReceipt") == []
    assert {eng.records[r.tx_hash].state for r in res} == {TxState.CONFIRMED}
    node.posts.clear()
    await eng.poll()
    assert calls(node, "eth_getTransactionReceipt") == []


async def test_a_changed_anchor_makes_every_watched_receipt_be_checked(chain) -> None:
    node, state, eng = chain
    res = await eng.send_many([TxSpec(TO, value=i) for i in range(2)])
    state["count"] = 2
    await eng.poll()
    node.posts.clear()
    state["hashes"][5] = "0x" + "55" * 32  # block 5 replaced: a reorg at or below the anchor
    evs = await eng.poll()
    assert len(calls(node, "eth_getTransactionReceipt")) == 2
    # the receipts now name the new block 5: each tx is reorged out and mined again
    assert [type(e).__name__ for e in evs].count("TxReorged") == 2
    assert all(eng.records[r.tx_hash].block_hash == state["hashes"][5] for r in res)


async def test_a_receipt_missing_fields_is_a_typed_error_and_changes_nothing(chain) -> None:
    node, state, eng = chain
    res = await eng.send_many([TxSpec(TO, value=i) for i in range(2)])
    bad = res[0].tx_hash
    good = node.methods["eth_getTransactionReceipt"]
    node.methods["eth_getTransactionReceipt"] = lambda p: (
        {"transactionHash": p[0], "status": "0x1"} if p[0] == bad else good(p)
    )
    state["count"] = 2
    with pytest.raises(RpcResponseError, match="missing required field `blockNumber`"):
        await eng.poll()
    assert {eng.records[r.tx_hash].state for r in res} == {TxState.SENT}  # nothing half-done
    node.methods["eth_getTransactionReceipt"] = good  # the node recovers: tracking goes on
    await eng.poll()
    assert {eng.records[r.tx_hash].state for r in res} == {TxState.MINED}


async def test_a_single_mined_receipt_at_depth_is_one_event(chain) -> None:
    _node, state, eng = chain
    res = await eng.send(TxSpec(TO, value=1))
    state["count"], state["head"] = 1, 6  # mined in block 5, head 6: depth 2 = confirmations
    evs = await eng.poll()
    assert [(type(e).__name__, e.confirmed) for e in evs] == [("TxMined", True)]
    assert eng.records[res.tx_hash].state is TxState.CONFIRMED


async def test_a_burst_of_blocks_alone_does_not_make_a_tx_stuck(chain, monkeypatch) -> None:
    """Devnet automine mines blocks (empty ones too) in milliseconds while a tx sits ready:
    blocks count as evidence of a stuck tx only once stuck_min_seconds passed as well."""
    from agent.chain.txengine import tracker

    node, state, eng = chain
    eng.config = dataclasses.replace(eng.config, stuck_blocks=3, stuck_min_seconds=1.0)
    clock = [tracker.time.monotonic()]
    monkeypatch.setattr(tracker.time, "monotonic", lambda: clock[0])
    res = await eng.send(TxSpec(TO, value=1))
    await eng.poll()  # first sighting in the pool
    state["head"] = 9  # four blocks later, the same instant: not stuck
    node.posts.clear()
    await eng.poll()
    assert calls(node, "eth_sendRawTransaction") == []
    clock[0] += 1.5  # the blocks stand and time passed too: stuck, replaced
    state["hashes"][9] = "0x" + "09" * 32
    await eng.poll()
    assert len(calls(node, "eth_sendRawTransaction")) == 1
    assert len(eng.by_nonce[res.record.nonce]) == 2  # the original and its speed-up


async def test_concurrent_polls_share_passes_and_journal_each_receipt_once(chain) -> None:
    """Several waiters on one engine (e.g. executors of one Safe) poll at once: two passes
    side by side would both journal the same receipt (the second TxMined is illegal)."""
    node, state, eng = chain
    res = await eng.send_many([TxSpec(TO, value=i) for i in range(3)])
    state["count"] = 3
    node.posts.clear()
    node.delay = 0.05  # keep the first pass in flight while the others call (not a sync)
    first = asyncio.ensure_future(eng.poll())
    while not node.posts:  # the first pass has started: later calls cannot share it
        await asyncio.sleep(0.001)
    node.delay = 0.0
    later = await asyncio.gather(eng.poll(), eng.poll(), eng.poll())
    assert [type(e).__name__ for e in await first] == ["TxMined"] * 3
    assert later[0] == later[1] == later[2] == []  # one shared pass, started after the calls
    assert len(calls(node, "eth_getTransactionCount")) == 2  # two passes, not four
    await eng.flush()
    mined = [r.event for r in eng.journal.read_stream(eng.stream) if r.type == "TxMined"]
    assert sorted(e.tx_hash for e in mined) == sorted(r.tx_hash for r in res)


async def test_a_failed_pass_is_not_handed_to_the_waiters(chain) -> None:
    node, state, eng = chain
    res = await eng.send(TxSpec(TO, value=1))
    state["count"] = 1
    asked = []

    def history(p):  # the second pass gets an unusable answer, the others a good one
        asked.append(p)
        return {"oldestBlock": "0x5"} if len(asked) == 2 else HISTORY

    node.methods["eth_feeHistory"] = history
    node.posts.clear()
    node.delay = 0.05
    first = asyncio.ensure_future(eng.poll())
    while not node.posts:  # the first pass is in flight: both waiters need the next one
        await asyncio.sleep(0.001)
    node.delay = 0.0
    w1, w2 = await asyncio.gather(eng.poll(), eng.poll(), return_exceptions=True)
    assert [type(e).__name__ for e in await first] == ["TxMined"]
    assert isinstance(w1, RpcResponseError) and "eth_feeHistory" in str(w1)
    assert w2 == [] and len(asked) == 3  # the failed pass was not shared: w2 ran its own
    assert eng.records[res.tx_hash].state is TxState.MINED


async def test_with_a_reads_client_the_tracker_asks_there_and_sends_stay_on_rpc(chain, tmp_path):
    node, state, _ = chain
    rpc = await RpcClient(node.url).connect()
    reads = await RpcClient(node.url, connections=2, max_batch=2).connect()
    journal = SqliteJournal(tmp_path / "reads.db")
    try:
        eng = TxEngine(rpc, LocalSigner("0x" + "02" * 32), journal,
                       EngineConfig(chain_id=1, presence_every=60), reads=reads)  # fmt: skip
        await eng.start()
        res = await eng.send_many([TxSpec(TO, value=i) for i in range(5)])
        sent, asked = rpc.requests_sent, reads.requests_sent
        state["count"] = 5
        await eng.poll()
        assert rpc.requests_sent == sent  # nothing of the pass went over the sending connection
        # the 3 head calls in posts of 2+1, then the 5 receipts in 2+2+1
        assert reads.requests_sent - asked == 2 + 3
        assert {eng.records[r.tx_hash].state for r in res} == {TxState.MINED}
        await eng.flush()
    finally:
        await rpc.close()
        await reads.close()
        journal.close()


async def test_an_illegal_observation_changes_nothing_and_the_engine_goes_on(chain) -> None:
    """A fold that fails midway is undone and claims no journal version: the next send is
    journaled at the right version instead of a ConcurrencyConflictError for ever after."""
    from agent.errors import IllegalTransitionError
    from agent.oms.events import TxConfirmed, TxMined

    _node, _state, eng = chain
    a, b = await eng.send_many([TxSpec(TO, value=i) for i in range(2)])
    version = eng._version
    ok = TxMined(1, eng.sender.lower(), a.record.nonce, a.tx_hash, 5, "0x" + "05" * 32, True)
    bad = TxConfirmed(1, eng.sender.lower(), b.record.nonce, b.tx_hash, 5, 2)  # b is not mined
    with pytest.raises(IllegalTransitionError):
        eng._append_later([ok, bad])
    assert eng.records[a.tx_hash].state is TxState.SENT  # the legal first event was undone too
    assert eng._version == version
    c = await eng.send(TxSpec(TO, value=9))
    await eng.flush()
    assert c.record.state is TxState.SENT
    assert eng.journal.version(eng.stream) == eng._version
