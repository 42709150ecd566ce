"""The hash chain: ``hash[n] = sha256(hash[n-1] || record_bytes[n])``.

``record_bytes`` is the canonical JSON array ``[stream, version, type, recorded_at_ns, data]``
where ``data`` is already canonical JSON. The position is not hashed: the chain itself fixes
the order, which is what lets ``verify`` tell an edited record (its own hash is wrong) from a
reordered one (intact, but chained to a different predecessor).
"""

from __future__ import annotations

import hashlib
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
