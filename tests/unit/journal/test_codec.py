from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.errors import JournalError, ValidationError
from agent.journal.codec import EventRegistry, UnknownEventTypeError, canonical_json, dumps, loads


class Color(StrEnum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True, slots=True)
class Inner:
    amount: int
    price: Decimal


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    qty: Decimal
    wei: int
    color: Color
    raw: bytes
    inner: Inner
    tags: tuple[str, ...] = ()
    maybe: Decimal | None = None


def test_canonical_json_is_sorted_compact_and_exact() -> None:
    s = Sample(
        "a", Decimal("1.50"), 10**30, Color.RED, b"\x01\xff", Inner(7, Decimal("0.1")), ("x",)
    )
    text = canonical_json(s)
    assert text == (
        '{"color":"red","inner":{"amount":7,"price":"0.1"},"maybe":null,"name":"a",'
        '"qty":"1.50","raw":"0x01ff","tags":["x"],"wei":1000000000000000000000000000000}'
    )


def test_float_and_nan_are_refused_with_the_field_named() -> None:
    with pytest.raises(ValidationError, match=r"inner\.price"):
        canonical_json(Sample("a", Decimal(1), 1, Color.RED, b"", Inner(1, 0.1), ()))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="qty"):
        canonical_json(Sample("a", Decimal("NaN"), 1, Color.RED, b"", Inner(1, Decimal(1))))


def test_registry_roundtrip_restores_types() -> None:
    reg = EventRegistry()
    reg.register(Sample)
    s = Sample(
        "a",
        Decimal("1.50"),
        2**200,
        Color.BLUE,
        b"\xaa",
        Inner(3, Decimal("2.5")),
        ("p", "q"),
        Decimal("3"),
    )
    name, data = reg.encode(s)
    assert name == "Sample"
    assert reg.decode(name, data) == s


def test_unknown_type_and_unregistered_event() -> None:
    reg = EventRegistry()
    with pytest.raises(UnknownEventTypeError):
        reg.decode("Nope", "{}")
    with pytest.raises(ValidationError, match="not a registered event type"):
        reg.encode(Inner(1, Decimal(1)))


def test_duplicate_name_refused() -> None:
    reg = EventRegistry()
    reg.register(Inner)

    @dataclass(frozen=True)
    class Inner2:
        x: int

    with pytest.raises(TypeError):
        reg.register(Inner2, name="Inner")


@given(st.integers(), st.decimals(allow_nan=False, allow_infinity=False), st.text())
def test_loads_is_exact_for_any_int_decimal_and_text(i: int, d: Decimal, t: str) -> None:
    text = canonical_json({"i": i, "d": d, "t": t, "l": [i, -i]})
    back = loads(text)
    assert back == {"i": i, "d": str(d), "t": t, "l": [i, -i]}
    assert back == json.loads(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_fast_and_stdlib_encoders_agree_byte_for_byte(v: object) -> None:
    # canonical text must not depend on which encoder ran (orjson, or json for big ints)
    assert dumps(v) == json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_records_written_before_a_field_was_added_still_decode() -> None:
    reg = EventRegistry()
    reg.register(Sample)
    old = '{"color":"red","inner":{"amount":1,"price":"2"},"name":"n","qty":"1","raw":"0x","wei":5}'
    s = reg.decode("Sample", old)
    assert s.tags == () and s.maybe is None and s.wei == 5


def test_a_record_missing_a_required_field_is_a_journal_error() -> None:
    reg = EventRegistry()
    reg.register(Inner)
    with pytest.raises(JournalError, match="does not decode"):
        reg.decode("Inner", '{"amount":1}')


def test_lone_surrogate_is_refused_not_journaled() -> None:
    with pytest.raises(ValidationError, match="surrogate"):
        dumps({"a": "\ud800"})


@dataclass(frozen=True, slots=True)
class Batch:
    tags: tuple[str, ...]
    legs: tuple[Inner, ...]
    ids: tuple[int, ...] = ()


@given(
    st.lists(st.text(max_size=5), max_size=4),
    st.lists(
        st.tuples(st.integers(), st.decimals(allow_nan=False, allow_infinity=False)), max_size=3
    ),
    st.lists(st.integers(), max_size=3),
)
def test_tuple_fields_encode_as_the_generic_path_does(
    tags: list[str], legs: list[tuple[int, Decimal]], ids: list[int]
) -> None:
    """The generated tuple[X, ...] fast path gives the same text as the reflective encoder."""
    from agent.journal.codec import to_jsonable

    b = Batch(tuple(tags), tuple(Inner(a, p) for a, p in legs), tuple(ids))
    generic = {
        "ids": to_jsonable(b.ids),
        "legs": [to_jsonable(x) for x in b.legs],
        "tags": to_jsonable(b.tags),
    }
    assert canonical_json(b) == dumps(generic)


def test_a_bad_item_in_a_tuple_field_is_refused_with_its_path() -> None:
    with pytest.raises(ValidationError, match=r"tags\[1\]"):
        canonical_json(Batch(("a", 1.5), ()))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"legs\[1\]\.price"):
        canonical_json(Batch((), (Inner(1, Decimal(1)), Inner(2, 0.5))))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"ids\[0\]"):
        canonical_json(Batch((), (), (2.0,)))  # type: ignore[arg-type]
