"""What the router hands to execution: a RoutePlan of child orders (the interface of issue 15,
fixed in helpers/SPEC-15.md; h15-exec builds the batch from these types, so the field names and
meanings here are a contract: add fields with defaults at the end, never rename).

All amounts are exact ``int`` base units; prices are ``Decimal`` quote per base in human units.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from agent.model import Side


class LegKind(StrEnum):
    AMM = "amm"
    CEX = "cex"
    L2_AMM = "l2_amm"  # a bridge hop + an L2 pool


@dataclass(frozen=True, slots=True)
class PlannedChild:
    client_order_id: str  # f"{parent_id}.{index}", stable for idempotency
    venue_id: str  # e.g. "uniswap_v3@l1:0xpool", "uniswap_v2@l1", "binance", "uniswap_v3@l2:0xpool"
    kind: LegKind
    chain_id: int | None  # None for CEX
    side: Side  # of the base asset, as the parent
    base_amount: int  # base units this child buys/sells (after tick/lot rounding)
    quote_amount: int  # expected quote units paid (BUY) / received (SELL), fees in, gas out
    fee_quote: int  # venue fee in quote units (included in quote_amount)
    gas_quote: int  # fixed cost in quote units (gas; + bridge fee and time cost for L2 legs)
    avg_price: Decimal
    marginal_price: Decimal  # all-in marginal price at the end of this child's fill
    pin: str  # block number ("block:123") or order-book snapshot id/timestamp
    venue_ref: Any = None  # venue-specific build data (pool address, fee tier, path, symbol, ...)


@dataclass(frozen=True, slots=True)
class RoutePlan:
    parent_id: str
    side: Side
    base: str  # symbols
    quote: str
    size: int  # requested, base units
    limit_price: Decimal | None
    children: tuple[PlannedChild, ...]
    unfilled: int  # base units that cannot be filled within the limit / liquidity
    total_quote: int  # sum of quote_amount + gas_quote over children (all-in)
    excluded: tuple[tuple[str, str], ...]  # (venue_id, reason) left out (stale book, error, ...)
    best_single: tuple[str, int] | None  # (venue_id, all-in quote total) of the best single venue

    @property
    def filled(self) -> int:
        """Base units the plan fills (``size - unfilled``)."""
        return sum(c.base_amount for c in self.children)
