from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from agent.errors import ValidationError
from agent.model.enums import Side

MAX_BPS = 10_000


@dataclass(frozen=True, slots=True)
class SwapIntent:
    """ "buy 250 WETH with USDC within 30 bps": the fund's wish, before any routing.

    ``size`` is in units of ``base`` (the asset bought or sold); ``quote`` is what pays or is
    received. ``client_id`` makes resubmission idempotent.
    """

    client_id: str
    side: Side
    base: str
    quote: str
    size: Decimal
    max_slippage_bps: int

    def __post_init__(self) -> None:
        if not self.client_id:
            raise ValidationError("intent.client_id", "is empty", "give a unique id")
        if not isinstance(self.size, Decimal) or not self.size.is_finite() or self.size <= 0:
            raise ValidationError(
                "intent.size", f"{self.size} must be a positive number", "e.g. --size 1.5"
            )
        if not isinstance(self.max_slippage_bps, int) or not (
            0 <= self.max_slippage_bps <= MAX_BPS
        ):
            raise ValidationError(
                "intent.max_slippage_bps",
                f"{self.max_slippage_bps} is outside 0..{MAX_BPS}",
                "give basis points, e.g. 30 for 0.30%",
            )
        if self.base == self.quote:
            raise ValidationError("intent.quote", f"is the same asset as base ({self.base})")
