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
    CHECK = 9  # value = checker | param << 160: the module staticcalls an IPolicyChecker


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
    PRICE_OUT_OF_BOUNDS = 18
    FEED_MISSING = 19
    FEED_STALE = 20
    FEED_INVALID = 21
    COUNTERPARTY_NOT_ALLOWED = 22
    SERIES_NOT_ALLOWED = 23
    PREMIUM_OUT_OF_BOUNDS = 24
    TAKER_NOT_SAFE = 25
    VALUE_LOSS_EXCEEDED = 26
    LOSS_BUDGET_EXCEEDED = 27
    CHECK_FAILED = 28
    COSIGNATURE_REQUIRED = 29  # plain execute for a role that requires a co-signature
    COSIGNATURE_INVALID = 30  # not the co-signer's signature over this exact call
    COSIGNATURE_EXPIRED = 31
    COSIGNATURE_REPLAYED = 32

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
    "POLICY_QUOTE_NONCE_USED",  # a replay the module lets through to the market's own revert
    "POLICY_WITHDRAWAL_NOT_PROVEN",  # finalizeWithdrawal of an id the escrow holds no pending proof for
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


class CheckerKind(IntEnum):
    SWAP_PRICE = 1
    OPTIONS_FILL = 2
    BRIDGE_DEPOSIT = 3


CHECKER_NAMES = {
    CheckerKind.SWAP_PRICE: "SwapPriceChecker",
    CheckerKind.OPTIONS_FILL: "OptionsFillChecker",
    CheckerKind.BRIDGE_DEPOSIT: "BridgeDepositChecker",
}


@dataclass(frozen=True, slots=True)
class Checker:
    """An OP_CHECK condition, decoded: which checker contract, its uint96 param, and the
    param's fields (for the off-chain mirror and for people)."""

    kind: CheckerKind
    address: str  # checksummed
    param: int
    max_deviation_bps: int = 0  # swap price
    counterparty_set: int = 0  # options: set ids
    asset_set: int = 0
    max_time_value_bps: int = 0
    min_days: int = 0
    max_days: int = 0  # 0 = no maximum

    @property
    def value(self) -> int:
        return int(self.address, 16) | (self.param << 160)


@dataclass(frozen=True, slots=True)
class Oracle:
    token: str  # checksummed; the zero address = native ETH
    symbol: str
    feed: str  # checksummed AggregatorV3
    feed_name: str
    decimals: int  # the feed's answer decimals (checked against decimals() on-chain)
    max_age: int  # seconds
    token_decimals: int


@dataclass(frozen=True, slots=True)
class ValueGuard:
    tracked: tuple[str, ...]  # checksummed tokens, in the policy's order
    max_loss_bps: int
    budget_bps: int
    period: int  # seconds


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
    checker: Checker | None = None  # the rule's OP_CHECK condition (also in ``conditions``)

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
    cosigner: str | None = None  # checksummed; the module requires its co-signature


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
    oracles: dict[str, Oracle] = field(default_factory=dict)  # lower token address -> oracle
    value_guard: ValueGuard | None = None

    def name_of(self, address: str) -> str:
        return self.names.get(address.lower(), address)
