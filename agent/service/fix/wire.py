"""FIX 4.4 on the wire: framing and the two checks a receiver makes before parsing.

simplefix builds and parses the tag=value fields; it does not check a received message's
BodyLength(9) or CheckSum(10), so ``Framer`` does: a message whose BodyLength does not end
exactly before ``10=`` or whose CheckSum differs is *garbled*, and the spec's answer to a
garbled message is to drop it without consuming its sequence number (the gap it leaves is
then filled by a ResendRequest), never to Reject it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import simplefix

SOH = b"\x01"
BEGIN = b"8=FIX.4.4\x01"
MAX_BODY = 1 << 20  # a BodyLength beyond this is garbage, not a message to wait for


@dataclass(frozen=True, slots=True)
class Garbled:
    """A frame dropped before parsing, and why (logged, not answered)."""

    reason: str
    raw: bytes


class Framer:
    """Bytes in, whole messages (``simplefix.FixMessage``) or ``Garbled`` frames out."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[simplefix.FixMessage | Garbled]:
        self._buf += data
        out: list[simplefix.FixMessage | Garbled] = []
        while True:
            item = self._next()
            if item is None:
                return out
            out.append(item)

    def _next(self) -> simplefix.FixMessage | Garbled | None:
        buf = self._buf
        start = buf.find(b"8=")
        if start < 0:
            keep = 1 if buf.endswith(b"8") else 0  # maybe the start of the next "8="
            junk = bytes(buf[: len(buf) - keep])
            del buf[: len(buf) - keep]
            return Garbled("no BeginString", junk) if junk.strip(SOH) else None
        if start > 0:  # bytes before a message: garbage
            junk = bytes(buf[:start])
            del buf[:start]
            return Garbled("bytes before BeginString", junk) if junk.strip(SOH) else self._next()
        if len(buf) < len(BEGIN):
            return (
                None
                if BEGIN.startswith(bytes(buf))
                else self._drop(self._resync(1), "BeginString is not FIX.4.4")
            )
        if not buf.startswith(BEGIN):
            return self._drop(self._resync(1), "BeginString is not FIX.4.4")
        p9 = len(BEGIN)
        if len(buf) < p9 + 2:
            return None
        if not buf.startswith(b"9=", p9):
            return self._drop(self._resync(1), "BodyLength(9) is not the second field")
        soh9 = buf.find(SOH, p9)
        if soh9 < 0:
            return None if len(buf) - p9 < 12 else self._drop(self._resync(1), "bad BodyLength")
        try:
            body_len = int(bytes(buf[p9 + 2 : soh9]))
        except ValueError:
            return self._drop(self._resync(1), "BodyLength(9) is not a number")
        if body_len <= 0 or body_len > MAX_BODY:
            return self._drop(self._resync(1), f"BodyLength(9)={body_len} is out of range")
        body_start = soh9 + 1
        trailer = body_start + body_len
        if len(buf) < trailer + 7:
            # wait for the rest, unless a new message clearly started inside what we have
            nxt = buf.find(b"\x018=FIX", body_start)
            if nxt >= 0 and buf.find(b"\x0110=", body_start, nxt + 1) >= 0:
                return self._drop(nxt + 1, "BodyLength(9) is longer than the message")
            return None
        if not buf.startswith(b"10=", trailer) or buf[trailer + 6 : trailer + 7] != SOH:
            # BodyLength does not end where CheckSum starts: drop up to the next message
            return self._drop(
                self._resync(1), f"BodyLength(9)={body_len} does not end at CheckSum(10)"
            )
        frame = bytes(buf[: trailer + 7])
        del buf[: trailer + 7]
        want = sum(frame[:trailer]) % 256
        try:
            got = int(frame[trailer + 3 : trailer + 6])
        except ValueError:
            return Garbled("CheckSum(10) is not a number", frame)
        if got != want:
            return Garbled(f"CheckSum(10)={got:03d}, computed {want:03d}", frame)
        parser = simplefix.FixParser()
        parser.append_buffer(frame)
        msg = parser.get_message()
        if msg is None:  # cannot happen for a frame that passed both checks
            return Garbled("unparseable", frame)
        return msg

    def _resync(self, after: int) -> int:
        """Where the next message may start (after a garbled one), or the buffer's end."""
        nxt = self._buf.find(b"8=FIX", after)
        return nxt if nxt >= 0 else len(self._buf)

    def _drop(self, upto: int, reason: str) -> Garbled:
        junk = bytes(self._buf[:upto])
        del self._buf[:upto]
        return Garbled(reason, junk)


def utc_timestamp(now: dt.datetime | None = None) -> str:
    t = now or dt.datetime.now(dt.UTC)
    return t.strftime("%Y%m%d-%H:%M:%S.") + f"{t.microsecond // 1000:03d}"


def build(
    msg_type: str,
    sender: str,
    target: str,
    seq: int,
    fields: list[tuple[int, str]],
    *,
    poss_dup: bool = False,
    orig_sending_time: str = "",
    sending_time: str = "",
) -> bytes:
    """One encoded message: standard header, ``fields`` in order, BodyLength and CheckSum
    computed by simplefix."""
    m = simplefix.FixMessage()
    m.append_pair(8, "FIX.4.4", header=True)
    m.append_pair(35, msg_type, header=True)
    m.append_pair(49, sender, header=True)
    m.append_pair(56, target, header=True)
    m.append_pair(34, seq, header=True)
    if poss_dup:
        m.append_pair(43, "Y", header=True)
    m.append_pair(52, sending_time or utc_timestamp(), header=True)
    if orig_sending_time:
        m.append_pair(122, orig_sending_time, header=True)
    for tag, value in fields:
        m.append_pair(tag, value)
    return m.encode()


def text(msg: simplefix.FixMessage, tag: int) -> str | None:
    v = msg.get(tag)
    return None if v is None else v.decode("latin-1")


def fields_of(raw: bytes) -> list[tuple[int, bytes]]:
    """(tag, value) pairs of an encoded message, in order."""
    out = []
    for part in raw.split(SOH):
        if part:
            t, _, v = part.partition(b"=")
            out.append((int(t), v))
    return out
