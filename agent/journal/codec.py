"""Canonical JSON for journal records, and the one registry of event types.

Canonical means: keys sorted, no whitespace, ``Decimal`` as its string, ``int`` as a JSON int
(of any size: wei amounts exceed 64 bits), ``bytes`` as ``0x``-hex, enums by value, nested
frozen dataclasses as objects. Floats are refused: an amount that is signed or sent is never a
float, and a float's text form would make hashes depend on the platform.

The same event always encodes to the same bytes, so the hash chain and the replay state hash
are stable across runs and machines.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import types
import typing
from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

import msgspec
import orjson

from agent.errors import JournalError, ValidationError

T = TypeVar("T")

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
# orjson parses 4-5x faster than json but turns ints beyond 64 bits into floats. A JSON int
# of 19+ digits always follows ':', ',' or '[' in our compact form; when one may be present we
# fall back to the exact stdlib parser (a false positive inside a string only costs speed).
_BIG_INT = re.compile(r"[:,\[]-?\d{19}")
_orjson_dumps = orjson.dumps
_SORT_KEYS = orjson.OPT_SORT_KEYS


class _Reparse(Exception):
    """orjson turned an int beyond 64 bits into a float: parse the record again exactly."""


def _exact_int(v: Any) -> Any:
    if type(v) is float:  # we never write floats, so this was a big int
        raise _Reparse
    return v


class UnknownEventTypeError(JournalError):
    code = "JOURNAL_UNKNOWN_EVENT"


def to_jsonable(value: Any, field: str = "value") -> Any:
    """The canonical JSON form of one value (see module docstring)."""
    if value is None or isinstance(value, str | bool | int):
        return value.value if isinstance(value, Enum) else value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValidationError(field, f"{value} is not a finite number")
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, float):
        raise ValidationError(field, "is a float", "use Decimal for amounts and prices")
    if isinstance(value, tuple | list):
        return [to_jsonable(v, f"{field}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, frozenset | set):  # sorted so equal sets encode to equal bytes
        return sorted((to_jsonable(v, field) for v in value), key=_ENCODER.encode)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, f"{field}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        try:
            return _dataclass_encoder(type(value))(value)
        except ValidationError as e:  # name the full path, e.g. fill.price
            raise ValidationError(f"{field}.{e.field}", e.problem, e.fix) from None
    raise ValidationError(field, f"cannot journal a {type(value).__name__}")


def dumps(obj: Any) -> str:
    """Canonical text of an already-jsonable value. orjson and json agree byte for byte on
    our value domain (tested); json takes over for ints beyond 64 bits, which orjson refuses."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        text = _ENCODER.encode(obj)
        try:
            text.encode()
        except UnicodeEncodeError:  # a lone surrogate: not text, and it would break hashing
            raise ValidationError("event", "contains invalid text (lone surrogate)") from None
        return text


def canonical_json(value: Any) -> str:
    enc = _ENCODERS.get(type(value))
    if enc is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        enc = _dataclass_encoder(type(value))
    return dumps(enc(value) if enc is not None else to_jsonable(value))


# --- per-class encoders/decoders, generated once: events are encoded and decoded by the
# hundred thousand during append and replay, and generic reflection costs 5-10x more.
_ENCODERS: dict[type, Callable[[Any], dict[str, Any]]] = {}


def _enc_expr(name: str, tp: Any, env: dict[str, Any], attr: str = "") -> str:
    """Inline code for the common field types: an exact type check, the value as-is (or its
    string), and the generic :func:`to_jsonable` (which validates and names the field) for
    anything else, so a float in an int or str field is still refused."""
    attr = attr or f"o.{name}"
    fallback = f"_j({attr}, {name!r})"
    if tp in (str, int, bool):
        env[f"_t_{tp.__name__}"] = tp
        return f"({attr} if type({attr}) is _t_{tp.__name__} else {fallback})"
    if tp is Decimal:
        return f"(str({attr}) if type({attr}) is _D and {attr}.is_finite() else {fallback})"
    if isinstance(tp, type) and issubclass(tp, Enum):
        env[f"_E_{name}"] = tp
        return f"({attr}._value_ if type({attr}) is _E_{name} else _j({attr}, {name!r}))"
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return f"(None if {attr} is None else {_enc_expr(name, args[0], env, attr)})"
    targs = typing.get_args(tp)
    if typing.get_origin(tp) is tuple and len(targs) == 2 and targs[1] is Ellipsis:
        # tuple[X, ...] of exactly-typed items in one helper call; anything else (a float
        # among strs, a bad nested value) goes through to_jsonable, which names the path
        env[f"_tup_{name}"] = _tuple_encoder(targs[0], name)
        return f"_tup_{name}({attr})"
    return fallback


