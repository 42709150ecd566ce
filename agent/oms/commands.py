"""Commands: what someone asks the OMS to do, imperative. Never journaled as such: the OMS
turns each into events (or a typed error)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from agent.errors import ValidationError
from agent.model import OrderType, Side, TimeInForce, TradingState


@dataclass(frozen=True, slots=True)
class SubmitOrder:
    """Place an order. ``client_order_id`` is the idempotency key: submitting the same command
    twice yields the same order, never a second execution."""

    client_order_id: str
    instrument: str
    side: Side
    quantity: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.IOC
    venue: str = ""
    parent_id: str | None = None
    reduce_only: bool = False
    max_slippage_bps: int | None = None
    strategy: str = ""

    def __post_init__(self) -> None:
        cid = self.client_order_id
        if not isinstance(cid, str) or not cid or len(cid) > 64 or not cid.isprintable():
            raise ValidationError(
                "client_order_id", f"{cid!r} is invalid", "use 1-64 printable characters"
            )
        if not self.instrument:
            raise ValidationError("instrument", "is empty", "e.g. WETH/USDC")
        if not isinstance(self.side, Side):
            raise ValidationError("side", f"{self.side!r} is not buy or sell")
        q = self.quantity
        if not isinstance(q, Decimal) or not q.is_finite() or q <= 0:
            raise ValidationError("quantity", f"{q} must be a positive number", "e.g. 1.5")
        if self.order_type is OrderType.LIMIT:
            p = self.limit_price
            if not isinstance(p, Decimal) or not p.is_finite() or p <= 0:
                raise ValidationError(
                    "limit_price", f"{p} must be a positive number for a limit order"
                )
        elif self.limit_price is not None:
            raise ValidationError("limit_price", "is set on a market order", "drop it or use LIMIT")
        if self.parent_id == cid:
            raise ValidationError("parent_id", "is the order itself")


@dataclass(frozen=True, slots=True)
class CancelOrder:
    client_order_id: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SetTradingState:
    state: TradingState
    reason: str = ""
    by: str = ""
