"""Schedules tied to the policy: before an algorithm starts, its projected spend per
allowance window (and its worst-case loss per value-guard window) is checked against what the
module will allow, so an algorithm never discovers a policy refusal in mid-flight by design.

The module's allowances refill in fixed windows (``lastRefill + k * period``, see
contracts/policy/PolicyModule.sol): the window in force now has its current ``balance``, every
later one its ``cap``. A schedule that a window cannot carry is refused up front naming the
window, or stretched (later slices moved to the next window's start) when the user asks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import ROUND_UP, Decimal
from typing import Any

from agent.algos.params import ZERO, AlgoParams
from agent.algos.schedule import Slice
from agent.model import Side


@dataclass(frozen=True, slots=True)
class Window:
    """One refilling budget: a token allowance (``asset`` a symbol) or the value guard's loss
    budget (``asset`` = "USD"). Amounts in human units of ``asset``."""

    name: str
    asset: str
    cap: Decimal
    period_s: int
    available: Decimal  # left in the window in force now
    window_start_ms: int  # start of the window in force now

    def index(self, t_ms: int) -> int:
        if self.period_s <= 0:
            return 0  # never refills: one window forever
        return max(0, (t_ms - self.window_start_ms) // (self.period_s * 1000))

    def bounds(self, k: int) -> tuple[int, int]:
        start = self.window_start_ms + k * self.period_s * 1000
        return start, start + self.period_s * 1000

    def capacity(self, k: int) -> Decimal:
        return self.available if k == 0 else self.cap


@dataclass(frozen=True, slots=True)
class FitRefusal:
    """Why a schedule does not fit: the window it breaks and by how much."""

    code: str
    window: str
    needed: Decimal
    available: Decimal
    asset: str
    window_start_ms: int
    window_end_ms: int

    @property
    def reason(self) -> str:
        def ts(ms: int) -> str:
            return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

        return (
            f"the schedule needs {self.needed:f} {self.asset} from {self.window} in the window "
            f"{ts(self.window_start_ms)} .. {ts(self.window_end_ms)}, which gives "
            f"{self.available:f}; lengthen the horizon, lower the size, or ask to stretch"
        )


def spend(p: AlgoParams, s: Slice, price: Decimal, asset: str) -> Decimal:
    """What slice ``s`` may take from an allowance of ``asset``: a buy spends the quote
    asset at up to ``price * (1 + slippage)`` (rounded up), a sell spends the base itself."""
    if asset == p.base and p.side is Side.SELL:
        return s.quantity
    if asset == p.quote and p.side is Side.BUY:
        bound = price * (1 + Decimal(p.max_slippage_bps) / 10_000)
        return (s.quantity * bound).quantize(Decimal("0.000001"), rounding=ROUND_UP)
    return ZERO


def worst_loss_usd(p: AlgoParams, s: Slice, price_usd: Decimal) -> Decimal:
    """The most slice ``s`` can lose within its slippage bound, in USD (what the value
    guard's window budget counts)."""
    return s.quantity * price_usd * Decimal(p.max_slippage_bps) / 10_000


def _per_window(
    p: AlgoParams, schedule: Sequence[Slice], w: Window, price: Decimal
) -> dict[int, Decimal]:
    need: dict[int, Decimal] = {}
    for s in schedule:
        amount = worst_loss_usd(p, s, price) if w.asset == "USD" else spend(p, s, price, w.asset)
        if amount:
            k = w.index(s.due_ms)
            need[k] = need.get(k, ZERO) + amount
    return need


def check(
    p: AlgoParams, schedule: Sequence[Slice], windows: Sequence[Window], prices: dict[str, Decimal]
) -> FitRefusal | None:
    """None if every window carries the schedule, else the first window it breaks.
    ``prices``: quote per base for allowances (key ``p.base``) and USD per base (key "USD")."""
    for w in windows:
        price = prices["USD"] if w.asset == "USD" else prices[p.base]
        for k, amount in sorted(_per_window(p, schedule, w, price).items()):
            if amount > w.capacity(k):
                start, end = w.bounds(k)
                code = "ALGO_VALUE_BUDGET" if w.asset == "USD" else "ALGO_ALLOWANCE_WINDOW"
                return FitRefusal(code, w.name, amount, w.capacity(k), w.asset, start, end)
    return None


def stretch(
    p: AlgoParams, schedule: Sequence[Slice], windows: Sequence[Window], prices: dict[str, Decimal]
) -> tuple[tuple[Slice, ...], FitRefusal | None]:
    """Move slices that overflow a window to the start of the next one (every later slice
    moves with them, keeping their spacing) until every window carries its share. A slice that
    alone exceeds a window's capacity cannot be stretched: that window is returned refused."""
    out = list(schedule)
    for w in windows:
        price = prices["USD"] if w.asset == "USD" else prices[p.base]
        used: dict[int, Decimal] = {}
        i = 0
        while i < len(out):
            s = out[i]
            one = _per_window(p, [s], w, price)
            amount = next(iter(one.values()), ZERO)
            k = w.index(s.due_ms)
            if used.get(k, ZERO) + amount <= w.capacity(k):
                used[k] = used.get(k, ZERO) + amount
                i += 1
                continue
            if amount > w.cap:
                start, end = w.bounds(k)
                return tuple(out), FitRefusal(
                    "ALGO_SLICE_TOO_LARGE", w.name, amount, w.cap, w.asset, start, end
                )
            shift = w.bounds(k + 1)[0] - s.due_ms
            out[i:] = [replace(x, due_ms=x.due_ms + shift) for x in out[i:]]
    return tuple(out), None


def allowance_windows(policy: Any, states: dict[int, Any], now_s: int) -> list[Window]:
    """The policy's token allowances as windows, from the module's state at ``now_s``
    (``states``: agent.policy.onchain.ModuleReader.allowance_states(); the balance shown is
    after any refill the module would apply at ``now_s``)."""
    out = []
    for aid, a in policy.allowances.items():
        st = states.get(aid)
        if st is None:
            continue
        st = st.refilled(now_s)
        scale = Decimal(10) ** -a.decimals
        out.append(
            Window(
                a.name, a.symbol, Decimal(a.cap) * scale, a.period,
                Decimal(st.balance) * scale, st.last_refill * 1000,
            )
        )  # fmt: skip
    return out
