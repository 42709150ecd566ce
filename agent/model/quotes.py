from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from agent.model.enums import Side


@dataclass(frozen=True, slots=True)
class Quote:
    """An executable quote: what a venue would give for ``amount_in`` right now.

    Amounts are base units of the respective assets. ``gas_units`` and ``gas_cost_quote``
    let a router compare venues net of gas; ``block`` pins when the quote was taken.
    """

    venue: str
    side: Side
    asset_in: str
    asset_out: str
    amount_in: int
    amount_out: int
    fee_bps: int
    gas_units: int = 0
    block: int | None = None
    route: tuple[str, ...] = ()
    extra: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Fill:
    """An execution: ``amount_in`` of ``asset_in`` paid for ``amount_out`` of ``asset_out``."""

    venue: str
    order_id: str
    trade_id: str
    asset_in: str
    asset_out: str
    amount_in: int
    amount_out: int
    fee: int = 0
    fee_asset: str | None = None
    price: Decimal | None = None
