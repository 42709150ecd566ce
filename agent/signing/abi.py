"""A fast drop-in for ``eth_abi.encode`` on the hot path's argument types.

``encode(types, args)`` gives the same bytes as ``eth_abi.encode`` (a hypothesis test checks
it). eth_abi validates and encodes through several layers of objects per value (~20 us for a
Uniswap swap struct); here each type string is compiled once into a small function that
writes 32-byte words directly: ``address``, ``uintN``, ``bool``, ``bytesN``, ``bytes`` and
static tuples of those. Any other type (``string``, arrays, ``intN``, dynamic tuples) and any
value the fast path does not accept as-is (a bytes address, a negative or oversized int)
goes to ``eth_abi.encode``, which encodes it or raises its own typed error: the results and
the errors are eth_abi's, only faster.

Adopt it with a one-line import change where calldata is built per order, e.g.
``from agent.signing.abi import encode`` in agent/venues/uniswap_common.py, uniswap_v3.py,
agent/wallet/module.py and agent/wallet/multisend.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import eth_abi

_ZERO = bytes(32)
_HEX = frozenset("0123456789abcdefABCDEF")


class _Slow(Exception):
    """This value is not for the fast path: let eth_abi encode it (or refuse it)."""


_ADDRS: dict[str, bytes] = {}  # validated address text -> 32-byte word (addresses repeat)


def _address_word(v: Any) -> bytes:
    w = _ADDRS.get(v) if type(v) is str else None
    if w is not None:
        return w
    if (
        type(v) is not str
        or len(v) != 42
        or v[:2] not in ("0x", "0X")
        or not _HEX.issuperset(v[2:])
    ):
        raise _Slow
    # like eth_abi, the case (an EIP-55 checksum) is not checked here: validate addresses
    # where they enter (config, manifest), not per encoded word
    w = b"\0" * 12 + bytes.fromhex(v[2:])
    if len(_ADDRS) < 65_536:
        _ADDRS[v] = w
    return w


def _uint(bits: int) -> Callable[[Any], bytes]:
    top = 1 << bits

    def enc(v: Any) -> bytes:
        if type(v) is not int or not 0 <= v < top:
            raise _Slow
        return v.to_bytes(32, "big")

    return enc


def _bool(v: Any) -> bytes:
    if type(v) is not bool:
        raise _Slow
    return _ZERO[:31] + (b"\x01" if v else b"\x00")


def _fixed_bytes(n: int) -> Callable[[Any], bytes]:
    def enc(v: Any) -> bytes:
        if type(v) is not bytes or len(v) != n:
            raise _Slow
        return v + _ZERO[: 32 - n]

    return enc


def _dynamic_bytes(v: Any) -> bytes:
    """The tail: length word, then the data right-padded to a whole word."""
    if type(v) is not bytes:
        raise _Slow
    n = len(v)
    return n.to_bytes(32, "big") + v + _ZERO[: -n % 32]


def _split(inner: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    out.append(cur)
    return out


@lru_cache(maxsize=512)
def _static(t: str) -> Callable[[Any], bytes] | None:
    """Encoder of a static type, or None when the fast path does not handle it."""
    t = t.strip()
    if t == "address":
        return _address_word
    if t == "bool":
        return _bool
    if t.startswith("uint") and t[4:].isdigit():
        bits = int(t[4:])
        return _uint(bits) if 8 <= bits <= 256 and bits % 8 == 0 else None
    if t == "uint":
        return _uint(256)
    if t.startswith("bytes") and t[5:].isdigit():
        n = int(t[5:])
        return _fixed_bytes(n) if 1 <= n <= 32 else None
    if t.startswith("(") and t.endswith(")"):
        parts = [_static(p) for p in _split(t[1:-1])] if t != "()" else []
        if not parts or any(p is None for p in parts):
            return None
        encs: list[Callable[[Any], bytes]] = parts  # type: ignore[assignment]

        def tup(v: Any) -> bytes:
            if type(v) not in (tuple, list) or len(v) != len(encs):
                raise _Slow
            return b"".join([e(x) for e, x in zip(encs, v, strict=True)])

        return tup
    return None


@lru_cache(maxsize=512)
def _plan(types: tuple[str, ...]) -> tuple[tuple[bool, Callable[[Any], bytes]], ...] | None:
    """Per argument: (dynamic?, encoder); None when any type needs eth_abi."""
    out = []
    for t in types:
        if t.strip() == "bytes":
            out.append((True, _dynamic_bytes))
            continue
        enc = _static(t)
        if enc is None:
            return None
        out.append((False, enc))
    return tuple(out)


def encode(types: Sequence[str], args: Sequence[Any]) -> bytes:
    """``eth_abi.encode(types, args)``, fast for the hot path's types (see module doc)."""
    plan = _plan(tuple(types))
    if plan is None or len(args) != len(plan):
        return eth_abi.encode(types, args)
    try:
        heads: list[bytes] = []
        tails: list[bytes] = []
        offset = 32 * len(plan)
        for (dynamic, enc), v in zip(plan, args, strict=True):
            if dynamic:
                tail = enc(v)
                heads.append(offset.to_bytes(32, "big"))
                tails.append(tail)
                offset += len(tail)
            else:
                heads.append(enc(v))
        return b"".join(heads) + b"".join(tails)
    except _Slow:
        return eth_abi.encode(types, args)
