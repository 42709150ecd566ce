"""The JSON-RPC client's transport: HTTP/1.1 POSTs on keep-alive connections, nothing else.

aiohttp's client spends ~0.2-0.3 ms of Python per request building and parsing what a
JSON-RPC post never uses (cookies, redirects, multidicts, tracing hooks): on loopback that
was ~4x the round trip itself (anvil answers eth_chainId in ~30 us; the co-signer makes two
such posts per signature). This speaks exactly the HTTP a node answers with: a POST with a
Content-Length body; an answer with Content-Length, chunked, or read-to-close body.

* ``limit`` connections at most (a post waits for a free one, as aiohttp's connector
  limit did); an idle connection is reused unless the server closed it or it idled past
  ``idle_seconds``; a connection whose answer was not read to the end (cancelled caller,
  timeout, broken answer) is closed, never reused.
* Failures are the client's types: :class:`ConnectError` (nothing was sent or no answer
  came: refused, reset, closed before the status line) and :class:`TruncatedError` (the
  answer stopped inside its body). The caller (agent.chain.rpc) maps them, and timeouts,
  to RpcUnavailableError / RpcResponseError. Nothing is retried: a post may have reached
  the node (a raw transaction), and whether to resend is the caller's call.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from urllib.parse import urlsplit

_MAX_HEAD = 64 * 1024  # status line + headers


class ConnectError(OSError):
    """No answer: the connection failed, or closed before an HTTP status line."""


class TruncatedError(Exception):
    """The answer ended inside its body (a Content-Length it did not keep, a cut chunk)."""


class _Conn:
    __slots__ = ("reader", "used", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.used = reader, writer, time.monotonic()

    def alive(self, idle_seconds: float) -> bool:
        return (
            not self.writer.is_closing()
            and not self.reader.at_eof()
            and time.monotonic() - self.used < idle_seconds
        )

    def close(self) -> None:
        self.writer.close()


class HttpPool:
    """``await pool.post(body) -> (status, body bytes)`` to one URL."""

    def __init__(self, url: str, *, limit: int = 1, idle_seconds: float = 15.0) -> None:
        u = urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"{url!r} is not an http(s) URL")
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.ssl: ssl.SSLContext | None = (
            ssl.create_default_context() if u.scheme == "https" else None
        )
        path = (u.path or "/") + (f"?{u.query}" if u.query else "")
        default = (u.scheme == "http" and self.port == 80) or (
            u.scheme == "https" and self.port == 443
        )
        name = f"[{u.hostname}]" if ":" in u.hostname else u.hostname  # an IPv6 literal
        hostport = name if default else f"{name}:{self.port}"
        self._head = (
            f"POST {path} HTTP/1.1\r\nHost: {hostport}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\n"
            "Content-Length: "
        ).encode("latin-1")
        self._idle: list[_Conn] = []
        self._slots = asyncio.Semaphore(limit)
        self._all: set[_Conn] = set()
        self.idle_seconds = idle_seconds
        self.closed = False

    async def _connect(self) -> _Conn:
        try:
            reader, writer = await asyncio.open_connection(
                self.host, self.port, ssl=self.ssl, limit=_MAX_HEAD
            )
        except OSError as e:
            raise ConnectError(f"cannot connect to {self.host}:{self.port} ({e})") from e
        sock = writer.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = _Conn(reader, writer)
        self._all.add(c)
        return c

    def _drop(self, c: _Conn) -> None:
        self._all.discard(c)
        c.close()

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self.closed:
            raise ConnectError("the client is closed")
        async with self._slots:
            c = None
            while self._idle:
                cand = self._idle.pop()
                if cand.alive(self.idle_seconds):
                    c = cand
                    break
                self._drop(cand)
            if c is None:
                c = await self._connect()
            done = False
            try:
                c.writer.write(self._head + str(len(body)).encode() + b"\r\n\r\n" + body)
                status, data, keep = await self._answer(c.reader)
                done = True
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
                if isinstance(e, asyncio.IncompleteReadError) and e.partial:
                    raise ConnectError(f"the answer ended inside its headers ({e})") from e
                raise ConnectError(f"connection lost before the answer ({e!r})") from e
            except OSError as e:
                raise ConnectError(f"connection failed ({e})") from e
            finally:
                if done and keep and not self.closed:
                    c.used = time.monotonic()
                    self._idle.append(c)
                else:
                    self._drop(c)
            return status, data

    async def _answer(self, r: asyncio.StreamReader) -> tuple[int, bytes, bool]:
        head = await r.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ConnectError(f"not an HTTP answer: {lines[0][:80]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for ln in lines[1:]:
            k, sep, v = ln.partition(":")
            if sep:
                headers[k.strip().lower()] = v.strip()
        conn = headers.get("connection", "").lower()
        keep = "close" not in conn and (parts[0] != "HTTP/1.0" or "keep-alive" in conn)
        if status in (204, 304) or 100 <= status < 200:
            return status, b"", keep
        try:
            if "chunked" in headers.get("transfer-encoding", "").lower():
                return status, await _chunked(r), keep
            n = headers.get("content-length")
            if n is not None:
                if not n.isdigit():
                    raise TruncatedError(f"Content-Length {n!r} is not a length")
                return status, await r.readexactly(int(n)), keep
        except asyncio.IncompleteReadError as e:
            raise TruncatedError(
                f"the body ended after {len(e.partial)} of {e.expected} bytes"
            ) from None
        return status, await r.read(), False  # no length: the body runs to the close

    async def close(self) -> None:
        self.closed = True
        for c in list(self._all):
            self._drop(c)
        self._idle.clear()


async def _chunked(r: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        line = await r.readuntil(b"\r\n")
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise TruncatedError(f"bad chunk size {size_text[:20]!r}") from None
        if size == 0:
            while (await r.readuntil(b"\r\n")) != b"\r\n":  # trailers, then the blank line
                pass
            return bytes(out)
        out += await r.readexactly(size + 2)
        del out[-2:]
