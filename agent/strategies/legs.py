"""Strategy domain types. A strategy is a tuple of legs on one underlying/quote pair; the
named constructors check the shape that makes each one what it is (strikes ordered, same
expiry, ...) so that a malformed condor is refused before any quote is requested."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from agent.errors import ValidationError
from agent.model import OptionContract, OptionKind, Side


class StrategyKind(StrEnum):
    STRADDLE = "straddle"
    STRANGLE = "strangle"
    VERTICAL = "vertical"
    IRON_CONDOR = "iron_condor"
    CUSTOM = "custom"


@dataclass(frozen=True, slots=True)
class Leg:
    """One option leg: buy or sell ``size`` units of the underlying's worth of ``option``."""

    option: OptionContract
    side: Side
    size: Decimal

    def __post_init__(self) -> None:
        if not isinstance(self.size, Decimal) or not self.size.is_finite() or self.size <= 0:
            raise ValidationError("leg.size", f"{self.size} must be a positive Decimal", "e.g. 1.5")
        if not isinstance(self.option.strike, Decimal) or self.option.strike <= 0:
            raise ValidationError("leg.option.strike", f"{self.option.strike} must be > 0")
        if self.option.expiry.tzinfo is None:
            raise ValidationError("leg.option.expiry", "is naive", "give a UTC-aware datetime")

    @property
    def sign(self) -> int:
        """+1 long, -1 short."""
        return 1 if self.side is Side.BUY else -1


@dataclass(frozen=True, slots=True)
class Strategy:
    """A generic N-leg strategy on one underlying and quote asset."""

    name: str
    kind: StrategyKind
    legs: tuple[Leg, ...]

    def __post_init__(self) -> None:
        if not self.legs:
            raise ValidationError("strategy.legs", "is empty", "give at least one leg")
        u = {(leg.option.underlying, leg.option.quote) for leg in self.legs}
        if len(u) != 1:
            raise ValidationError(
                "strategy.legs",
                f"mixes underlyings/quotes {sorted(u)}",
                "one strategy trades one underlying against one quote asset",
            )
        keys = [(leg.option, leg.side) for leg in self.legs]
        if len(set(keys)) != len(keys):
            raise ValidationError("strategy.legs", "repeats a leg", "merge equal legs into one")

    @property
    def underlying(self) -> str:
        return self.legs[0].option.underlying

    @property
    def quote(self) -> str:
        return self.legs[0].option.quote

    @classmethod
    def custom(cls, name: str, legs: list[Leg] | tuple[Leg, ...]) -> Strategy:
        return cls(name, StrategyKind.CUSTOM, tuple(legs))


def _opt(u: str, q: str, strike: Decimal, expiry: datetime, kind: OptionKind) -> OptionContract:
    return OptionContract(u, q, strike, expiry, kind)


def _size(size: Decimal) -> Decimal:
    if not isinstance(size, Decimal) or not size.is_finite() or size <= 0:
        raise ValidationError("size", f"{size} must be a positive Decimal", "e.g. Decimal('1')")
    return size


def straddle(
    underlying: str, quote: str, strike: Decimal, expiry: datetime, size: Decimal, side: Side
) -> Strategy:
    """Call and put at one strike, both bought (long) or both sold (short)."""
    size = _size(size)
    legs = (
        Leg(_opt(underlying, quote, strike, expiry, OptionKind.CALL), side, size),
        Leg(_opt(underlying, quote, strike, expiry, OptionKind.PUT), side, size),
    )
    return Strategy(f"{side.value} {underlying} {strike} straddle", StrategyKind.STRADDLE, legs)


def strangle(
    underlying: str,
    quote: str,
    put_strike: Decimal,
    call_strike: Decimal,
    expiry: datetime,
    size: Decimal,
    side: Side,
) -> Strategy:
    """Out-of-the-money put and call (put strike below call strike), same side."""
    size = _size(size)
    if not put_strike < call_strike:
        raise ValidationError(
            "put_strike", f"{put_strike} is not below call_strike {call_strike}", "swap them"
        )
    legs = (
        Leg(_opt(underlying, quote, put_strike, expiry, OptionKind.PUT), side, size),
        Leg(_opt(underlying, quote, call_strike, expiry, OptionKind.CALL), side, size),
    )
    name = f"{side.value} {underlying} {put_strike}/{call_strike} strangle"
    return Strategy(name, StrategyKind.STRANGLE, legs)


def vertical_spread(
    underlying: str,
    quote: str,
    kind: OptionKind,
    long_strike: Decimal,
    short_strike: Decimal,
    expiry: datetime,
    size: Decimal,
) -> Strategy:
    """Buy one strike and sell another of the same kind and expiry (bull/bear, call/put)."""
    size = _size(size)
    if long_strike == short_strike:
        raise ValidationError("short_strike", "equals long_strike", "use two different strikes")
    legs = (
        Leg(_opt(underlying, quote, long_strike, expiry, kind), Side.BUY, size),
        Leg(_opt(underlying, quote, short_strike, expiry, kind), Side.SELL, size),
    )
    name = f"{underlying} {long_strike}/{short_strike} {kind.value} vertical"
    return Strategy(name, StrategyKind.VERTICAL, legs)


def iron_condor(
    underlying: str,
    quote: str,
    strikes: tuple[Decimal, Decimal, Decimal, Decimal],
    expiry: datetime,
    size: Decimal,
    side: Side = Side.SELL,
) -> Strategy:
    """Strikes k1 < k2 < k3 < k4: put spread k1/k2 and call spread k3/k4. ``side=SELL`` (the
    usual short condor) sells k2 put and k3 call and buys the k1 put and k4 call wings."""
    size = _size(size)
    k1, k2, k3, k4 = strikes
    if not k1 < k2 <= k3 < k4:
        raise ValidationError(
            "strikes", f"{k1}, {k2}, {k3}, {k4} are not ordered k1 < k2 <= k3 < k4",
            "give the long put wing, short put, short call, long call wing in that order",
        )  # fmt: skip
    body, wing = side, side.opposite
    legs = (
        Leg(_opt(underlying, quote, k1, expiry, OptionKind.PUT), wing, size),
        Leg(_opt(underlying, quote, k2, expiry, OptionKind.PUT), body, size),
        Leg(_opt(underlying, quote, k3, expiry, OptionKind.CALL), body, size),
        Leg(_opt(underlying, quote, k4, expiry, OptionKind.CALL), wing, size),
    )
    name = f"{side.value} {underlying} {k1}/{k2}/{k3}/{k4} iron condor"
    return Strategy(name, StrategyKind.IRON_CONDOR, legs)
