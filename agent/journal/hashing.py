"""The hash chain: ``hash[n] = sha256(hash[n-1] || record_bytes[n])``.

``record_bytes`` is the canonical JSON array ``[stream, version, type, recorded_at_ns, data]``
where ``data`` is already canonical JSON. The position is not hashed: the chain itself fixes
the order, which is what lets ``verify`` tell an edited record (its own hash is wrong) from a
reordered one (intact, but chained to a different predecessor).
"""

from __future__ import annotations

import hashlib
import hmac as _hmac
from dataclasses import dataclass
from json.encoder import (
    encode_basestring as _dumps,
)  # C; same text as json.dumps(ensure_ascii=False)

GENESIS = bytes(32)
_sha256 = hashlib.sha256


def record_bytes(stream: str, version: int, type_: str, recorded_at_ns: int, data: str) -> bytes:
    return f"[{_dumps(stream)},{version},{_dumps(type_)},{recorded_at_ns},{data}]".encode()


def chain_hash(prev: bytes, stream: str, version: int, type_: str, ts: int, data: str) -> bytes:
    return _sha256(
        prev + f"[{_dumps(stream)},{version},{_dumps(type_)},{ts},{data}]".encode()
    ).digest()


# --- verification, shared by every store (SQLite, PostgreSQL) --------------------------------
# A store feeds its rows, in position order, to a ChainWalker (agent.journal.base); the walk names the first problem.
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
