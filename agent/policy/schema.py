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
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticError

from agent.policy.errors import PolicyFileError

Ack = Literal[
    "unlimited-approval",
    "calls-safe",
    "delegatecall",
    "no-price-bound",
    "no-counterparty-set",
    "no-value-guard",
]
Scalar = int | str


def _exact_decimal(v: Any) -> Any:
    """Amounts are exact: a TOML integer or a string of digits ("5000000", "0.5"); a float
    (binary, inexact) or a boolean is refused rather than rounded."""
    if isinstance(v, (bool, float)):
        raise ValueError(f'{v!r}: write the amount as a string ("0.5") or an integer')
    if isinstance(v, int):
        return Decimal(v)
    if isinstance(v, str):
        try:
            d = Decimal(v.strip().replace("_", ""))
        except ArithmeticError:
            raise ValueError(f"{v!r} is not a number") from None
        if not d.is_finite():
            raise ValueError(f"{v!r} is not a finite number")
        return d
    return v


Amount = Annotated[Decimal, BeforeValidator(_exact_decimal)]
_DURATION = re.compile(r"(\d+)\s*([smhdw]?)")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_seconds(v: str | int) -> int:
    """ "1d", "12h", "30m", "3600s" (or an integer of seconds) -> seconds."""
    if isinstance(v, int):
        return v
    m = _DURATION.fullmatch(v.strip())
    if not m:
        raise ValueError(f"{v!r} is not like 1d, 12h, 30m, 3600s")
    return int(m.group(1)) * _UNIT[m.group(2)]


def _duration(v: str | int) -> str | int:
    s = duration_seconds(v)
    if not 0 <= s < 2**32:
        raise ValueError("seconds must be 0..2^32-1")
    return v


class _Frozen(BaseModel):
    # strict: `kill_switch = "yes"`, `id = "1"`, `max_slippage_bps = "200"` are type errors,
    # not coerced (amounts are exact decimals through Amount above).
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


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


class OptionsSpec(_Frozen):
    """OptionsMarket.fillQuotes bounds, enforced by the OptionsFillChecker and its mirror."""

    counterparties: str  # set of maker addresses
    assets: str  # set: a series' underlying and quote asset must both be members
    max_time_value_bps: int = Field(ge=0, le=65535)  # of spot, over intrinsic, when buying
    min_expiry: str | int = "0d"
    max_expiry: str | int | None = None  # None = no maximum

    @field_validator("min_expiry", "max_expiry")
    @classmethod
    def _days(cls, v: str | int | None) -> str | int | None:
        if v is None:
            return v
        s = duration_seconds(v)
        if s % 86400 or not 0 <= s // 86400 <= 255:
            raise ValueError(f"{v!r}: whole days, 0d..255d")
        return v

    @property
    def min_days(self) -> int:
        return duration_seconds(self.min_expiry) // 86400

    @property
    def max_days(self) -> int:
        return 0 if self.max_expiry is None else duration_seconds(self.max_expiry) // 86400


class RuleSpec(_Frozen):
    target: str
    function: str
    max_value: Amount = Decimal(0)  # native units (ETH), per call
    where: dict[str, ConditionSpec] = Field(default_factory=dict)
    slippage: SlippageSpec | None = None
    options: OptionsSpec | None = None
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
    second_signer_above_usd: Amount | None = None
    trading_hours: HoursSpec | None = None
    # the co-signer (agent cosigner run) whose signature every call of this role needs on-chain
    requires_cosigner: str | None = None
    rules: list[RuleSpec] = Field(default_factory=list)


class AllowanceSpec(_Frozen):
    token: str
    amount: Amount  # human units of the token
    period: str | int  # "1d", "12h", "30m", "3600s" or seconds

    @field_validator("amount")
    @classmethod
    def _pos(cls, v: Decimal) -> Decimal:
        if v < 0:
            raise ValueError("must be >= 0")
        return v

    @property
    def period_seconds(self) -> int:
        return duration_seconds(self.period)

    @field_validator("period")
    @classmethod
    def _period(cls, v: str | int) -> str | int:
        return _duration(v)


class OracleSpec(_Frozen):
    """A token's USD feed: a manifest name (PriceFeedWETH) or 0x address, the decimals its
    answers have (required: a feed reporting other decimals denies), the oldest answer
    accepted."""

    feed: str
    decimals: int = Field(ge=0, le=36)
    max_age: str | int

    @field_validator("max_age")
    @classmethod
    def _age(cls, v: str | int) -> str | int:
        _duration(v)
        if duration_seconds(v) == 0:
            raise ValueError("must be > 0 (an answer of age 0 is never available)")
        return v

    @property
    def max_age_seconds(self) -> int:
        return duration_seconds(self.max_age)


class ValueGuardSpec(_Frozen):
    assets: list[str] = Field(min_length=1)  # each needs an [oracles] entry
    max_loss_bps: int = Field(ge=0, le=10_000)  # per execution, of the value that left
    budget_bps: int = Field(ge=0, le=10_000)  # per window, of the window's starting value
    period: str | int

    @field_validator("period")
    @classmethod
    def _period(cls, v: str | int) -> str | int:
        _duration(v)
        if duration_seconds(v) == 0:
            raise ValueError("must be > 0")
        return v

    @property
    def period_seconds(self) -> int:
        return duration_seconds(self.period)


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
    oracles: dict[str, OracleSpec] = Field(default_factory=dict)
    value_guard: ValueGuardSpec | None = None
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
        loc = tuple(
            x
            for x in loc
            if x not in ("int", "str", "decimal", "literal['1']", "none")
            and not (isinstance(x, str) and x.startswith(("function-", "literal[")))
        )
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
    if t in ("bool_type", "int_type", "string_type", "list_type", "dict_type", "model_type"):
        kind = {"bool_type": "true or false (no quotes)", "int_type": "an integer (no quotes)",
                "string_type": "a quoted string", "list_type": "a list [...]",
                "dict_type": "a table", "model_type": "a table"}[t]  # fmt: skip
        return f"write {kind}"
    return "see docs/policy.md for the format"


def read_policy_file(path: str | Path) -> tuple[PolicyDoc, str]:
    p = Path(path)
    if not p.exists():
        raise PolicyFileError(str(p), None, "(file)", "does not exist", "check the path")
    if not p.is_file():
        raise PolicyFileError(
            str(p), None, "(file)", "is a directory, not a policy file", "name the .toml file"
        )
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise PolicyFileError(
            str(p), None, "(file)", f"cannot be read: {e}", "check the file"
        ) from None
    return parse_policy_text(text, p), text
