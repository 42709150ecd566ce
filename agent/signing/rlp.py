"""Minimal RLP encoder for the signing hot path.

The ``rlp`` package is general (sedes, lazy objects) and several times slower than needed for
signing; a typed transaction only needs byte strings, unsigned ints and one level of lists, so
we encode those by hand. Verified against ``rlp.encode`` in tests/unit/signing.
"""

from __future__ import annotations

from collections.abc import Sequence

_EMPTY = b"\x80"


def encode_bytes(b: bytes) -> bytes:
    n = len(b)
    if n == 1 and b[0] < 0x80:
        return b
    if n < 56:
        return bytes((0x80 + n,)) + b
    ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0xB7 + len(ln),)) + ln + b


def encode_uint(x: int) -> bytes:
    if x == 0:
        return _EMPTY
    if x < 0x80:
        return bytes((x,))
    b = x.to_bytes((x.bit_length() + 7) // 8, "big")
    return bytes((0x80 + len(b),)) + b if len(b) < 56 else encode_bytes(b)


def list_header(payload_len: int) -> bytes:
    if payload_len < 56:
        return bytes((0xC0 + payload_len,))
    ln = payload_len.to_bytes((payload_len.bit_length() + 7) // 8, "big")
    return bytes((0xF7 + len(ln),)) + ln


def encode_list(encoded_items: Sequence[bytes]) -> bytes:
    """Wrap already-encoded items in a list."""
    payload = b"".join(encoded_items)
    return list_header(len(payload)) + payload


def encode(item: object) -> bytes:
    """General entry point (tests, access lists): bytes, non-negative ints, nested lists."""
    if isinstance(item, bytes | bytearray):
        return encode_bytes(bytes(item))
    if isinstance(item, bool):
        raise TypeError("RLP: bool is not an RLP item; pass 0 or 1")
    if isinstance(item, int):
        if item < 0:
            raise ValueError("RLP: negative integers cannot be encoded")
        return encode_uint(item)
    if isinstance(item, list | tuple):
        return encode_list([encode(i) for i in item])
    raise TypeError(f"RLP: cannot encode {type(item).__name__}")
