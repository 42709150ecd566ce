"""The hash chain: ``hash[n] = sha256(hash[n-1] || record_bytes[n])``.

``record_bytes`` is the canonical JSON array ``[stream, version, type, recorded_at_ns, data]``
where ``data`` is already canonical JSON. The position is not hashed: the chain itself fixes
the order, which is what lets ``verify`` tell an edited record (its own hash is wrong) from a
reordered one (intact, but chained to a different predecessor).
"""

from __future__ import annotations

import hashlib
import hmac as _hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from json.encoder import (
    encode_basestring as _dumps,
)  # C; same text as json.dumps(ensure_ascii=False)
from typing import Any

from agent.journal.base import TamperFinding, TamperKind

GENESIS = bytes(32)
_sha256 = hashlib.sha256


def record_bytes(stream: str, version: int, type_: str, recorded_at_ns: int, data: str) -> bytes:
    return f"[{_dumps(stream)},{version},{_dumps(type_)},{recorded_at_ns},{data}]".encode()


def chain_hash(prev: bytes, stream: str, version: int, type_: str, ts: int, data: str) -> bytes:
    return _sha256(
        prev + f"[{_dumps(stream)},{version},{_dumps(type_)},{ts},{data}]".encode()
    ).digest()


# --- verification, shared by every store (SQLite, PostgreSQL) --------------------------------
# A store feeds its rows, in position order, to a ChainWalk; the walk names the first problem.
# The incremental verify starts the walk at a CHECKPOINT (position, hash) instead of at #1: the
# hash at the checkpoint commits to every record before it, so the records after it are all
# that must be re-hashed. The checkpoint is MAC'd with a key the journal file does not hold
# (derived from the operator's key), so whoever edits the file cannot move it back over the
# records they delete or rewrite.

CHECKPOINT_DOMAIN = b"agent.journal.checkpoint.v1"


def checkpoint_key(secret: bytes) -> bytes:
    """The MAC key for checkpoints, derived from a secret (the operator key): HMAC as a KDF
    with a fixed domain, so the checkpoint MAC never equals anything else made with that key."""
    return _hmac.new(secret, CHECKPOINT_DOMAIN, _sha256).digest()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The last record known good: its position and hash, and the MAC over both (and the
    journal's id, so a checkpoint of another journal does not fit this one)."""

    position: int
    hash: bytes
    mac: bytes

    @staticmethod
    def make(key: bytes, journal_id: str, position: int, hash_: bytes) -> Checkpoint:
        return Checkpoint(position, hash_, _mac(key, journal_id, position, hash_))

    def valid(self, key: bytes, journal_id: str) -> bool:
        return _hmac.compare_digest(self.mac, _mac(key, journal_id, self.position, self.hash))

    def encode(self) -> str:
        return f"{self.position}:{self.hash.hex()}:{self.mac.hex()}"

    @staticmethod
    def decode(text: str) -> Checkpoint | None:
        """None when ``text`` is not a checkpoint (the caller treats that as tampering)."""
        try:
            p, h, m = text.split(":")
            cp = Checkpoint(int(p), bytes.fromhex(h), bytes.fromhex(m))
        except (ValueError, AttributeError):
            return None
        return cp if cp.position >= 0 and len(cp.hash) == 32 and len(cp.mac) == 32 else None


def _mac(key: bytes, journal_id: str, position: int, hash_: bytes) -> bytes:
    return _hmac.new(key, f"{journal_id}:{position}:{hash_.hex()}".encode(), _sha256).digest()


class ChainWalk:
    """The chain check over rows ``(position, stream, version, type, ts, data, prev_hash,
    hash)`` fed in position order. ``start``/``prev``: where the walk begins (1/GENESIS for
    a full verify; the checkpoint's next position and hash for an incremental one).
    ``version_before(stream)``: the stream's version before ``start`` (0 for a full walk)."""

    __slots__ = ("_before", "_versions", "expected", "finding", "n", "prev")

    def __init__(
        self,
        start: int = 1,
        prev: bytes = GENESIS,
        version_before: Callable[[str], int] | None = None,
    ) -> None:
        self.expected, self.prev, self.n = start, prev, 0
        self.finding: TamperFinding | None = None
        self._before = version_before
        self._versions: dict[str, int] = {}

    def feed(self, rows: Iterable[tuple[Any, ...]]) -> bool:
        """Walk ``rows``; False (and ``finding`` set) at the first problem."""
        versions, before = self._versions, self._before
        expected, prev, n = self.expected, self.prev, self.n
        try:
            for p, s, v, t, ts, data, ph, h in rows:
                if not (type(ph) is bytes and type(h) is bytes and type(data) is str):
                    self.finding = TamperFinding(  # a NULL, a number, text where a hash is
                        p, TamperKind.EDITED, "the record is malformed", str(s), 0
                    )
                    return False
                if p != expected:
                    gap = f"#{expected}" + (f"..#{p - 1}" if p - 1 > expected else "")
                    self.finding = TamperFinding(
                        expected, TamperKind.DELETED, f"record(s) {gap} are missing"
                    )
                    return False
                if chain_hash(ph, s, v, t, ts, data) != h:
                    self.finding = TamperFinding(
                        p, TamperKind.EDITED, "its content does not match its hash", s, v
                    )
                    return False
                if ph != prev:
                    self.finding = TamperFinding(
                        p,
                        TamperKind.REORDERED,
                        f"it does not chain to record #{p - 1} (records reordered or removed, "
                        f"or #{p - 1} rewritten with a recomputed hash)",
                        s,
                        v,
                    )
                    return False
                last = versions.get(s)
                if last is None:
                    last = before(s) if before is not None else 0
                if v != last + 1:
                    self.finding = TamperFinding(
                        p, TamperKind.STREAM_ORDER, f"expected version {last + 1}", s, v
                    )
                    return False
                versions[s] = v
                prev, n, expected = h, n + 1, p + 1
        finally:
            self.expected, self.prev, self.n = expected, prev, n
        return True
