"""Delta hedger: proposes orders that bring each underlying's delta back inside a band.

It only proposes: the proposals go through the gate and the OMS like any other order. The
hedge instrument (a spot pair or a perpetual, delta 1 per unit) and its venue are configured
per underlying; sizes are rounded down to the venue's lot size, so a hedge never overshoots.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from agent.errors import ValidationError
from agent.model.enums import Side
from agent.model.instruments import OptionContract, Perpetual, Spot
from agent.risk.checks.types import OrderProposal
from agent.risk.portfolio import UnderlyingGreeks


@dataclass(frozen=True, slots=True)
class HedgeRoute:
    instrument: Spot | Perpetual
    venue: str
    lot: Decimal = Decimal("0.001")
    max_size: Decimal | None = None
    max_slippage_bps: int = 30  # the proposal's worst price: spot -+ this

    def __post_init__(self) -> None:
        if isinstance(self.instrument, OptionContract):
            raise ValidationError("hedge.instrument", "must be linear (spot or perpetual)")
        if not (self.lot.is_finite() and self.lot > 0):
            raise ValidationError("hedge.lot", f"{self.lot} must be > 0")


@dataclass(frozen=True, slots=True)
class HedgeConfig:
    """``band``: hedge only when |delta - target| exceeds it (underlying units), then all
    the way to ``target``."""

    routes: Mapping[str, HedgeRoute]
    band: Mapping[str, Decimal] = field(default_factory=dict)
    target: Mapping[str, Decimal] = field(default_factory=dict)


class DeltaHedger:
    def __init__(self, config: HedgeConfig) -> None:
        self.config = config

    def propose(self, greeks: Iterable[UnderlyingGreeks], now: datetime) -> list[OrderProposal]:
        out = []
        for g in greeks:
            route = self.config.routes.get(g.underlying)
            if route is None:
                continue
            target = self.config.target.get(g.underlying, Decimal(0))
            band = self.config.band.get(g.underlying, Decimal(0))
            excess = Decimal(repr(g.delta)) - target
            if abs(excess) <= band:
                continue
            size = (abs(excess) / route.lot).to_integral_value(rounding=ROUND_DOWN) * route.lot
            if route.max_size is not None:
                size = min(size, route.max_size)
            if size <= 0:
                continue
            side = Side.SELL if excess > 0 else Side.BUY
            spot = Decimal(repr(g.spot))
            slip = Decimal(route.max_slippage_bps) / Decimal(10_000)
            worst = spot * (1 + slip if side is Side.BUY else 1 - slip)
            out.append(
                OrderProposal(
                    client_order_id=f"hedge-{g.underlying}-{now:%Y%m%dT%H%M%S%f}",
                    instrument=route.instrument,
                    side=side,
                    size=size,
                    venue=route.venue,
                    price=worst.quantize(Decimal("1e-8")),
                )
            )
        return out