def _tuple_encoder(item: Any, field: str) -> Callable[[Any], Any]:
    if item in (str, int, bool):

        def scalars(v: Any) -> Any:
            if type(v) is tuple and all([type(x) is item for x in v]):
                return list(v)
            return to_jsonable(v, field)

        return scalars
    if isinstance(item, type) and dataclasses.is_dataclass(item):

        def records(v: Any) -> Any:
            if type(v) is tuple and all([type(x) is item for x in v]):
                enc = _dataclass_encoder(item)  # looked up on use: the item may be our own class
                try:
                    return [enc(x) for x in v]
                except ValidationError:
                    pass  # to_jsonable raises it again with the full path, e.g. verdicts[0].code
            return to_jsonable(v, field)

        return records
    return functools.partial(to_jsonable, field=field)


def _dataclass_encoder(cls: type) -> Callable[[Any], dict[str, Any]]:
    enc = _ENCODERS.get(cls)
    if enc is not None:
        return enc
    hints = typing.get_type_hints(cls)
    env: dict[str, Any] = {"_j": to_jsonable, "_D": Decimal}
    items = [
        f"{f.name!r}: {_enc_expr(f.name, hints[f.name], env)}"
        for f in sorted(dataclasses.fields(cls), key=lambda f: f.name)
    ]
    src = "def encode(o):\n    return {" + ", ".join(items) + "}\n"
    exec(src, env)  # generated from the class's own field names and types only
    enc = env["encode"]
    _ENCODERS[cls] = enc
    return enc


def loads(text: str | bytes) -> Any:
    s = text if isinstance(text, str) else text.decode()
    if _BIG_INT.search(s):
        return json.loads(s)
    return orjson.loads(s)


# --- decoding: per-type converters built once from the dataclass's type hints --------------
def _identity(v: Any) -> Any:
    return v


def _converter(tp: Any) -> Callable[[Any], Any]:
    origin = typing.get_origin(tp)
    if tp is Any or tp is object:
        return _identity
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        inner = _converter(args[0]) if len(args) == 1 else _identity
        return lambda v: None if v is None else inner(v)
    if origin in (tuple, list):
        args = typing.get_args(tp)
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            c = _converter(args[0])
            return tuple if c is _identity else lambda v: tuple([c(x) for x in v])
        if origin is tuple and args:
            cs = [_converter(a) for a in args]
            return lambda v: tuple(c(x) for c, x in zip(cs, v, strict=True))
        c = _converter(args[0]) if args else _identity
        return (
            (lambda v: tuple(c(x) for x in v)) if origin is tuple else (lambda v: [c(x) for x in v])
        )
    if origin in (frozenset, set):
        c = _converter(typing.get_args(tp)[0])
        return lambda v: frozenset(c(x) for x in v)
    if origin is dict:
        _, vt = typing.get_args(tp)
        c = _converter(vt)
        return lambda v: {k: c(x) for k, x in v.items()}
    if tp is Decimal:
        return Decimal
    if tp is int:
        return _exact_int
    if tp is bytes:
        return lambda v: bytes.fromhex(v[2:] if v.startswith("0x") else v)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp._value2member_map_.__getitem__  # 10x faster than tp(v); KeyError if bad
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass_decoder(tp)
    return _identity


_DECODERS: dict[type, Callable[[dict[str, Any]], Any]] = {}


