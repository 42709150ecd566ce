from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from agent.model.enums import OptionKind


@dataclass(frozen=True, slots=True)
class Spot:
    base: str
    quote: str

    @property
    def symbol(self) -> str:
        return f"{self.base}/{self.quote}"


@dataclass(frozen=True, slots=True)
class Perpetual:
    base: str
    quote: str
    settle: str

    @property
    def symbol(self) -> str:
        return f"{self.base}/{self.quote}:{self.settle}"


@dataclass(frozen=True, slots=True)
class OptionContract:
    """A European option. ``expiry`` is timezone-aware UTC."""

    underlying: str
    quote: str
    strike: Decimal
    expiry: datetime
    kind: OptionKind

    @property
    def symbol(self) -> str:
        k = "C" if self.kind is OptionKind.CALL else "P"
        return f"{self.underlying}-{self.expiry:%d%b%y}-{self.strike.normalize():f}-{k}".upper()


Instrument = Spot | Perpetual | OptionContract
