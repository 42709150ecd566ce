"""ABI signatures with parameter names, and where a named parameter sits in calldata.

The module checks 32-byte words at fixed positions. For a parameter inside a static tuple
(exactInputSingle's params) that is simply its inlined word index. For a parameter behind a
dynamic offset (exactInput's params.path) the position is fixed only if the offsets are the
ones a canonical encoder writes, so :func:`locate` returns the offset words to pin to those
values; the compiler turns each pin into an EQ condition, which keeps the module's reading of
the calldata and the target contract's reading the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from eth_utils import keccak

from agent.errors import ValidationError

_ELEMENTARY = re.compile(
    r"^(address|bool|string|bytes([1-9]|[12][0-9]|3[0-2])?|u?int(8|16|24|32|40|48|56|64|72|80|88|96|104|112|120|128|136|144|152|160|168|176|184|192|200|208|216|224|232|240|248|256)?)$"
)
_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


@dataclass(frozen=True, slots=True)
class AbiType:
    base: str  # elementary name, or "tuple"
    components: tuple[Param, ...] = ()
    dims: tuple[int | None, ...] = ()  # array suffixes, None = dynamic length

    @property
    def canonical(self) -> str:
        head = (
            "(" + ",".join(p.type.canonical for p in self.components) + ")"
            if self.base == "tuple"
            else self.base
        )
        return head + "".join(f"[{'' if d is None else d}]" for d in self.dims)

    @property
    def dynamic(self) -> bool:
        if any(d is None for d in self.dims):
            return True
        if self.base in ("bytes", "string"):
            return True
        return self.base == "tuple" and any(p.type.dynamic for p in self.components)

    @property
    def head_words(self) -> int:
        """Words this type takes in its container's head."""
        if self.dynamic:
            return 1
        n = sum(p.type.head_words for p in self.components) if self.base == "tuple" else 1
        for d in self.dims:
            n *= d or 1
        return n

    @property
    def is_address(self) -> bool:
        return self.base == "address" and not self.dims

    @property
    def is_uint(self) -> bool:
        return self.base.startswith("uint") and not self.dims


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: AbiType


@dataclass(frozen=True, slots=True)
class Location:
    """Where a parameter's checked word lives: ``word`` (index after the selector), the offset
    words that must hold their canonical values, and what the word means."""

    word: int
    pins: tuple[tuple[int, int], ...]
    kind: str  # "word" | "address_array" | "v3_path"
    type: AbiType


@dataclass(frozen=True)
class FunctionSig:
    name: str
    params: tuple[Param, ...]

    @cached_property
    def canonical(self) -> str:
        return f"{self.name}({','.join(p.type.canonical for p in self.params)})"

    @cached_property
    def selector(self) -> bytes:
        # "receive()" stands for a plain value transfer with empty calldata.
        return b"\x00" * 4 if self.canonical == "receive()" else keccak(text=self.canonical)[:4]

    def locate(self, path: str, field: str = "where") -> Location:
        return locate(self.params, path, field)


def _split_top(s: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur))
    return parts


def _matching_paren(text: str) -> int:
    depth = 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            return i
    return len(text) - 1


