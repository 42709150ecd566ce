"""The policy document (TOML) as frozen pydantic models, and parsing with file/line/field errors.

This is the *written* form: names as people write them (manifest names, token symbols,
human amounts). :mod:`agent.policy.resolve` turns it into addresses, selectors and word
positions.
"""

from __future__ import annotations

import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticError

from agent.policy.errors import PolicyFileError

Ack = Literal["unlimited-approval", "calls-safe", "delegatecall"]
Scalar = int | str


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ConditionSpec(_Frozen):
    """Exactly one operator per parameter."""

    eq: Scalar | None = None
    one_of: list[Scalar] | None = None
    in_set: str | None = None
    le: Scalar | None = None
    ge: Scalar | None = None
    is_safe: bool | None = None
    allowance: str | None = None
    every_in_set: str | None = None
    counterparty: bool | None = None

    @model_validator(mode="after")
    def _one_op(self) -> ConditionSpec:
        ops = [k for k, v in self.__dict__.items() if v is not None]
        if len(ops) != 1:
            raise ValueError(
                f"give exactly one operator (eq, one_of, in_set, le, ge, is_safe, allowance, "
                f"every_in_set, counterparty), got {ops or 'none'}"
            )
        if self.is_safe is False or self.counterparty is False:
            raise ValueError("is_safe / counterparty only take `true`; omit the condition instead")
        return self

    @property
    def op(self) -> str:
        return next(k for k, v in self.__dict__.items() if v is not None)

    @property
    def arg(self) -> Any:
        return getattr(self, self.op)


class SlippageSpec(_Frozen):
    """Where the swap's amounts and tokens are (parameter paths, or for the tokens also a
    token symbol); ``path[0]`` / ``path[-1]`` address the ends of a path. Exact input swaps
    give ``amount_in`` + ``min_out``; exact output swaps give ``amount_out`` + ``max_in``."""

    token_in: str
    token_out: str
    amount_in: str | None = None
    min_out: str | None = None
    amount_out: str | None = None
    max_in: str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> SlippageSpec:
        exact_in = self.amount_in is not None and self.min_out is not None
        exact_out = self.amount_out is not None and self.max_in is not None
        given = [k for k in ("amount_in", "min_out", "amount_out", "max_in") if getattr(self, k)]
        if exact_in == exact_out or len(given) != 2:
            raise ValueError(
                "give amount_in + min_out (exact input) or amount_out + max_in (exact output), "
                f"got {given or 'none'}"
            )
        return self


class RuleSpec(_Frozen):
    target: str
    function: str
    max_value: Decimal = Decimal(0)  # native units (ETH), per call
    where: dict[str, ConditionSpec] = Field(default_factory=dict)
    slippage: SlippageSpec | None = None
    delegatecall: bool = False
    offchain_only: bool = False
    acknowledge: list[Ack] = Field(default_factory=list)
    note: str = ""

    @field_validator("max_value")
    @classmethod
    def _nonneg(cls, v: Decimal) -> Decimal:
        if v < 0:
            raise ValueError("must be >= 0")
        return v


class HoursSpec(_Frozen):
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default_factory=lambda: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    )
    start: str = "00:00"
    end: str = "24:00"

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        m = re.fullmatch(r"(\d\d):(\d\d)", v)
        if not m or int(m.group(1)) > 24 or int(m.group(2)) > 59 or (v > "24:00"):
            raise ValueError(f"{v!r} is not HH:MM (UTC, 00:00..24:00)")
        return v


class RoleSpec(_Frozen):
    name: str
    id: int = Field(ge=1, le=65535)
    operators: list[str] = Field(default_factory=list)
    chains: list[int] = Field(default_factory=list)
    multisend: bool = True
    max_slippage_bps: int | None = Field(default=None, ge=0, le=10_000)
    second_signer_above_usd: Decimal | None = None
    trading_hours: HoursSpec | None = None
    rules: list[RuleSpec] = Field(default_factory=list)


class AllowanceSpec(_Frozen):
    token: str
    amount: Decimal  # human units of the token
    period: str | int  # "1d", "12h", "30m", "3600s" or seconds

    @field_validator("amount")
    @classmethod
    def _pos(cls, v: Decimal) -> Decimal:
        if v < 0:
            raise ValueError("must be >= 0")
        return v

    @property
    def period_seconds(self) -> int:
        if isinstance(self.period, int):
            return self.period
        m = re.fullmatch(r"(\d+)\s*([smhdw]?)", self.period.strip())
        if not m:
            raise ValueError(f"period {self.period!r} is not like 1d, 12h, 30m, 3600s")
        mult = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
        return int(m.group(1)) * mult

    @field_validator("period")
    @classmethod
    def _period(cls, v: str | int) -> str | int:
        if isinstance(v, int):
            if not 0 <= v < 2**32:
                raise ValueError("seconds must be 0..2^32-1")
            return v
        if not re.fullmatch(r"\d+\s*[smhdw]?", v.strip()):
            raise ValueError(f"{v!r} is not like 1d, 12h, 30m, 3600s")
        return v


