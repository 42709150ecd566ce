"""BlockReads: reads of "latest" pinned to the head a task pinned (by hash, EIP-1898),
answered from memory while that head is the newest, refetched after a new head, never
shared between tasks pinned to different heads; unpinned reads pass through unchanged.
Against a programmable JSON-RPC node over real HTTP."""

from __future__ import annotations

import asyncio

import pytest

from agent.chain.rpc import RpcClient
from agent.chain.rpc_block import BlockReads
from agent.errors import RpcError

from .fakenode import FakeNode, NodeError

H1, H2 = "0x" + "a1" * 32, "0x" + "b2" * 32
TX = {"to": "0x" + "11" * 20, "data": "0x01"}


@pytest.fixture
async def node():
    n = await FakeNode().start()
    state = {"head": (1, H1), "calls": []}

    def header(p):
        num, h = state["head"]
        return {"number": hex(num), "hash": h, "timestamp": hex(1000 + num), "extra": "x"}

    def eth_call(p):
        state["calls"].append(p)
        blk = p[1]
        if blk == {"blockHash": "0x" + "ee" * 32, "requireCanonical": True}:
            raise NodeError(-32001, "Resource not found")
        # the answer depends on the block asked for, so a stale answer is visible
        return "0x" + (blk["blockHash"][2:6] if isinstance(blk, dict) else "ffff")

    n.methods["eth_getBlockByNumber"] = header
    n.methods["eth_call"] = eth_call
    n.methods["eth_getBalance"] = lambda p: "0x5"
    rpc = await RpcClient(n.url).connect()
    yield n, rpc, state
    await rpc.close()
    await n.stop()


async def test_pinned_reads_go_to_the_head_by_hash_and_are_cached(node):
    _n, rpc, state = node
    reads = BlockReads(rpc)
    head = await reads.head()
    assert (head.number, head.hash, head.timestamp) == (1, H1, 1001)
    with reads.pinned(head):
        assert await reads.call("eth_call", [TX, "latest"]) == "0xa1a1"
        got = await reads.batch(
            [("eth_call", [TX, "latest"]), ("eth_getBalance", ["0xab", "latest"])]
        )
        assert got == ["0xa1a1", "0x5"]
    assert state["calls"] == [[TX, {"blockHash": H1, "requireCanonical": True}]]  # once
    assert (reads.hits, reads.misses) == (1, 2)
    # unpinned: passes through at "latest", never cached
    assert await reads.call("eth_call", [TX, "latest"]) == "0xffff"
    assert state["calls"][-1] == [TX, "latest"]
    # an explicit block is not rewritten (and not cached)
    with reads.pinned(head):
        assert await reads.call("eth_call", [TX, "0x1"]) == "0xffff"
    # a new head empties the cache: the same read goes to the new block
    state["head"] = (2, H2)
    head2 = await reads.head()
    with reads.pinned(head2):
        assert await reads.call("eth_call", [TX, "latest"]) == "0xb2b2"
    # a reorg at the same height (another hash) empties it too
    state["head"] = (2, H1)
    head3 = await reads.head()
    with reads.pinned(head3):
        assert await reads.call("eth_call", [TX, "latest"]) == "0xa1a1"
    assert len(state["calls"]) == 5


async def test_an_older_pin_is_never_served_or_stored(node):
    _n, rpc, state = node
    reads = BlockReads(rpc)
    old = await reads.head()
    state["head"] = (2, H2)
    new = await reads.head()

    async def read(head):
        with reads.pinned(head):
            return await reads.call("eth_call", [TX, "latest"])

    # two tasks at once, each at its own head: neither sees the other's answer
    a, b = await asyncio.gather(read(old), read(new))
    assert (a, b) == ("0xa1a1", "0xb2b2")
    assert await read(old) == "0xa1a1"  # refetched: answers for an old head are not kept
    n_calls = len(state["calls"])
    assert await read(new) == "0xb2b2" and len(state["calls"]) == n_calls  # the new one is


async def test_errors_are_not_cached_and_a_dropped_block_fails(node):
    _n, rpc, state = node
    reads = BlockReads(rpc)
    state["head"] = (3, "0x" + "ee" * 32)  # the node no longer has this block
    head = await reads.head()
    with reads.pinned(head):
        with pytest.raises(RpcError, match="Resource not found"):
            await reads.call("eth_call", [TX, "latest"])
        (got,) = await reads.batch([("eth_call", [TX, "latest"])])
        assert isinstance(got, RpcError)
    assert len(state["calls"]) == 2 and reads.hits == 0
