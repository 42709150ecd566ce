"""The market maker's inventory: positions per series (its own, signed: long > 0) including
quotes that are out and may still be filled, and the limits it quotes within."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from agent.errors import ValidationError


@dataclass(frozen=True, slots=True)
class InventoryLimits:
    """``max_position``: per series, whole underlying units (absolute).
    ``max_delta``: net delta of the whole book, in whole underlying units (absolute)."""

    max_position: Decimal
    max_delta: Decimal

    def __post_init__(self) -> None:
        if not isinstance(self.max_position, Decimal) or self.max_position <= 0:
            raise ValidationError(
                "limits.max_position", f"{self.max_position} must be a Decimal > 0"
            )
        if not isinstance(self.max_delta, Decimal) or self.max_delta <= 0:
            raise ValidationError("limits.max_delta", f"{self.max_delta} must be a Decimal > 0")


@dataclass(frozen=True, slots=True)
class Outstanding:
    series_id: int
    change: int  # signed change to the maker's position if filled
    nonce: int
    expiry: int


@dataclass
class Inventory:
    positions: dict[int, int] = field(default_factory=dict)
    outstanding: dict[int, Outstanding] = field(default_factory=dict)  # by nonce
    # underlying held by hedges, per underlying address (whole units, signed)
    hedge_delta: dict[str, Decimal] = field(default_factory=dict)

    def exposure(self, series_id: int) -> int:
        """Position if every outstanding quote fills (the conservative view)."""
        pending = sum(o.change for o in self.outstanding.values() if o.series_id == series_id)
        return self.positions.get(series_id, 0) + pending

    def series_ids(self) -> set[int]:
        return set(self.positions) | {o.series_id for o in self.outstanding.values()}

    def reserve(self, o: Outstanding) -> None:
        self.outstanding[o.nonce] = o

    def resolve(self, nonce: int, filled: bool) -> None:
        o = self.outstanding.pop(nonce, None)
        if o is not None and filled:
            self.positions[o.series_id] = self.positions.get(o.series_id, 0) + o.change

    def expired(self, now: int) -> list[Outstanding]:
        return [o for o in self.outstanding.values() if o.expiry < now]
