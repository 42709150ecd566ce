"""Balances and positions per API key, moved only in pairs so totals are conserved.

Spot: the taker and maker exchange base for quote; the fee is cut from what each receives and
credited to :data:`FEE_ACCOUNT`. Derivatives (linear, settled in the quote currency): cash moves
at the trade price (premium for options, cost basis for perpetuals), positions are signed and
net to zero across accounts; equity marks positions to market.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

ZERO = Decimal(0)
FEE_ACCOUNT = "__fees__"
FEE_QUANTUM = Decimal("0.00000001")


def fee_of(amount: Decimal, rate: Decimal) -> Decimal:
    return (amount * rate).quantize(FEE_QUANTUM, rounding=ROUND_DOWN)


class InsufficientFunds(Exception):
    def __init__(self, account: str, asset: str, need: Decimal, have: Decimal) -> None:
        super().__init__(f"{account}: needs {need} {asset}, has {have}")
        self.asset, self.need, self.have = asset, need, have


@dataclass(frozen=True, slots=True)
class BalanceView:
    asset: str
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


class Ledger:
    def __init__(self) -> None:
        self._free: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        self._locked: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        self._pos: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))

    # --- reads -------------------------------------------------------------------------
    def accounts(self) -> list[str]:
        return sorted(set(self._free) | set(self._locked) | set(self._pos))

    def free(self, account: str, asset: str) -> Decimal:
        return self._free[account][asset]

    def locked(self, account: str, asset: str) -> Decimal:
        return self._locked[account][asset]

    def balances(self, account: str) -> list[BalanceView]:
        assets = sorted(set(self._free[account]) | set(self._locked[account]))
        return [BalanceView(a, self._free[account][a], self._locked[account][a]) for a in assets]

    def position(self, account: str, instrument: str) -> Decimal:
        return self._pos[account][instrument]

    def positions(self, account: str) -> dict[str, Decimal]:
        return {k: v for k, v in self._pos[account].items() if v != 0}

    def total(self, asset: str) -> Decimal:
        """Sum over every account, fees included: constant under trading (the property)."""
        return sum((self._free[a][asset] + self._locked[a][asset] for a in self.accounts()), ZERO)

    def open_interest_sum(self, instrument: str) -> Decimal:
        return sum((self._pos[a][instrument] for a in self.accounts()), ZERO)

    # --- writes ------------------------------------------------------------------------
    def deposit(self, account: str, asset: str, amount: Decimal) -> None:
        self._free[account][asset] += amount

    def lock(self, account: str, asset: str, amount: Decimal) -> None:
        have = self._free[account][asset]
        if amount > have:
            raise InsufficientFunds(account, asset, amount, have)
        self._free[account][asset] = have - amount
        self._locked[account][asset] += amount

    def release(self, account: str, asset: str, amount: Decimal) -> None:
        if amount:
            self._locked[account][asset] -= amount
            self._free[account][asset] += amount

    def move_locked(self, src: str, dst: str, asset: str, amount: Decimal) -> None:
        """From ``src``'s locked funds to ``dst``'s free funds."""
        self._locked[src][asset] -= amount
        self._free[dst][asset] += amount

    def move_free(self, src: str, dst: str, asset: str, amount: Decimal) -> None:
        self._free[src][asset] -= amount
        self._free[dst][asset] += amount

    def add_position(self, account: str, instrument: str, delta: Decimal) -> None:
        self._pos[account][instrument] += delta

    def close_position(self, account: str, instrument: str) -> Decimal:
        return self._pos[account].pop(instrument, ZERO)