def _dataclass_decoder(cls: type[T]) -> Callable[[dict[str, Any]], T]:
    dec = _DECODERS.get(cls)
    if dec is not None:
        return dec
    hints = typing.get_type_hints(cls)
    env: dict[str, Any] = {"_new": object.__new__, "_sa": object.__setattr__, "_cls": cls}
    lines = ["def decode(d):", "    o = _new(_cls)"]
    for i, f in enumerate(dataclasses.fields(cls)):
        c = _converter(hints[f.name])
        val = f"d[{f.name!r}]"
        if c is not _identity:
            env[f"_c{i}"] = c
            val = f"_c{i}({val})"
        if f.default is not dataclasses.MISSING:
            env[f"_d{i}"] = f.default
            val = f"{val} if {f.name!r} in d else _d{i}"  # fields added later keep old records readable
        elif f.default_factory is not dataclasses.MISSING:
            env[f"_d{i}"] = f.default_factory
            val = f"{val} if {f.name!r} in d else _d{i}()"
        lines.append(f"    _sa(o, {f.name!r}, {val})")
    if hasattr(cls, "__post_init__"):
        lines.append("    o.__post_init__()")
    lines.append("    return o")
    exec("\n".join(lines) + "\n", env)  # generated from the class's own fields only
    dec = env["decode"]
    _DECODERS[cls] = dec
    return dec


def from_jsonable(cls: type[T], data: dict[str, Any]) -> T:
    return _dataclass_decoder(cls)(data)


# --- the fast text decoder: msgspec builds the dataclass straight from the JSON text in C,
# 3x faster than orjson.loads + the generated decoder above (replay decodes every record).
# Used only for classes whose every field type msgspec decodes exactly as the generated
# decoder does; anything else (bytes as 0x-hex, Any inside unions, datetimes, ...) keeps the
# generated decoder, and so does any record msgspec refuses (the generated one is the judge).
def _msgspec_ok(tp: Any, seen: set[type]) -> bool:
    origin = typing.get_origin(tp)
    if tp in (str, int, bool, Decimal):
        return True
    if isinstance(tp, type) and issubclass(tp, Enum):
        return all(type(m.value) in (str, int) for m in tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return len(args) == 1 and _msgspec_ok(args[0], seen)
    if origin in (tuple, frozenset):
        args = typing.get_args(tp)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return False
        return _msgspec_ok(args[0], seen)
    if origin is dict:
        k, v = typing.get_args(tp)
        return k is str and _msgspec_ok(v, seen)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _msgspec_class_ok(tp, seen)
    return False


def _msgspec_class_ok(cls: type, seen: set[type] | None = None) -> bool:
    seen = set() if seen is None else seen
    if cls in seen:
        return True
    seen.add(cls)
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # unresolvable annotation: keep the generated decoder
        return False
    return all(f.init and _msgspec_ok(hints[f.name], seen) for f in dataclasses.fields(cls))


_TEXT_DECODERS: dict[type, Callable[[str | bytes], Any]] = {}
_RAW_DECODERS: dict[type, Callable[[str | bytes], Any]] = {}
DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError)
"""What a :func:`raw_decoder` may raise besides JournalError: retry with :func:`text_decoder`."""


def raw_decoder(cls: type[T]) -> Callable[[str | bytes], T]:
    """The fastest decoder of ``cls`` (msgspec's own, no wrapper frame) for bulk loops that
    catch :data:`DECODE_ERRORS` around a whole chunk and then redo it with
    :func:`text_decoder`, which judges each record exactly."""
    fn = _RAW_DECODERS.get(cls)
    if fn is None:
        fn = text_decoder(cls)
        fn = _RAW_DECODERS[cls] = getattr(fn, "fast", fn)
    return fn


