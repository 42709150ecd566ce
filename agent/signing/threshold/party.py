"""The two parties as processes: the key-generation ceremony over TCP, party 2's signing
service, and party 1's client side (agent.signing.threshold.signer uses it).

Party 2 listens, party 1 connects: the agent (party 1, which receives signatures) reaches
out to the signer service (party 2), like a client to an HSM. A connection carries one
session at a time; a failed session closes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.errors import AgentError
from agent.signing.threshold import wire
from agent.signing.threshold.errors import TssAbortedError, TssShareError
from agent.signing.threshold.keygen import KeygenP1, KeygenP2
from agent.signing.threshold.paillier import FixedBase, NoisePool
from agent.signing.threshold.session import close, connect, exchange, step, tell_abort
from agent.signing.threshold.share import P1Share, P2Share, write_share
from agent.signing.threshold.sign import Approve, SignP1, SignP2

log = logging.getLogger("agent.signing.threshold")


def _check_new(path: Path) -> None:
    """Refuse before the ceremony, not after it, to write over an existing file."""
    if path.exists():
        raise TssShareError(
            f"share file {path} already exists; it may hold a live key share: choose another "
            "path (nothing was overwritten)"
        )
    if not path.parent.is_dir():
        raise TssShareError(f"share file {path}: folder {path.parent} does not exist")


# --- key generation ---------------------------------------------------------------------------
async def keygen_p1(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    out: Path | None,
    *,
    party: KeygenP1 | None = None,
    password: str | None = None,
) -> P1Share:
    """Party 1's side of the ceremony on an open stream; writes ``out`` only on success."""
    if out is not None:
        _check_new(out)
    p1 = party or await asyncio.to_thread(KeygenP1)  # Paillier key: ~0.1-1 s of primes
    m = await exchange(reader, writer, p1.kg1())
    m = await exchange(reader, writer, await step(writer, lambda: p1.on_kg2(m)))
    m = await exchange(reader, writer, await step(writer, lambda: p1.on_kg4(m)))
    m = await exchange(reader, writer, await step(writer, lambda: p1.on_kg6(m)))
    share = await step(writer, lambda: p1.on_kg8(m))
    if out is not None:
        write_share(share, out, password=password)
    return share


async def keygen_p2(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    out: Path | None,
    *,
    password: str | None = None,
) -> P2Share:
    """Party 2's side of the ceremony on an open stream; writes ``out`` before telling party 1
    the joint key (so party 1 never holds a share whose partner was lost)."""
    if out is not None:
        _check_new(out)
    p2 = KeygenP2()
    m = await wire.recv(reader)
    m = await exchange(reader, writer, await step(writer, lambda: p2.on_kg1(m)))
    m = await exchange(reader, writer, await step(writer, lambda: p2.on_kg3(m)))
    m = await exchange(reader, writer, await step(writer, lambda: p2.on_kg5(m)))
    share, done = await step(writer, lambda: p2.on_kg7(m))
    if out is not None:
        write_share(share, out, password=password)
    await wire.send(writer, done)
    return share


async def run_keygen_p1(
    host: str, port: int, out: Path | None, *, timeout: float = 10, password: str | None = None
) -> P1Share:
    reader, writer = await connect(host, port, timeout)
    try:
        return await keygen_p1(reader, writer, out, password=password)
    finally:
        await close(writer)


async def run_keygen_p2(
    host: str,
    port: int,
    out: Path | None,
    *,
    on_listen: Callable[[int], None] | None = None,
    password: str | None = None,
) -> P2Share:
    """Listen on (host, port), run the ceremony with the first party 1 that connects."""
    if out is not None:
        _check_new(out)
    done: asyncio.Future[P2Share] = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if done.done():  # one ceremony per listener
            await close(writer)
            return
        try:
            done.set_result(await keygen_p2(reader, writer, out, password=password))
        except BaseException as e:
            if not done.done():
                done.set_exception(e)
        finally:
            await close(writer)

    server = await asyncio.start_server(handle, host, port)
    try:
        if on_listen is not None:
            on_listen(server.sockets[0].getsockname()[1])
        return await done
    finally:
        server.close()


# --- signing ----------------------------------------------------------------------------------
async def sign_p1(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, share: P1Share, payload: Any
) -> tuple[int, int, int]:
    p1 = SignP1(share, payload)
    m = await exchange(reader, writer, p1.sg1())
    m = await exchange(reader, writer, await step(writer, lambda: p1.on_sg2(m)))
    return await step(writer, lambda: p1.on_sg4(m))


class SignerService:
    """Party 2: holds x2 and signs with any party 1 that completes the protocol.

    ``approve(payload)`` (optional) sees every decoded transaction or typed message before
    party 2 takes part, and refuses by raising an AgentError; its code reaches party 1 in
    the abort. A caller without share 1 learns nothing from a session (Lindell's security
    against a malicious party 1) and cannot decrypt c3, so gets no signature."""

    def __init__(self, share: P2Share, *, approve: Approve | None = None, pool: int = 4) -> None:
        self.share = share
        self.approve = approve
        self.noise = NoisePool(share.paillier, pool)
        self.ckey_pow = FixedBase(share.ckey, int(share.paillier.nn))
        self._tasks: set[asyncio.Task[Any]] = set()
        self.signed = 0
        self.refused = 0
        self.server: asyncio.base_events.Server | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self.noise.refill()
        self.server = await asyncio.start_server(self._conn, host, port)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for t in list(self._tasks):  # idle keep-alive connections
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._serve_conn(reader, writer)
        except asyncio.CancelledError:  # stop(): end quietly, the stream is closed below
            pass
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            writer.close()

    async def _serve_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:  # idle connections may wait for the next request indefinitely
                    first = await wire.recv(reader, timeout=24 * 3600)
                except TssAbortedError:
                    return
                except AgentError as e:  # a malformed first frame
                    self.refused += 1
                    await tell_abort(writer, e)
                    return
                try:
                    await self._session(reader, writer, first)
                    self.signed += 1
                except Exception as e:  # the session is over; report it and drop the stream
                    self.refused += 1
                    log.warning("threshold signing session refused: %s", e)
                    return
                finally:
                    # offline phase: next session's Paillier noise, between sessions
                    self.noise.refill(limit=1)
        finally:
            await close(writer)

    async def _session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, first: dict[str, Any]
    ) -> None:
        p2 = SignP2(self.share, self.approve, self.noise, self.ckey_pow)
        m = await exchange(reader, writer, await step(writer, lambda: p2.on_sg1(first)))
        await wire.send(writer, await step(writer, lambda: p2.on_sg3(m)))
        log.info("co-signed %s for %s", type(p2.payload).__name__, self.share.address)
