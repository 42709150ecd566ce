"""Messages between the two parties: length-prefixed JSON frames over a TCP stream, and
field readers that turn anything malformed into TssBadMessageError naming the field.

Integers travel as hex strings (Paillier numbers have thousands of bits), points as 33-byte
compressed hex. Every read has a timeout and every frame a size limit, so a peer that stalls
or floods ends the session with a code instead of hanging or exhausting memory.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from agent.signing.threshold import ec
from agent.signing.threshold.errors import TssAbortedError, TssBadMessageError

MAX_FRAME = 1 << 20  # the largest honest message (range-proof pairs) is about 90 KB
READ_TIMEOUT = 30.0  # keygen's slowest step (range-proof verification) takes well under this


async def send(writer: asyncio.StreamWriter, msg: dict[str, Any]) -> None:
    body = orjson.dumps(msg)
    writer.write(len(body).to_bytes(4, "big") + body)
    await writer.drain()


async def recv(reader: asyncio.StreamReader, *, timeout: float = READ_TIMEOUT) -> dict[str, Any]:
    """The next frame; an ``abort`` from the peer raises TssAbortedError with its code."""
    try:
        head = await asyncio.wait_for(reader.readexactly(4), timeout)
        n = int.from_bytes(head, "big")
        if n > MAX_FRAME:
            raise TssBadMessageError(f"frame of {n} bytes exceeds {MAX_FRAME}; refused")
        body = await asyncio.wait_for(reader.readexactly(n), timeout)
    except TimeoutError as e:
        raise TssAbortedError(f"the peer sent nothing for {timeout:g}s; session aborted") from e
    except (asyncio.IncompleteReadError, ConnectionError) as e:
        raise TssAbortedError("the peer closed the connection mid-protocol") from e
    try:
        msg = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise TssBadMessageError("frame is not JSON") from e
    if not isinstance(msg, dict):
        raise TssBadMessageError("frame is not a JSON object")
    if msg.get("t") == "abort":
        code, reason = str(msg.get("code", "?"))[:64], str(msg.get("reason", ""))[:500]
        raise TssAbortedError(f"the peer aborted: [{code}] {reason}", peer_code=code)
    return msg


def abort_msg(code: str, reason: str) -> dict[str, Any]:
    return {"t": "abort", "code": code, "reason": reason}


# --- field readers -----------------------------------------------------------------------------
def expect(msg: dict[str, Any], t: str) -> dict[str, Any]:
    if msg.get("t") != t:
        raise TssBadMessageError(f"t: expected message {t!r}, got {str(msg.get('t'))[:32]!r}")
    return msg


def hx(x: int) -> str:
    return hex(int(x))


def get_int(msg: dict[str, Any], field: str, lo: int, hi: int) -> int:
    """An integer in [lo, hi)."""
    return as_int(msg.get(field), field, lo, hi)


def as_int(v: Any, field: str, lo: int, hi: int) -> int:
    if v is None:
        raise TssBadMessageError(f"{field}: missing")
    if not isinstance(v, str) or not v.startswith("0x") or len(v) > 2 + 2 * 1100:
        raise TssBadMessageError(f"{field}: not a hex integer")
    try:
        x = int(v, 16)
    except ValueError as e:
        raise TssBadMessageError(f"{field}: not a hex integer") from e
    if not lo <= x < hi:
        raise TssBadMessageError(f"{field}: out of range")
    return x


def get_bytes(msg: dict[str, Any], field: str, n: int) -> bytes:
    v = msg.get(field)
    try:
        b = bytes.fromhex(v) if isinstance(v, str) else b""
    except ValueError:
        b = b""
    if len(b) != n:
        raise TssBadMessageError(f"{field}: not {n} bytes of hex")
    return b


def get_point(msg: dict[str, Any], field: str) -> ec.Point:
    b = get_bytes(msg, field, 33)
    try:
        return ec.dec(b)
    except ValueError as e:
        raise TssBadMessageError(f"{field}: not a point on secp256k1") from e


def get_list(msg: dict[str, Any], field: str, n: int) -> list[Any]:
    v = msg.get(field)
    if not isinstance(v, list) or len(v) != n:
        raise TssBadMessageError(f"{field}: not a list of {n}")
    return v


def get_obj(msg: dict[str, Any], field: str) -> dict[str, Any]:
    v = msg.get(field)
    if not isinstance(v, dict):
        raise TssBadMessageError(f"{field}: not an object")
    return v
