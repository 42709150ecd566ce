"""A programmable JSON-RPC node on loopback for unit tests of the client (real HTTP, no chain)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

Handler = Callable[[dict[str, Any]], Any]


class FakeNode:
    """Answers each JSON-RPC call with ``methods[name](params)``; ``raw(body)`` may override
    the whole HTTP answer (bytes or (status, bytes)) to simulate broken nodes, or return None
    to answer normally."""

    def __init__(self) -> None:
        self.methods: dict[str, Callable[[list[Any]], Any]] = {"eth_chainId": lambda p: "0x1"}
        self.raw: Callable[[bytes], Any] | None = None
        self.posts: list[Any] = []
        self.delay = 0.0
        self.active = 0  # requests being answered right now
        self.max_active = 0  # the most answered at once (parallel connections)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def _one(self, req: dict[str, Any]) -> dict[str, Any]:
        fn = self.methods.get(req["method"])
        if fn is None:
            return {
                "jsonrpc": "2.0",
                "id": req["id"],
                "error": {"code": -32601, "message": "method not found"},
            }
        try:
            return {"jsonrpc": "2.0", "id": req["id"], "result": fn(req["params"])}
        except NodeError as e:
            return {
                "jsonrpc": "2.0",
                "id": req["id"],
                "error": {"code": e.code, "message": e.message},
            }

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        payload = json.loads(body)
        self.posts.append(payload)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)  # simulates a slow node (timeouts), not sync
        finally:
            self.active -= 1
        r = self.raw(body) if self.raw is not None else None
        if r is not None:  # None: answer normally
            status, data = r if isinstance(r, tuple) else (200, r)
            return web.Response(status=status, body=data, content_type="application/json")
        out = [self._one(p) for p in payload] if isinstance(payload, list) else self._one(payload)
        return web.json_response(out)

    async def start(self) -> FakeNode:
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/"
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()


class NodeError(Exception):
    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.message = message


async def truncating_server(declared: int, body: bytes) -> tuple[asyncio.Server, str]:
    """A raw HTTP server that promises ``declared`` bytes, sends ``body`` and hangs up."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {declared}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    return srv, f"http://127.0.0.1:{port}/"
