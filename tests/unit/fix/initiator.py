"""A minimal FIX 4.4 initiator for the tests, written against simplefix alone (it shares no
code with the acceptor): real TCP, its own sequence numbers, its own parsing."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

import simplefix


def _now() -> str:
    t = dt.datetime.now(dt.UTC)
    return t.strftime("%Y%m%d-%H:%M:%S.") + f"{t.microsecond // 1000:03d}"


class Initiator:
    def __init__(self, port: int, sender: str = "DESK", target: str = "AGENT") -> None:
        self.port, self.sender, self.target = port, sender, target
        self.seq = 1  # next outbound
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.parser = simplefix.FixParser()
        self.received: list[simplefix.FixMessage] = []

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.parser = simplefix.FixParser()

    def build(
        self,
        msg_type: str,
        fields: list[tuple[int, object]],
        *,
        seq: int | None = None,
        poss_dup: bool = False,
        header: list[tuple[int, object]] = (),
    ) -> bytes:
        m = simplefix.FixMessage()
        m.append_pair(8, "FIX.4.4", header=True)
        m.append_pair(35, msg_type, header=True)
        m.append_pair(49, self.sender, header=True)
        m.append_pair(56, self.target, header=True)
        if seq is not False:
            m.append_pair(34, self.seq if seq is None else seq, header=True)
        if poss_dup:
            m.append_pair(43, "Y", header=True)
            m.append_pair(122, _now(), header=True)
        m.append_pair(52, _now(), header=True)
        for t, v in header:
            m.append_pair(t, v, header=True)
        for t, v in fields:
            m.append_pair(t, v)
        return m.encode()

    async def send(self, msg_type: str, fields: list[tuple[int, object]] = (), **kw) -> bytes:
        raw = self.build(msg_type, list(fields), **kw)
        await self.send_raw(raw)
        if kw.get("seq") is None:
            self.seq += 1
        return raw

    async def send_raw(self, raw: bytes) -> None:
        assert self.writer is not None
        self.writer.write(raw)
        await self.writer.drain()

    async def logon(
        self, password: str = "secret", hb: int = 30, reset: bool = False
    ) -> simplefix.FixMessage:
        fields: list[tuple[int, object]] = [(98, 0), (108, hb), (553, "desk"), (554, password)]
        if reset:
            fields.append((141, "Y"))
            self.seq = 1
        await self.send("A", fields)
        return await self.expect("A")

    async def recv(self, timeout: float = 10) -> simplefix.FixMessage | None:
        """The next message, or None when the acceptor closed the connection."""
        assert self.reader is not None
        while True:
            m = self.parser.get_message()
            if m is not None:
                self.received.append(m)
                return m
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                return None
            self.parser.append_buffer(data)

    async def expect(self, msg_type: str, skip: tuple[str, ...] = ("0",)) -> simplefix.FixMessage:
        """The next message of ``msg_type`` (heartbeats skipped); fails on anything else."""
        while True:
            m = await self.recv()
            assert m is not None, f"connection closed while waiting for {msg_type!r}"
            t = m.get(35).decode()
            if t in skip and t != msg_type:
                continue
            assert t == msg_type, f"expected {msg_type!r}, got {m}"
            return m

    async def closed(self) -> bool:
        """True once the acceptor closed the connection (anything received first is kept)."""
        while True:
            m = await self.recv()
            if m is None:
                return True

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError):
                await self.writer.wait_closed()


def get(m: simplefix.FixMessage, tag: int) -> str | None:
    v = m.get(tag)
    return None if v is None else v.decode()
