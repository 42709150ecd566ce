"""secp256k1 group operations for the two-party protocol, on coincurve (libsecp256k1).

Points travel as 33-byte compressed encodings; parsing one through coincurve rejects
anything off the curve (and the point at infinity cannot be encoded at all), which is the
check a malicious peer's points need.
"""

from __future__ import annotations

import hashlib
import secrets

import coincurve

Q = coincurve.utils.GROUP_ORDER_INT  # the group order n (named q in Lindell's paper)
Point = coincurve.PublicKey


def rand_scalar(below: int = Q) -> int:
    """Uniform in [1, below)."""
    return secrets.randbelow(below - 1) + 1


def _b32(k: int) -> bytes:
    return (k % Q).to_bytes(32, "big")


def base_mul(k: int) -> Point:
    """k*G for k in [1, q)."""
    return coincurve.PrivateKey(_b32(k)).public_key


def mul(p: Point, k: int) -> Point:
    return p.multiply(_b32(k))


def add(a: Point, b: Point) -> Point:
    return coincurve.PublicKey.combine_keys([a, b])


def enc(p: Point) -> bytes:
    return p.format(compressed=True)


def dec(b: bytes) -> Point:
    """Parse a compressed point; ValueError if it is not on the curve."""
    if len(b) != 33 or b[0] not in (2, 3):
        raise ValueError("not a 33-byte compressed secp256k1 point")
    return coincurve.PublicKey(b)


def x_of(p: Point) -> int:
    return int.from_bytes(p.format(compressed=True)[1:], "big")


def y_parity(p: Point) -> int:
    return p.format(compressed=True)[0] - 2


def hash_to_int(tag: str, *parts: bytes) -> int:
    """Domain-separated SHA-256 of length-prefixed parts (no ambiguity between splits)."""
    h = hashlib.sha256(tag.encode() + b"\x00")
    for p in parts:
        h.update(len(p).to_bytes(4, "big"))
        h.update(p)
    return int.from_bytes(h.digest(), "big")


def int_bytes(x: int) -> bytes:
    return int(x).to_bytes((int(x).bit_length() + 7) // 8 or 1, "big")
