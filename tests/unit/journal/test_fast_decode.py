"""The msgspec fast decoder must agree with the generated (exact) decoder on every record."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.errors import JournalError
from agent.journal import codec
from agent.journal.codec import EventRegistry, _dataclass_decoder, _msgspec_class_ok


class Color(StrEnum):
    RED = "red"
    BLUE = "blue"


class Level(IntEnum):
    LOW = 1
    HIGH = 2


@dataclass(frozen=True, slots=True)
class Leg:
    qty: Decimal
    color: Color
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Fast:
    name: str
    qty: Decimal
    wei: int
    ok: bool
    color: Color
    level: Level
    legs: tuple[Leg, ...] = ()
    tags: tuple[str, ...] = ()
    limits: dict[str, Decimal] = field(default_factory=dict)
    maybe: Decimal | None = None
    names: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class WithBytes:
    raw: bytes
    n: int = 0


@dataclass(frozen=True, slots=True)
class WithAny:
    payload: Any
    x: str | int = 0


@dataclass(frozen=True, slots=True)
class Checked:
    qty: Decimal

    def __post_init__(self) -> None:
        if self.qty <= 0:
            raise ValueError("qty must be positive")


def test_which_classes_take_the_fast_path() -> None:
    assert _msgspec_class_ok(Fast) and _msgspec_class_ok(Checked)
    # bytes are 0x-hex in the journal (msgspec expects base64); Any/unions decode as-is
    assert not _msgspec_class_ok(WithBytes)
    assert not _msgspec_class_ok(WithAny)


decimals = st.decimals(allow_nan=False, allow_infinity=False)
legs = st.builds(Leg, decimals, st.sampled_from(Color), st.none() | st.text())
fasts = st.builds(
    Fast,
    st.text(),
    decimals,
    st.integers(min_value=-(2**300), max_value=2**300),  # wei beyond 64 bits
    st.booleans(),
    st.sampled_from(Color),
    st.sampled_from(Level),
    st.lists(legs, max_size=3).map(tuple),
    st.lists(st.text(), max_size=3).map(tuple),
    st.dictionaries(st.text(), decimals, max_size=3),
    st.none() | decimals,
    st.frozensets(st.text(), max_size=3),
)


@given(fasts)
def test_fast_and_exact_decoders_agree(ev: Fast) -> None:
    reg = EventRegistry()
    reg.register(Fast)
    name, text = reg.encode(ev)
    fast = reg.decode(name, text)
    exact = _dataclass_decoder(Fast)(json.loads(text))
    assert fast == exact == ev
    assert type(fast.qty) is Decimal and type(fast.level) is Level
    assert reg.raw_decoder(name)(text) == ev


def test_bytes_and_any_classes_keep_the_exact_decoder() -> None:
    reg = EventRegistry()
    reg.register(WithBytes)
    reg.register(WithAny)
    assert reg.decode(*reg.encode(WithBytes(b"\x00\xff", 3))) == WithBytes(b"\x00\xff", 3)
    assert reg.decode(*reg.encode(WithAny({"a": [1, "b"]}, "s"))) == WithAny({"a": [1, "b"]}, "s")


def test_a_record_msgspec_refuses_is_judged_by_the_exact_decoder() -> None:
    reg = EventRegistry()
    reg.register(Fast)
    # an int written as a JSON string: msgspec refuses; the exact decoder keeps it as given
    text = '{"color":"red","level":1,"name":"n","ok":true,"qty":"1","wei":"12"}'
    ev = reg.decode("Fast", text)
    assert ev.wei == "12" and ev.qty == Decimal(1)
    with pytest.raises(JournalError, match="Fast"):
        reg.decode("Fast", '{"color":"green","level":1,"name":"n","ok":true,"qty":"1","wei":1}')
    with pytest.raises(JournalError):
        reg.decode("Fast", "{not json")


def test_post_init_runs_and_missing_defaults_fill_in() -> None:
    reg = EventRegistry()
    reg.register(Checked)
    reg.register(Fast)
    assert reg.decode("Checked", '{"qty":"2"}') == Checked(Decimal(2))
    with pytest.raises(JournalError, match="positive"):
        reg.decode("Checked", '{"qty":"-1"}')
    old = '{"color":"blue","level":2,"name":"n","ok":false,"qty":"1.5","wei":7}'  # older record
    ev = reg.decode("Fast", old)
    assert ev.legs == () and ev.limits == {} and ev.maybe is None and ev.names == frozenset()
    # a field this version does not know (written by a newer one) is ignored, as before
    assert reg.decode("Fast", old[:-1] + ',"later":1}') == ev


def test_raw_decoder_of_a_slow_class_is_the_exact_one() -> None:
    assert codec.raw_decoder(WithBytes) is codec.text_decoder(WithBytes)