def text_decoder(cls: type[T]) -> Callable[[str | bytes], T]:
    """A function from a record's canonical JSON text to its event (built once per class).
    Raises JournalError when the text does not decode into ``cls``."""
    fn = _TEXT_DECODERS.get(cls)
    if fn is not None:
        return fn
    slow = _dataclass_decoder(cls)

    def generic(data: str | bytes) -> T:
        try:
            try:
                return slow(orjson.loads(data))  # int fields check for float
            except _Reparse:
                return slow(json.loads(data))
        except (KeyError, TypeError, ValueError, ArithmeticError, orjson.JSONDecodeError) as e:
            raise JournalError(
                f"journal record of type {cls.__name__!r} does not decode: {e!r}"
            ) from e

    if _msgspec_class_ok(cls):
        fast = msgspec.json.Decoder(cls).decode
        _fail = (msgspec.DecodeError, msgspec.ValidationError)

        def decode(data: str | bytes) -> T:
            try:
                return fast(data)
            except _fail:
                return generic(data)

        decode.fast = fast  # type: ignore[attr-defined]
        fn = decode
    else:
        fn = generic
    _TEXT_DECODERS[cls] = fn
    return fn


class EventRegistry:
    """Maps a stable type name to an event class and back. Names are part of the journal
    format: never rename a registered event, add a new one instead."""

    def __init__(self) -> None:
        self._by_name: dict[str, type] = {}
        self._by_cls: dict[type, str] = {}
        self._text: dict[str, Callable[[str | bytes], Any]] = {}
        self._enc: dict[type, tuple[str, Callable[[Any], dict[str, Any]]]] = {}

    def register(self, cls: type[T] | None = None, *, name: str | None = None) -> Any:
        def do(c: type[T]) -> type[T]:
            if not dataclasses.is_dataclass(c):
                raise TypeError(f"{c.__name__} must be a dataclass to be journaled")
            n = name or c.__name__
            if self._by_name.get(n, c) is not c:
                raise TypeError(f"event type name {n!r} is already registered")
            self._by_name[n] = c
            self._by_cls[c] = n
            self._enc.pop(c, None)
            return c

        return do(cls) if cls is not None else do

    def name_of(self, event: Any) -> str:
        try:
            return self._by_cls[type(event)]
        except KeyError:
            raise ValidationError(
                "event",
                f"{type(event).__name__} is not a registered event type",
                "decorate it with @agent.journal.event_type",
            ) from None

    def cls_of(self, name: str) -> type:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownEventTypeError(
                f"journal holds an event of unknown type {name!r}; "
                "run the agent version that wrote it, or register the type"
            ) from None

    def encode(self, event: Any) -> tuple[str, str]:
        """(type name, canonical JSON of the event's fields)."""
        hit = self._enc.get(type(event))
        if hit is None:
            hit = self._enc[type(event)] = (self.name_of(event), _dataclass_encoder(type(event)))
        d = hit[1](event)
        try:  # the common case inline; dumps() handles big ints and bad text
            return hit[0], _orjson_dumps(d, option=_SORT_KEYS).decode()
        except TypeError:
            return hit[0], dumps(d)

    def decode(self, name: str, data: str | bytes | dict[str, Any]) -> Any:
        if isinstance(data, str | bytes):
            fn = self._text.get(name)
            if fn is None:
                fn = self.decoder(name)
            return fn(data)
        dec = _dataclass_decoder(self.cls_of(name))
        try:
            return dec(data)
        except (KeyError, TypeError, ValueError, ArithmeticError) as e:
            raise JournalError(f"journal record of type {name!r} does not decode: {e!r}") from e

    def raw_decoder(self, name: str) -> Callable[[str | bytes], Any]:
        """See :func:`raw_decoder`: for bulk loops that fall back to :meth:`decoder`."""
        return raw_decoder(self.cls_of(name))

    def decoder(self, name: str) -> Callable[[str | bytes], Any]:
        """The text decoder of event type ``name`` (cached): replay loops call it directly."""
        fn = self._text.get(name)
        if fn is None:
            fn = self._text[name] = text_decoder(self.cls_of(name))
        return fn

    def names(self) -> list[str]:
        return sorted(self._by_name)


registry = EventRegistry()
"""The process-wide registry; agent.oms registers its events here on import."""

event_type = registry.register
