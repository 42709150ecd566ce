"""Cross-venue leg synchronization with a bounded unhedged exposure.

A strategy whose legs live on venues that cannot settle atomically together (options on a
CEX through ccxt and a delta hedge on Uniswap; a CEX perp against an on-chain spot leg) is
executed so that its net delta never exceeds ``max_net_delta`` and no exposure stays unhedged
longer than ``max_unhedged_ms``:

1. the primary leg goes out in chunks whose delta alone fits the bound;
2. each chunk's fill is hedged at once on the hedge leg (sized from what really filled, so a
   partial fill is hedged partially);
3. a hedge that fails (rejected, reverted, timed out) is retried - through the router, which
   may pick another venue - until the time bound; then the rule decides: ``complete`` keeps
   retrying the hedge past the bound (and says so), ``unwind`` takes the primary chunk back
   (the exposure goes to zero by closing the cause instead of hedging it).

Exposure is tracked on every step (:class:`ExposureLog`), so the worst net delta and the
longest unhedged interval are measured, not assumed. Every send goes through a
:class:`agent.algos.runner.SliceSink`: the same router, OMS, risk gate and policy as any slice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from agent.algos.params import ZERO
from agent.algos.runner import Clock, SliceOrder, SliceResult, SliceSink, WallClock
from agent.errors import ValidationError
from agent.journal.base import ANY
from agent.journal.codec import event_type
from agent.model import Side


def legsync_stream(parent_id: str) -> str:
    return f"legsync-{parent_id}"


@event_type
@dataclass(frozen=True, slots=True)
class LegStep:
    """One order of a leg (primary chunk, hedge attempt, unwind) and its outcome, with the net
    delta after it: the exposure's history is in the journal, not only in memory."""

    parent_id: str
    leg: str
    role: str  # primary | hedge | unwind
    client_order_id: str
    side: Side
    quantity: Decimal
    filled: Decimal
    status: str
    code: str
    reason: str
    net_delta: Decimal
    at_ms: int


@event_type
@dataclass(frozen=True, slots=True)
class LegSyncEnded:
    parent_id: str
    outcome: str
    primary_filled: Decimal
    hedge_filled: Decimal
    unwound: Decimal
    worst_net_delta: Decimal
    longest_unhedged_ms: int
    notes: tuple[str, ...] = ()


class UnwindRule(StrEnum):
    COMPLETE = "complete"  # keep hedging until it fills, however long
    UNWIND = "unwind"  # past the time bound, take the unhedged primary fill back


@dataclass(frozen=True, slots=True)
class Leg:
    """``delta``: the position delta one unit of this leg adds when bought (a sell adds
    minus that), in units of the hedge's base asset."""

    name: str
    sink: SliceSink
    side: Side
    base: str
    quote: str
    quantity: Decimal
    delta: Decimal
    lot: Decimal = Decimal("0.0001")
    limit_price: Decimal | None = None
    max_slippage_bps: int = 50


@dataclass(frozen=True, slots=True)
class SyncBounds:
    max_net_delta: Decimal
    max_unhedged_ms: int
    rule: UnwindRule = UnwindRule.UNWIND
    retry_ms: int = 500
    max_attempts: int = 20  # per hedge, even under ``complete``: a venue down for good ends it

    def __post_init__(self) -> None:
        if self.max_net_delta <= 0:
            raise ValidationError("legsync.max_net_delta", "must be positive", "e.g. 5")
        if self.max_unhedged_ms <= 0:
            raise ValidationError("legsync.max_unhedged_ms", "must be positive", "e.g. 2000")


@dataclass(slots=True)
class ExposureLog:
    """Net delta over time: the largest absolute value and the longest time it was nonzero."""

    clock: Clock
    net: Decimal = ZERO
    worst: Decimal = ZERO
    since: int | None = None
    longest_ms: int = 0
    points: list[tuple[int, Decimal]] = field(default_factory=list)

    def move(self, delta: Decimal) -> None:
        now = self.clock.now_ms()
        if self.net != 0 and self.since is not None:
            self.longest_ms = max(self.longest_ms, now - self.since)
        self.net += delta
        self.worst = max(self.worst, abs(self.net))
        if self.net == 0:
            self.since = None
        elif self.since is None:
            self.since = now
        self.points.append((now, self.net))

    def tick(self) -> None:
        if self.since is not None:
            self.longest_ms = max(self.longest_ms, self.clock.now_ms() - self.since)


@dataclass(frozen=True, slots=True)
class SyncReport:
    primary_filled: Decimal
    hedge_filled: Decimal
    unwound: Decimal
    worst_net_delta: Decimal
    longest_unhedged_ms: int
    outcome: str  # hedged | unwound | incomplete
    notes: tuple[str, ...] = ()


def _signed(side: Side, q: Decimal) -> Decimal:
    return q if side is Side.BUY else -q


def _cut(q: Decimal, lot: Decimal) -> Decimal:
    return (q / lot).to_integral_value(rounding="ROUND_DOWN") * lot


