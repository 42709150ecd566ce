"""The JSON-RPC client against a real loopback HTTP server: batching and every failure type."""

from __future__ import annotations

import asyncio
import json
import socket

import msgspec
import pytest

from agent.chain.rpc import RpcClient
from agent.errors import (
    ChainIdMismatchError,
    RpcError,
    RpcResponseError,
    RpcUnavailableError,
    ValidationError,
)

from .fakenode import FakeNode, NodeError, truncating_server


@pytest.fixture
async def node():
    n = await FakeNode().start()
    n.methods["eth_blockNumber"] = lambda p: "0x10"
    n.methods["echo"] = lambda p: p
    yield n
    await n.stop()


async def test_call_and_helpers(node):
    async with RpcClient(node.url, expected_chain_id=1) as rpc:
        assert rpc.chain_id == 1
        assert await rpc.block_number() == 16
        assert await rpc.call("echo", [1, "a"]) == [1, "a"]


async def test_concurrent_calls_are_batched_on_one_connection(node):
    async with RpcClient(node.url) as rpc:
        before = rpc.requests_sent
        res = await asyncio.gather(*(rpc.call("echo", [i]) for i in range(50)))
        assert res == [[i] for i in range(50)]
        sent = rpc.requests_sent - before
        assert sent < 50  # coalesced: the first goes alone, the rest wait and batch
        assert any(isinstance(p, list) and len(p) > 1 for p in node.posts)


async def test_explicit_batch_keeps_per_call_errors(node):
    def boom(p):
        raise NodeError(-32000, "nonce too low")

    node.methods["boom"] = boom
    async with RpcClient(node.url) as rpc:
        a, b = await rpc.batch([("echo", [1]), ("boom", [])])
        assert a == [1]
        assert isinstance(b, RpcError) and b.rpc_code == -32000 and "nonce too low" in str(b)


async def test_a_batch_over_max_batch_spans_posts_and_keeps_order(node):
    async with RpcClient(node.url, max_batch=7) as rpc:
        before = rpc.requests_sent
        res = await rpc.batch([("echo", [i]) for i in range(20)])
        assert res == [[i] for i in range(20)]
        assert rpc.requests_sent - before == 3  # 7 + 7 + 6


@pytest.mark.parametrize("connections", [1, 2])
async def test_parts_of_a_batch_go_in_parallel_only_with_more_connections(node, connections):
    async with RpcClient(node.url, max_batch=4, connections=connections) as rpc:
        node.delay = 0.02  # each post stays open a moment: parallel posts overlap at the node
        node.posts.clear()
        res = await rpc.batch([("echo", [i]) for i in range(14)])
        assert res == [[i] for i in range(14)]  # in call order, whatever part came back first
        assert len(node.posts) == 4  # 4 + 4 + 4 + 2
        assert node.max_active == connections
        # and the client is whole afterwards: a lone call and a batch still work
        assert await rpc.call("echo", ["after"]) == ["after"]
        assert await rpc.batch([("echo", [1]), ("echo", [2])]) == [[1], [2]]
        assert rpc._drains == 0  # every posting loop gave its connection slot back


async def test_batches_and_calls_in_flight_together_each_get_their_own(node):
    async with RpcClient(node.url) as rpc:
        node.delay = 0.02
        got = await asyncio.gather(
            rpc.batch([("echo", [i]) for i in range(5)]),
            rpc.call("echo", ["lone"]),
            rpc.batch([("echo", [i]) for i in range(5, 8)]),
        )
        assert got == [[[i] for i in range(5)], ["lone"], [[5], [6], [7]]]


async def test_a_batch_answer_missing_one_id_fails_the_batch(node):
    def drop_last(body: bytes) -> bytes | None:
        req = json.loads(body)
        if not isinstance(req, list):
            return None
        return json.dumps(
            [{"jsonrpc": "2.0", "id": c["id"], "result": 1} for c in req[:-1]]
        ).encode()

    async with RpcClient(node.url) as rpc:
        node.raw = drop_last
        with pytest.raises(RpcResponseError, match="no response for id"):
            await rpc.batch([("echo", [1]), ("echo", [2])])
        node.raw = None
        assert await rpc.batch([("echo", [1]), ("echo", [2])]) == [[1], [2]]  # still usable


async def test_params_beyond_64_bits_are_sent_exactly(node):
    big = 2**70 + 1
    async with RpcClient(node.url) as rpc:
        await rpc.call("echo", [big])
        await rpc.batch([("echo", [big]), ("echo", ["0x1"])])
    assert node.posts[-2]["params"] == [big]  # the node parses with the exact stdlib json
    assert node.posts[-1][0]["params"] == [big]


class _Pair(msgspec.Struct):
    a: int
    b: str = "-"