def _parse_param(text: str, field: str, idx: int) -> Param:
    text = text.strip()
    if text.startswith("("):
        close = _matching_paren(text)
        inner, rest = text[1:close], text[close + 1 :]
        comps = tuple(_parse_param(p, field, j) for j, p in enumerate(_split_top(inner)))
        m = re.match(r"^((?:\[\d*\])*)\s*(?:(calldata|memory)\s+)?([A-Za-z_$][\w$]*)?\s*$", rest)
        if not m:
            raise ValidationError(field, f"cannot parse tuple parameter {text!r}")
        dims = tuple(int(d) if d else None for d in re.findall(r"\[(\d*)\]", m.group(1)))
        return Param(m.group(3) or f"arg{idx}", AbiType("tuple", comps, dims))
    toks = text.split()
    if not toks:
        raise ValidationError(field, "empty parameter", "remove the stray comma")
    m = re.match(r"^([a-z0-9]+)((?:\[\d*\])*)$", toks[0])
    if not m or not _ELEMENTARY.match(m.group(1)):
        raise ValidationError(
            field,
            f"unknown ABI type {toks[0]!r}",
            "use Solidity ABI types such as address, uint256",
        )
    base = {"uint": "uint256", "int": "int256"}.get(m.group(1), m.group(1))
    dims = tuple(int(d) if d else None for d in re.findall(r"\[(\d*)\]", m.group(2)))
    names = [t for t in toks[1:] if t not in ("calldata", "memory", "indexed")]
    name = names[0] if names else f"arg{idx}"
    if not _IDENT.match(name):
        raise ValidationError(field, f"bad parameter name {name!r}")
    return Param(name, AbiType(base, (), dims))


def parse_signature(sig: str, field: str = "function") -> FunctionSig:
    """``name(type name, ...)``; names are optional (then arg0, arg1, ...)."""
    m = re.match(r"^\s*([A-Za-z_$][\w$]*)\s*\((.*)\)\s*$", sig, re.S)
    if not m:
        raise ValidationError(
            field,
            f"{sig!r} is not an ABI signature",
            'write it like "transfer(address to,uint256 amount)"',
        )
    inner = m.group(2)
    if inner.count("(") != inner.count(")"):
        raise ValidationError(field, f"unbalanced parentheses in {sig!r}")
    params = tuple(_parse_param(p, field, i) for i, p in enumerate(_split_top(inner)))
    return FunctionSig(m.group(1), params)


def locate(params: tuple[Param, ...], path: str, field: str = "where") -> Location:
    """Word position of ``path`` (``params.recipient``, ``path``, ``arg1``) in calldata."""
    container, base, pins = params, 0, []
    segs = path.split(".")
    for depth, seg in enumerate(segs):
        names = [p.name for p in container]
        if seg not in names:
            raise ValidationError(
                f"{field}.{path}", f"no parameter {seg!r}", f"parameters here: {', '.join(names)}"
            )
        i = names.index(seg)
        p = container[i]
        head_off = sum(q.type.head_words for q in container[:i])
        last = depth == len(segs) - 1
        t = p.type
        if not t.dynamic:
            if last:
                if t.base == "tuple" or t.dims:
                    raise ValidationError(
                        f"{field}.{path}", "is a tuple or fixed array", "name one of its fields"
                    )
                return Location(base + head_off, tuple(pins), "word", t)
            if t.base != "tuple" or t.dims:
                raise ValidationError(f"{field}.{path}", f"{seg!r} has no fields")
            container, base = t.components, base + head_off
            continue
        # Dynamic: fixed position only when it is the first dynamic item of its container.
        if any(q.type.dynamic for q in container[:i]):
            raise ValidationError(
                f"{field}.{path}",
                "follows another dynamic parameter, so its position depends on that one's length",
                "this condition cannot be enforced on-chain; drop it or mark the rule offchain_only",
            )
        head_total = sum(q.type.head_words for q in container)
        pins.append((base + head_off, 32 * head_total))
        base = base + head_total
        if last:
            if t.dims == (None,) and t.base == "address":
                return Location(base, tuple(pins), "address_array", t)
            if t.base == "bytes" and not t.dims:
                return Location(base, tuple(pins), "v3_path", t)
            raise ValidationError(
                f"{field}.{path}",
                f"dynamic type {t.canonical} has no on-chain condition",
                "conditions on dynamic values exist for address[] and Uniswap V3 bytes paths",
            )
        if t.base != "tuple" or t.dims:
            raise ValidationError(f"{field}.{path}", f"{seg!r} has no fields")
        container = t.components
    raise ValidationError(field, "empty parameter path")