class LegSynchronizer:
    def __init__(
        self,
        parent_id: str,
        primary: Leg,
        hedge: Leg,
        bounds: SyncBounds,
        *,
        clock: Clock | None = None,
        on_step: Callable[[ExposureLog], None] | None = None,
        journal: Any = None,
    ) -> None:
        """``journal``: a Store; every leg order's outcome (LegStep) and the end (LegSyncEnded)
        are appended to ``legsync-<parent>`` (the orders themselves are the OMS's)."""
        if primary.delta == 0 or hedge.delta == 0:
            raise ValidationError("legsync.delta", "a leg with zero delta cannot hedge", "")
        self.parent_id, self.primary, self.hedge, self.bounds = parent_id, primary, hedge, bounds
        self.clock = clock or WallClock()
        self.log = ExposureLog(self.clock)
        self.on_step = on_step
        self.journal = journal
        self._n = 0
        self.notes: list[str] = []

    def _order(self, leg: Leg, side: Side, q: Decimal) -> SliceOrder:
        self._n += 1
        return SliceOrder(
            self.parent_id, f"{self.parent_id}.{leg.name}{self._n}", side, leg.base, leg.quote,
            q, leg.limit_price, leg.max_slippage_bps,
        )  # fmt: skip

    async def _do(self, leg: Leg, side: Side, q: Decimal, role: str) -> SliceResult:
        order = self._order(leg, side, q)
        r = await leg.sink.execute(order)
        if r.filled > 0:
            self.log.move(_signed(side, r.filled) * leg.delta)
        else:
            self.log.tick()
        self._journal(
            LegStep(
                self.parent_id, leg.name, role, order.client_order_id, side, q, r.filled,
                r.status, r.code, r.reason, self.log.net, self.clock.now_ms(),
            )
        )  # fmt: skip
        if self.on_step is not None:
            self.on_step(self.log)
        return r

    def _journal(self, ev: object) -> None:
        if self.journal is not None:
            self.journal.append(legsync_stream(self.parent_id), ANY, [ev])

    def chunk(self) -> Decimal:
        """The largest primary chunk whose delta alone fits the bound."""
        return _cut(self.bounds.max_net_delta / abs(self.primary.delta), self.primary.lot)

    async def run(self) -> SyncReport:
        p, h, b = self.primary, self.hedge, self.bounds
        step = self.chunk()
        if step <= 0:
            raise ValidationError(
                "legsync.max_net_delta",
                f"{b.max_net_delta} is below one lot's delta ({abs(p.delta) * p.lot})",
                "raise the bound or lower the lot",
            )
        done = hedged = unwound = ZERO
        outcome = "hedged"
        while done + unwound < p.quantity:
            # room left under the bound (a hedge rounded to its lot may leave a residual)
            room = _cut((b.max_net_delta - abs(self.log.net)) / abs(p.delta), p.lot)
            q = min(step, room, p.quantity - done - unwound)
            if q <= 0:
                self.notes.append(f"residual delta {self.log.net} leaves no room under the bound")
                outcome = "incomplete"
                break
            r = await self._do(p, p.side, q, "primary")
            if r.filled <= 0:
                self.notes.append(
                    f"primary chunk of {q} not filled ({r.code or r.status}); stopping"
                )
                outcome = "incomplete"
                break
            done += r.filled
            # hedge exactly what filled: its delta back to zero
            need = _cut(abs(r.filled * p.delta / h.delta), h.lot)
            hside = Side.SELL if (_signed(p.side, r.filled) * p.delta) / h.delta > 0 else Side.BUY
            got = await self._hedge(hside, need)
            hedged += got
            if got < need:
                back = await self._unwind(p, r.filled * (need - got) / need)
                unwound += back
                done -= back
                outcome = "unwound"
                if b.rule is UnwindRule.UNWIND:
                    break
        rep = SyncReport(
            done, hedged, unwound, self.log.worst, self.log.longest_ms, outcome, tuple(self.notes)
        )
        self._journal(
            LegSyncEnded(
                self.parent_id, outcome, done, hedged, unwound, rep.worst_net_delta,
                rep.longest_unhedged_ms, rep.notes,
            )
        )  # fmt: skip
        return rep

    async def _hedge(self, side: Side, need: Decimal) -> Decimal:
        """Hedge ``need`` (retrying the remainder) within the time bound; what was hedged."""
        b = self.bounds
        start = self.clock.now_ms()
        got = ZERO
        for _attempt in range(b.max_attempts):
            r = await self._do(self.hedge, side, need - got, "hedge")
            got += r.filled
            if got >= need:
                break
            late = self.clock.now_ms() - start >= b.max_unhedged_ms
            if late and b.rule is UnwindRule.UNWIND:
                self.notes.append(f"hedge short by {need - got} after {b.max_unhedged_ms} ms")
                break
            if late:
                self.notes.append("hedge past the time bound: rule is complete, retrying")
            await self.clock.sleep_until(self.clock.now_ms() + b.retry_ms)
        else:
            self.notes.append(f"hedge gave up after {b.max_attempts} attempts")
        return got

    async def _unwind(self, leg: Leg, q: Decimal) -> Decimal:
        """Take back ``q`` of the primary leg (the unhedged part)."""
        q = _cut(q, leg.lot)
        if q <= 0:
            return ZERO
        back = Side.SELL if leg.side is Side.BUY else Side.BUY
        r = await self._do(leg, back, q, "unwind")
        if r.filled < q:
            self.notes.append(f"unwind filled {r.filled} of {q}; exposure remains")
        return r.filled
