"""The JSON-RPC transport against raw HTTP servers on loopback: Content-Length, chunked and
read-to-close answers; keep-alive reuse, a server that closes (per answer, or idle), a
cancelled post never leaves its connection for the next one; refused and cut answers are
typed."""

from __future__ import annotations

import asyncio
import socket

import pytest

from agent.chain.rpc import RpcClient
from agent.chain.rpc_http import ConnectError, HttpPool, TruncatedError
from agent.errors import RpcUnavailableError


class Raw:
    """A loopback server answering each request with ``answer(body) -> bytes``;
    ``close_after`` closes the connection after each answer; counts connections."""

    def __init__(self, answer, close_after: bool = False) -> None:  # type: ignore[no-untyped-def]
        self.answer, self.close_after = answer, close_after
        self.connections = 0
        self.bodies: list[bytes] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.gate: asyncio.Event | None = None  # set: hold answers until it is set

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                n = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                body = await reader.readexactly(n)
                self.bodies.append(body)
                if self.gate is not None:
                    await self.gate.wait()
                writer.write(self.answer(body))
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def start(self) -> str:
        self.srv = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.srv.sockets[0].getsockname()[1]}/rpc"

    async def stop(self) -> None:
        for w in self.writers:
            w.close()
        self.srv.close()
        await self.srv.wait_closed()


def length(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\n" + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body


def chunked(body: bytes) -> bytes:
    a, b = body[:5], body[5:]
    return (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n" % (len(a), a)
        + b"%x;ext=1\r\n%s\r\n" % (len(b), b)
        + b"0\r\nX-Trailer: t\r\n\r\n"
    )


async def test_length_and_chunked_answers_reuse_one_connection():
    srv = Raw(lambda body: (chunked if b"chunk" in body else length)(b"<" + body + b">"))
    pool = HttpPool(await srv.start())
    try:
        assert await pool.post(b"plain") == (200, b"<plain>")
        assert await pool.post(b"chunked please") == (200, b"<chunked please>")
        assert await pool.post(b"again") == (200, b"<again>")
        assert srv.connections == 1  # keep-alive
    finally:
        await pool.close()
        await srv.stop()


async def test_a_server_that_closes_gets_a_new_connection_each_time():
    srv = Raw(lambda body: length(body, b"Connection: close\r\n"), close_after=True)
    pool = HttpPool(await srv.start())
    try:
        for i in range(3):
            assert await pool.post(b"%d" % i) == (200, b"%d" % i)
        assert srv.connections == 3
    finally:
        await pool.close()
        await srv.stop()


async def test_an_idle_connection_the_server_closed_is_not_reused():
    srv = Raw(length, close_after=True)  # closes without saying so (idle timeout)
    pool = HttpPool(await srv.start())
    try:
        assert await pool.post(b"a") == (200, b"a")
        (idle,) = pool._idle
        for _ in range(1000):  # until the server's FIN reaches the idle connection
            if idle.reader.at_eof():
                break
            await asyncio.sleep(0.001)
        assert idle.reader.at_eof()
        assert await pool.post(b"b") == (200, b"b")
        assert srv.connections == 2
    finally:
        await pool.close()
        await srv.stop()


async def test_read_to_close_body_and_a_cut_body():
    srv = Raw(lambda body: b"HTTP/1.1 200 OK\r\n\r\n" + body, close_after=True)
    pool = HttpPool(await srv.start())
    try:
        assert await pool.post(b"until close") == (200, b"until close")
    finally:
        await pool.close()
        await srv.stop()
    srv = Raw(lambda body: b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nshort", close_after=True)
    pool = HttpPool(await srv.start())
    try:
        with pytest.raises(TruncatedError, match="5 of 99"):
            await pool.post(b"x")
    finally:
        await pool.close()
        await srv.stop()


async def test_a_cancelled_post_does_not_leave_its_answer_to_the_next():
    srv = Raw(length)
    srv.gate = asyncio.Event()
    pool = HttpPool(await srv.start())
    try:
        first = asyncio.ensure_future(pool.post(b"first"))
        while not srv.bodies:
            await asyncio.sleep(0.01)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        srv.gate.set()  # the first answer now arrives, on a connection nobody reads
        assert await pool.post(b"second") == (200, b"second")
        assert srv.connections == 2
    finally:
        await pool.close()
        await srv.stop()


async def test_refused_and_not_http():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(ConnectError):
        await HttpPool(f"http://127.0.0.1:{port}/").post(b"x")
    srv = Raw(lambda body: b"SSH-2.0-OpenSSH\r\n\r\n", close_after=True)
    pool = HttpPool(await srv.start())
    try:
        with pytest.raises(ConnectError, match="not an HTTP answer"):
            await pool.post(b"x")
    finally:
        await pool.close()
        await srv.stop()


async def test_the_client_over_a_chunked_node():
    def answer(body: bytes) -> bytes:
        return chunked(b'{"jsonrpc":"2.0","id":1,"result":"0x2a"}')

    srv = Raw(answer)
    url = await srv.start()
    try:
        async with RpcClient(url) as rpc:
            assert rpc.chain_id == 42
            assert srv.bodies[0].startswith(b'{"jsonrpc":"2.0"')
        with pytest.raises(RpcUnavailableError, match="not connected"):
            await rpc.call("eth_chainId")
    finally:
        await srv.stop()
