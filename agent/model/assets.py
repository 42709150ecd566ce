from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Context, Decimal

from agent.errors import ValidationError


@dataclass(frozen=True, slots=True)
class Asset:
    """A fungible asset. ``address`` is None for a chain's native coin or an off-chain asset."""

    symbol: str
    decimals: int
    chain_id: int | None = None
    address: str | None = None

    def __post_init__(self) -> None:
        if not self.symbol:
            raise ValidationError("asset.symbol", "is empty", "give the ticker, e.g. USDC")
        if not 0 <= self.decimals <= 36:
            raise ValidationError(
                f"asset[{self.symbol}].decimals", f"{self.decimals} is outside 0..36"
            )

    def to_base(self, amount: Decimal) -> int:
        return to_base_units(amount, self.decimals)

    def from_base(self, units: int) -> Decimal:
        return from_base_units(units, self.decimals)


# uint256 has 78 digits; the default Decimal context keeps 28 and would round silently.
EXACT = Context(prec=100, Emin=-999_999, Emax=999_999)


def to_base_units(amount: Decimal, decimals: int, *, field: str = "amount") -> int:
    """Exact conversion; refuses amounts with more precision than the asset has rather than
    silently rounding what will be signed."""
    if not isinstance(amount, Decimal):
        raise ValidationError(field, f"must be a Decimal, got {type(amount).__name__}")
    if not amount.is_finite():
        raise ValidationError(field, f"{amount} is not a finite number")
    scaled = amount.scaleb(decimals, context=EXACT)
    if scaled != scaled.to_integral_value(rounding=ROUND_DOWN):
        raise ValidationError(
            field, f"{amount} has more than {decimals} decimal places", "round it first"
        )
    return int(scaled)


def from_base_units(units: int, decimals: int) -> Decimal:
    return Decimal(units).scaleb(-decimals, context=EXACT)
