"""Positions across venues (CEX accounts and on-chain wallets), as immutable value objects.

A position's ``size`` is signed (+ long, - short) and in units of the instrument: the base
asset for spot and perpetuals, contracts for options (each on ``multiplier`` units of the
underlying). Decimal throughout: this is what the books and the journal say, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from agent.errors import ValidationError
from agent.model.instruments import Instrument, OptionContract, Perpetual, Spot


def underlying_of(instrument: Instrument) -> str:
    """The asset whose price drives the instrument (ETH for ETH/USDC, an ETH perp or option)."""
    if isinstance(instrument, OptionContract):
        return instrument.underlying
    if isinstance(instrument, Spot | Perpetual):
        return instrument.base
    raise ValidationError("instrument", f"unsupported instrument {instrument!r}")


@dataclass(frozen=True, slots=True)
class Position:
    """A holding of one instrument at one venue (``venue`` is e.g. ``deribit`` or ``safe@L1``)."""

    instrument: Instrument
    size: Decimal
    venue: str
    entry_price: Decimal | None = None  # perps: average entry, for unrealized PnL
    multiplier: Decimal = Decimal(1)  # options: underlying units per contract

    def __post_init__(self) -> None:
        name = f"position[{self.instrument.symbol}@{self.venue}]"
        if not self.venue:
            raise ValidationError(f"{name}.venue", "is empty", "name the venue or wallet")
        if not isinstance(self.size, Decimal) or not self.size.is_finite() or self.size == 0:
            raise ValidationError(
                f"{name}.size", f"{self.size} must be a non-zero finite Decimal", "e.g. -2.5"
            )
        if not isinstance(self.multiplier, Decimal) or not (
            self.multiplier.is_finite() and self.multiplier > 0
        ):
            raise ValidationError(f"{name}.multiplier", f"{self.multiplier} must be > 0")
        if self.entry_price is not None and not (
            self.entry_price.is_finite() and self.entry_price > 0
        ):
            raise ValidationError(f"{name}.entry_price", f"{self.entry_price} must be > 0")
        if isinstance(self.instrument, Perpetual) and self.entry_price is None:
            raise ValidationError(
                f"{name}.entry_price", "is required for a perpetual", "give the average entry"
            )

    @property
    def underlying(self) -> str:
        return underlying_of(self.instrument)


@dataclass(frozen=True, slots=True)
class Portfolio:
    """Positions plus collateral (cash per asset, e.g. USDC at a CEX and in the Safe)."""

    positions: tuple[Position, ...]
    collateral: tuple[tuple[str, Decimal], ...] = ()

    def __post_init__(self) -> None:
        for asset, amount in self.collateral:
            if not isinstance(amount, Decimal) or not amount.is_finite():
                raise ValidationError(f"collateral[{asset}]", f"{amount} is not a finite number")
