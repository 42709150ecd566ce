"""The resolved policy: addresses, selectors, word positions, base units. Built by
:func:`agent.policy.resolve.load_policy`; read by the evaluator and the compiler.

Status codes and condition operators mirror contracts/policy/PolicyModule.sol one to one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import IntEnum

from agent.policy.abi import FunctionSig, Location


class Op(IntEnum):
    EQ = 1
    LE = 2
    GE = 3
    IS_SAFE = 4
    IN_SET = 5
    ALLOWANCE = 6
    ARRAY_IN_SET = 7
    PATH_IN_SET = 8


class Status(IntEnum):
    """PolicyModule's revert status; the name is the stable Deny code suffix."""

    NOT_OPERATOR = 1
    PAUSED = 2
    UNAUTHORIZED = 3
    DELEGATECALL_NOT_ALLOWED = 4
    FUNCTION_NOT_ALLOWED = 5
    VALUE_TOO_HIGH = 6
    CALLDATA_TOO_SHORT = 7
    PARAM_NOT_EQUAL = 8
    PARAM_TOO_HIGH = 9
    PARAM_TOO_LOW = 10
    PARAM_NOT_SAFE = 11
    PARAM_NOT_IN_SET = 12
    ALLOWANCE_EXCEEDED = 13
    PATH_NOT_IN_SET = 14
    MALFORMED = 15
    EXECUTION_FAILED = 16
    INVALID_CONFIG = 17

    @property
    def code(self) -> str:
        return f"POLICY_{self.name}"


# Deny codes of the rules that exist only off-chain (docs/policy.md says why).
OFFCHAIN_CODES = (
    "POLICY_KILL_SWITCH",
    "POLICY_CHAIN_NOT_ALLOWED",
    "POLICY_OUTSIDE_TRADING_HOURS",
    "POLICY_COUNTERPARTY_DENYLISTED",
    "POLICY_SLIPPAGE_TOO_HIGH",
    "POLICY_NO_REFERENCE_PRICE",
    "POLICY_SECOND_SIGNER_REQUIRED",
    "POLICY_OFFCHAIN_ONLY_DELEGATECALL",
)


@dataclass(frozen=True, slots=True)
class Condition:
    op: Op
    word: int
    aux: int = 0  # set id / allowance id
    value: int = 0
    param: str = ""  # parameter path, for people
    source: str = ""  # "where.params.recipient.is_safe" or "canonical offset of params.path"


@dataclass(frozen=True, slots=True)
class Slippage:
    amount_in: Location  # exact output: the exact amount out
    min_out: Location  # exact output: the maximum in
    token_in: Location | str  # location, or a fixed token address
    token_in_end: int  # 0 = first element, -1 = last (for paths)
    token_out: Location | str
    token_out_end: int
    exact_out: bool = False

    @property
    def amount(self) -> Location:
        """The exact amount: in for exact input, out for exact output."""
        return self.amount_in

    @property
    def bound(self) -> Location:
        """The slippage bound: minimum out, or maximum in for exact output."""
        return self.min_out


@dataclass(frozen=True, slots=True)
class Hours:
    days: frozenset[int]  # 0 = Monday
    start_min: int
    end_min: int


@dataclass(frozen=True)
class Rule:
    role_id: int
    label: str  # "roles[trader].rules[0] SwapRouter.exactInputSingle"
    target: str  # checksummed
    target_name: str
    sig: FunctionSig
    max_value: int  # wei
    conditions: tuple[Condition, ...]
    address_words: tuple[tuple[str, int], ...]  # (param, word) screened against the denylist
    slippage: Slippage | None = None
    delegatecall: bool = False
    offchain_only: bool = False

    @property
    def selector(self) -> bytes:
        return self.sig.selector


@dataclass(frozen=True, slots=True)
class Role:
    id: int
    name: str
    operators: frozenset[str]  # lower-case hex
    chains: frozenset[int]
    multisend: bool
    max_slippage_bps: int | None
    second_signer_above_usd: Decimal | None
    hours: Hours | None


@dataclass(frozen=True, slots=True)
class AllowanceDef:
    id: int
    name: str
    token: str
    symbol: str
    decimals: int
    cap: int  # base units
    period: int  # seconds


@dataclass(frozen=True, slots=True)
class SetDef:
    id: int
    name: str
    values: frozenset[int]


@dataclass(frozen=True)
class Policy:
    name: str
    chain_id: int
    safe: str
    module: str | None
    guardian: str | None
    multisend: str | None
    kill_switch: bool
    roles: dict[int, Role]
    operators: dict[str, int]  # lower-case operator -> role id
    rules: dict[tuple[int, str, bytes], Rule]  # (role, lower target, selector)
    sets: dict[int, SetDef]
    allowances: dict[int, AllowanceDef]
    denylist: frozenset[str] = field(default_factory=frozenset)
    allowlist: frozenset[str] = field(default_factory=frozenset)
    source: str = ""
    names: dict[str, str] = field(default_factory=dict)  # lower address -> name, for people
    symbols: dict[str, str] = field(default_factory=dict)  # lower token address -> symbol
    abis: dict[str, str] = field(default_factory=dict)  # lower address -> abis/<name>.json
    decimals: dict[str, int] = field(default_factory=dict)  # lower token address -> decimals

    def name_of(self, address: str) -> str:
        return self.names.get(address.lower(), address)
