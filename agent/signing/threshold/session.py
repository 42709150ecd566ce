"""Driving a protocol state machine over one TCP stream, with the abort rules both sides share.

A step that fails locally (a malformed message, a proof that does not verify, a refusal by
party 2's own checks) sends the peer an ``abort`` frame with the code and reason before the
error is raised, so both sides report the same thing; a peer that aborts, hangs up or goes
silent raises TssAbortedError. Nothing is retried inside a session: a new session starts
from fresh randomness.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from agent.errors import AgentError
from agent.signing.threshold import wire
from agent.signing.threshold.errors import ThresholdError, TssAbortedError

T = TypeVar("T")


async def step(writer: asyncio.StreamWriter, fn: Callable[[], T], *, peer_dead: bool = False) -> T:
    """Run one local protocol step; on an AgentError tell the peer why, then re-raise."""
    try:
        return fn()
    except TssAbortedError:
        raise
    except AgentError as e:
        if not peer_dead:
            await tell_abort(writer, e)
        raise
    except Exception as e:  # a bug in a step must not leave the peer waiting
        err = ThresholdError(f"internal error in a protocol step ({type(e).__name__}: {e})")
        await tell_abort(writer, err)
        raise err from e


async def tell_abort(writer: asyncio.StreamWriter, e: AgentError) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(wire.send(writer, wire.abort_msg(e.code, e.message[:500])), 2)


async def exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    msg: dict[str, Any],
    *,
    timeout: float = wire.READ_TIMEOUT,
) -> dict[str, Any]:
    """Send ``msg``, return the peer's answer."""
    try:
        await wire.send(writer, msg)
    except (ConnectionError, OSError) as e:
        raise TssAbortedError(f"the peer closed the connection ({type(e).__name__})") from e
    return await wire.recv(reader, timeout=timeout)


async def close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), 1)


async def connect(host: str, port: int, timeout: float) -> tuple[Any, Any]:
    from agent.signing.errors import SignerUnavailableError

    try:
        return await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (TimeoutError, OSError) as e:
        raise SignerUnavailableError(
            f"signer party at {host}:{port} is unreachable ({type(e).__name__}: {e}); "
            "start it with `agent signer serve` or fix --peer"
        ) from e


Runner = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[T]]