async def test_typed_calls_decode_straight_to_their_type_and_refuse_other_shapes(node):
    node.methods["pair"] = lambda p: {"a": p[0], "b": "x", "ignored": ["big"] * 3}
    node.methods["none"] = lambda p: None
    node.methods["odd"] = lambda p: {"a": "not an int"}
    async with RpcClient(node.url) as rpc:
        got = await rpc.batch([("pair", [1], _Pair), ("none", [], _Pair | None), ("echo", [2**70])])
        assert got == [_Pair(1, "x"), None, [2**70]]  # untyped results keep big ints exact
        assert await rpc.batch([("pair", [5])], typ=_Pair) == [_Pair(5, "x")]
        with pytest.raises(RpcResponseError, match=r"odd\(\): unusable answer .*Expected `int`"):
            await rpc.batch([("echo", [1]), ("odd", [], _Pair)])


async def test_typed_calls_survive_an_answer_only_the_generic_parser_takes(node):
    # a batch answer with a stray non-object member: the fast split refuses it, the
    # generic path still answers each call, typed ones included
    def stray(body: bytes) -> bytes | None:
        req = json.loads(body)
        if not isinstance(req, list):
            return None
        out = [{"jsonrpc": "2.0", "id": c["id"], "result": {"a": 7}} for c in req]
        return json.dumps([*out, 42]).encode()

    async with RpcClient(node.url) as rpc:
        node.raw = stray
        assert await rpc.batch([("x", [], _Pair), ("y", [])]) == [_Pair(7), {"a": 7}]


async def test_node_error_is_typed(node):
    node.methods["eth_sendRawTransaction"] = lambda p: (_ for _ in ()).throw(
        NodeError(-32003, "insufficient funds")
    )
    async with RpcClient(node.url) as rpc:
        with pytest.raises(RpcError) as e:
            await rpc.send_raw_transaction(b"\x02")
        assert e.value.rpc_code == -32003 and e.value.code == "RPC_ERROR"


@pytest.mark.parametrize(
    "answer",
    [
        b"<html>gateway</html>",
        b"",
        b'{"jsonrpc":"2.0","id":',
        b"[1,2,3]",
        b'{"jsonrpc":"2.0"}',
        b"null",
    ],
)
async def test_garbage_is_a_bad_response(node, answer):
    async with RpcClient(node.url) as rpc:
        node.raw = lambda body: answer
        with pytest.raises(RpcResponseError):
            await rpc.block_number()
        node.raw = None
        assert await rpc.block_number() == 16  # the client stays usable


async def test_wrong_id_and_non_hex_quantity(node):
    async with RpcClient(node.url) as rpc:
        node.raw = lambda body: b'{"jsonrpc":"2.0","id":999999,"result":"0x1"}'
        with pytest.raises(RpcResponseError, match="id"):
            await rpc.call("eth_blockNumber")
        node.raw = None
        node.methods["eth_blockNumber"] = lambda p: 12
        with pytest.raises(RpcResponseError, match="hex quantity"):
            await rpc.block_number()


async def test_http_5xx_is_unavailable(node):
    async with RpcClient(node.url) as rpc:
        node.raw = lambda body: (502, b"bad gateway")
        with pytest.raises(RpcUnavailableError, match="502"):
            await rpc.block_number()


async def test_truncated_body():
    srv, url = await truncating_server(200, b'{"jsonrpc":"2.0","id":1,"res')
    try:
        rpc = RpcClient(url)
        rpc._session = None
        with pytest.raises(RpcResponseError, match="truncated"):
            await rpc.connect()
    finally:
        await rpc.close()
        srv.close()
        await srv.wait_closed()


async def test_refused_is_unavailable():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    rpc = RpcClient(f"http://127.0.0.1:{port}/", timeout=2)
    with pytest.raises(RpcUnavailableError):
        await rpc.connect()
    await rpc.close()


async def test_timeout_is_unavailable(node):
    async with RpcClient(node.url, timeout=0.3) as rpc:
        node.delay = 2.0
        with pytest.raises(RpcUnavailableError):
            await rpc.block_number()


async def test_chain_id_mismatch(node):
    rpc = RpcClient(node.url, expected_chain_id=31337001)
    with pytest.raises(ChainIdMismatchError, match="31337001"):
        await rpc.connect()


async def test_cancelled_caller_does_not_strand_others(node):
    async with RpcClient(node.url) as rpc:
        node.delay = 0.2
        first = asyncio.ensure_future(rpc.call("echo", [0]))
        await asyncio.sleep(0)  # let `first` become the drainer and post
        others = [asyncio.ensure_future(rpc.call("echo", [i])) for i in range(1, 4)]
        await asyncio.sleep(0.05)
        first.cancel()
        res = await asyncio.wait_for(asyncio.gather(*others), 5)
        assert res == [[1], [2], [3]]


def test_bad_config():
    with pytest.raises(ValidationError) as e:
        RpcClient("ftp://x")
    assert e.value.field == "rpc.url"
    with pytest.raises(ValidationError) as e:
        RpcClient("http://x", connections=0)
    assert e.value.field == "rpc.connections"
    with pytest.raises(ValidationError) as e:
        RpcClient("http://x", max_batch=0)
    assert e.value.field == "rpc.max_batch"