class ScreeningSpec(_Frozen):
    denylist: str | None = None  # file: one address per line, or CSV with an "address" column
    allowlist: str | None = None


class PolicyDoc(_Frozen):
    version: Literal[1]
    name: str
    safe: str
    module: str | None = None
    guardian: str | None = None
    kill_switch: bool = False
    screening: ScreeningSpec = Field(default_factory=ScreeningSpec)
    sets: dict[str, list[Scalar]] = Field(default_factory=dict)
    allowances: dict[str, AllowanceSpec] = Field(default_factory=dict)
    roles: list[RoleSpec] = Field(default_factory=list)


# ------------------------------------------------------------------------------- parsing


def _header_names(h: str) -> list[str]:
    return [s.strip().strip('"').strip("'") for s in re.findall(r'"[^"]*"|\'[^\']*\'|[^.]+', h)]


def _tables(text: str) -> list[tuple[tuple[Any, ...], int]]:
    """(indexed path, 1-based line) for every table header, e.g. (("roles", 0, "rules", 1), 40)."""
    out: list[tuple[tuple[Any, ...], int]] = [((), 1)]
    counts: dict[tuple[str, ...], int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        m = re.match(r"^\[\[(.+)\]\]", s) or re.match(r"^\[(.+)\]", s)
        if not m:
            continue
        names = _header_names(m.group(1))
        if s.startswith("[["):
            key = tuple(names)
            counts[key] = counts.get(key, 0) + 1
            for k in list(counts):
                if len(k) > len(key) and k[: len(key)] == key:
                    del counts[k]
        path: list[Any] = []
        for i, nm in enumerate(names):
            path.append(nm)
            if tuple(names[: i + 1]) in counts:
                path.append(counts[tuple(names[: i + 1])] - 1)
        out.append((tuple(path), n))
    return out


def find_line(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line of the value at ``loc`` (a pydantic error location)."""
    tables = _tables(text)
    lines = text.splitlines()
    best, start = (), 1
    for path, n in tables:
        if len(path) <= len(loc) and tuple(loc[: len(path)]) == path and len(path) >= len(best):
            best, start = path, n
    rest = [x for x in loc[len(best) :] if not isinstance(x, int)]
    # the table runs until the next header
    nxt = min([n for _p, n in tables if n > start] + [len(lines) + 1])
    for key in rest[:1]:
        pat = re.compile(r'^\s*("?' + re.escape(str(key)) + r'"?)\s*=')
        inline = re.compile(r'[{,]\s*"?' + re.escape(str(key)) + r'"?\s*=')
        for i in range(start - 1 if best else 0, nxt - 1):
            if pat.match(lines[i]) or inline.search(lines[i]):
                return i + 1
    return start if best else None


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for x in loc:
        out += f"[{x}]" if isinstance(x, int) else (("." if out else "") + str(x))
    return out or "(document)"


def parse_policy_text(text: str, path: str | Path = "<policy>") -> PolicyDoc:
    """TOML text -> PolicyDoc; any problem raises PolicyFileError(file, line, field)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        line = int(m.group(1)) if m else (len(text.splitlines()) or 1)
        raise PolicyFileError(str(path), line, "(syntax)", str(e), "fix the TOML syntax") from None
    try:
        return PolicyDoc.model_validate(raw)
    except PydanticError as e:
        err = e.errors()[0]
        loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x.startswith("function-")))
        # pydantic appends the union member tried ("int", "str"); drop those from the field.
        loc = tuple(x for x in loc if x not in ("int", "str", "decimal", "literal['1']"))
        raise PolicyFileError(
            str(path), find_line(text, loc), _field(loc), err["msg"], _fix(err)
        ) from None


def _fix(err: dict[str, Any]) -> str:
    t = err["type"]
    if t == "missing":
        return "add this field"
    if t == "extra_forbidden":
        return "remove it or check its spelling (see `agent policy init`)"
    if t.startswith("literal") and err["loc"][:1] == ("version",):
        return "set version = 1"
    return "see docs/policy.md for the format"


def read_policy_file(path: str | Path) -> tuple[PolicyDoc, str]:
    p = Path(path)
    if not p.exists():
        raise PolicyFileError(str(p), None, "(file)", "does not exist", "check the path")
    text = p.read_text()
    return parse_policy_text(text, p), text
