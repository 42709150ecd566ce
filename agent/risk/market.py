"""Market inputs of the risk math: spot, vol, rates per underlying, each with a timestamp.

Prices arrive as Decimal from venues and config; here they become floats because everything
downstream is risk math (see DESIGN.md). Each field is validated once, by name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from agent.errors import ValidationError

SECONDS_PER_YEAR = 365.0 * 86400.0


def _pos(name: str, v: float | Decimal) -> float:
    f = float(v)
    if not math.isfinite(f) or f <= 0:
        raise ValidationError(name, f"{v} must be a positive finite number")
    return f


def _fin(name: str, v: float | Decimal) -> float:
    f = float(v)
    if not math.isfinite(f):
        raise ValidationError(name, f"{v} is not a finite number")
    return f


@dataclass(frozen=True, slots=True)
class UnderlyingMarket:
    """Spot (quote currency per unit), ATM vol (annualized), rate and carry (continuous)."""

    spot: float
    vol: float
    as_of: datetime
    rate: float = 0.0
    carry: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "spot", _pos("market.spot", self.spot))
        object.__setattr__(self, "vol", _pos("market.vol", self.vol))
        object.__setattr__(self, "rate", _fin("market.rate", self.rate))
        object.__setattr__(self, "carry", _fin("market.carry", self.carry))
        if self.as_of.tzinfo is None:
            raise ValidationError("market.as_of", "is naive", "give a timezone-aware UTC time")


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """Market state at ``as_of``. ``option_vols`` overrides the flat vol per option symbol
    (a smile point); ``quote`` is the currency every value is expressed in."""

    as_of: datetime
    underlyings: Mapping[str, UnderlyingMarket]
    option_vols: Mapping[str, float] = field(default_factory=dict)
    quote: str = "USD"

    def __post_init__(self) -> None:
        if self.as_of.tzinfo is None:
            raise ValidationError("market.as_of", "is naive", "give a timezone-aware UTC time")
        for sym, v in self.option_vols.items():
            _pos(f"option_vols[{sym}]", v)

    def get(self, underlying: str) -> UnderlyingMarket:
        try:
            return self.underlyings[underlying]
        except KeyError:
            raise ValidationError(
                f"market[{underlying}]", "is missing", "add spot and vol for this underlying"
            ) from None

    def year_fraction(self, expiry: datetime) -> float:
        """ACT/365 years from ``as_of`` to ``expiry``; 0 once expired (intrinsic)."""
        return max(0.0, (expiry - self.as_of).total_seconds() / SECONDS_PER_YEAR)
