"""Allowance windows, exactly as PolicyModule computes them (fixed windows; at each period
boundary the balance is restored to the cap)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AllowanceState:
    balance: int
    cap: int
    period: int
    last_refill: int

    def refilled(self, now: int) -> AllowanceState:
        if self.period and now >= self.last_refill + self.period:
            windows = (now - self.last_refill) // self.period
            return AllowanceState(
                self.cap, self.cap, self.period, self.last_refill + windows * self.period
            )
        return self

    def spend(self, amount: int, now: int) -> AllowanceState | None:
        """The state after spending ``amount``, or None when it exceeds the balance."""
        s = self.refilled(now)
        if amount > s.balance:
            return None
        return AllowanceState(s.balance - amount, s.cap, s.period, s.last_refill)
