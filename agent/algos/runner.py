"""The algorithm runner: drives one parent order's algorithm over the clock, the market data
and the trading state, sends each slice through a :class:`SliceSink` (the router and the one
OMS, with the risk gate and the policy on every child), and journals every step first.

In the spirit of NautilusTrader's ExecAlgorithm: the algorithm decides, the runner spawns
and tracks children. The decisions are the pure functions of :mod:`agent.algos.schedule`;
this module only sequences them:

* HALTED or REDUCING: working children are cancelled and the algorithm pauses (journaled
  with the state's code); it resumes when trading does. Missed slices are caught up within
  the ``catch_up`` cap; what the cap leaves behind stays in the remainder, reported at the end.
* A limit price goes with every child; the deadline (or the horizon) ends the algorithm with
  its remainder reported; a cancel of the parent cancels working children and stops.
* A slice is journaled as sent BEFORE it is handed to the sink, with a client id derived from
  the parent's; after a crash the runner asks the sink again under that same id (the OMS
  answers a known id with the original order's outcome), so no slice is sent twice.
* Market data that stops arriving pauses POV, VWAP (a due slice waits) and Sniper with
  ``ALGO_MARKET_DATA_STALE`` instead of guessing; fresh data resumes them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from agent.algos import schedule as sched
from agent.algos.events import (
    AlgoCancelled,
    AlgoCompleted,
    AlgoPaused,
    AlgoResumed,
    AlgoStarted,
    AlgoState,
    SliceFilled,
    SliceScheduled,
    SliceSent,
    SliceSkipped,
    algo_stream,
    slice_client_id,
)
from agent.algos.params import ZERO, AlgoKind, AlgoParams
from agent.journal import Store
from agent.model import TradingState


@dataclass(frozen=True, slots=True)
class SliceOrder:
    """One child an algorithm asks for; the sink routes it (one or several venues)."""

    parent_id: str
    client_order_id: str
    side: object  # agent.model.Side
    base: str
    quote: str
    quantity: Decimal
    limit_price: Decimal | None
    max_slippage_bps: int
    display: Decimal = ZERO  # > 0: show only this much (a native iceberg where supported)


@dataclass(frozen=True, slots=True)
class SliceResult:
    filled: Decimal
    quote_amount: Decimal
    status: str  # filled | partial | unfilled | denied | rejected | working (resting, polled)
    code: str = ""
    reason: str = ""
    fees: Decimal = ZERO  # quote units, included in quote_amount
    gas: Decimal = ZERO  # quote units, on top of quote_amount


class SliceSink(Protocol):
    """Where slices go. A sink whose slices rest on a book (``rests = True``) may answer
    ``execute`` with status ``working`` and then has ``poll(order) -> SliceResult | None``
    (None while the order still rests); ``native_display``: it shows ``display`` natively."""

    async def execute(self, order: SliceOrder) -> SliceResult:
        """Route and execute ``order``; idempotent on ``order.client_order_id``."""
        ...

    async def cancel_working(self, parent_id: str) -> int:
        """Cancel this parent's resting children (CEX limit orders); how many."""
        ...


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """What POV and Sniper read: others' traded volume since a time (our own fills left
    out), when the data was last updated, and what is executable at or better than a limit."""

    volume_since_start: Decimal
    volume_last_interval: Decimal
    updated_ms: int
    available_at_limit: Decimal = ZERO


class MarketData(Protocol):
    async def snapshot(self, p: AlgoParams, since_ms: int, interval_ms: int) -> MarketSnapshot: ...


class Clock(Protocol):
    def now_ms(self) -> int: ...

    async def sleep_until(self, t_ms: int) -> None: ...


class WallClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep_until(self, t_ms: int) -> None:
        delay = (t_ms - self.now_ms()) / 1000
        if delay > 0:
            await asyncio.sleep(delay)


class AlgoRunner:
    def __init__(
        self,
        journal: Store,
        parent_id: str,
        sink: SliceSink,
        *,
        clock: Clock | None = None,
        trading_state: Callable[[], TradingState] = lambda: TradingState.ACTIVE,
        market: MarketData | None = None,
        profile: tuple[Decimal, ...] | None = None,
        stale_after_ms: int | None = None,
        mid: Callable[[], Awaitable[Decimal | None]] | None = None,
    ) -> None:
        """``mid``: the market's mid price now (quote per base), journaled with the start and
        every slice so the execution report can split shortfall into delay and impact."""
        self.journal, self.parent_id, self.sink = journal, parent_id, sink
        self.clock = clock or WallClock()
        self.trading_state = trading_state
        self.market = market
        self.profile = profile
        self.stale_after_ms = stale_after_ms
        self.mid = mid
        self.stream = algo_stream(parent_id)
        self.state = AlgoState()
        self._cancel: str | None = None
        # a slice resting on a book (an Iceberg's CEX limit order): polled until it is done
        self._working: tuple[int, SliceOrder] | None = None
        for rec in journal.read_stream(self.stream):
            self.state.apply(rec.event)

    # --- journal ----------------------------------------------------------------------------
    def _append(self, *events: object) -> None:
        self.journal.append(self.stream, self.state.version, list(events))
        for ev in events:
            self.state.apply(ev)

    async def start(
        self,
        params: AlgoParams,
        end_ms: int | None = None,
        slices: tuple[sched.Slice, ...] = (),
    ) -> None:
        """Journal the start (once: a parent that already started is resumed, not restarted).
        ``slices``: an explicit schedule (stretched to fit the policy), journaled with it."""
        if self.state.params is None:
            arrival = await self.mid() if self.mid is not None else None
            explicit = tuple((s.due_ms, s.quantity) for s in slices)
            self._append(
                AlgoStarted(self.parent_id, params, end_ms or params.end_ms, arrival, explicit)
            )

    def cancel(self, reason: str = "cancelled by the user") -> None:
        self._cancel = reason

    # --- the loop ---------------------------------------------------------------------------
    async def run(self) -> AlgoState:
        p = self.state.params
        if p is None:
            raise RuntimeError("start() the algorithm before run()")
        plan = (
            tuple(sched.Slice(i, t, q) for i, (t, q) in enumerate(self.state.slices))
            if self.state.slices
            else sched.for_params(p, self.profile)
        )
        for sent in self.state.in_flight:  # a crash between sent and answered
            await self._send_again(sent)
        while self.state.finished is None:
            now = self.clock.now_ms()
            if self._working is not None:
                await self._poll_working()
            if self._cancel is not None:
                await self.sink.cancel_working(self.parent_id)
                await self._settle_working()
                self._append(AlgoCancelled(self.parent_id, self._cancel))
                break
            if not await self._trading_allows():
                wait = p.interval_s * 1000 if self._working is None else self._poll_ms(p)
                await self.clock.sleep_until(now + wait)
                continue
            left = p.size - self.state.filled
            if left <= 0 or now >= self.state.end_ms:
                if self._working is not None:  # the deadline: what rests is taken back first
                    await self.sink.cancel_working(self.parent_id)
                    await self._settle_working()
                left = p.size - self.state.filled
                self._complete(p, "filled" if left <= 0 else "deadline reached")
                break
            wake = await self._step(p, plan, now)
            await self.clock.sleep_until(min(wake, self.state.end_ms))
        return self.state

    async def _trading_allows(self) -> bool:
        ts = self.trading_state()
        if ts is TradingState.ACTIVE:
            if self.state.paused is not None and self.state.paused.code.startswith("TRADING"):
                self._append(AlgoResumed(self.parent_id))
            return True
        if self.state.paused is None or not self.state.paused.code.startswith("TRADING"):
            # a pause of the algorithm's own (stale data, a sniper's limit) gives way to the
            # desk's: journaled, so the resume after it is journaled too
            await self.sink.cancel_working(self.parent_id)
            code = "TRADING_HALTED" if ts is TradingState.HALTED else "TRADING_REDUCING"
            self._append(AlgoPaused(self.parent_id, code, f"trading state is {ts.value}"))
        return False

    def _complete(self, p: AlgoParams, reason: str) -> None:
        unfilled = max(ZERO, p.size - self.state.filled)
        self._append(
            AlgoCompleted(
                self.parent_id, self.state.filled, self.state.quote_amount, unfilled, reason
            )
        )

    async def _step(self, p: AlgoParams, plan: tuple[sched.Slice, ...], now: int) -> int:
        """Send what is due now; the time to wake up next."""
        interval = p.interval_s * 1000
        if p.kind is AlgoKind.ICEBERG:
            return await self._iceberg_step(p, now, interval)
        if p.kind in (AlgoKind.TWAP, AlgoKind.VWAP):
            i = self.state.next_index
            if i >= len(plan):
                # every slice is out; what is missing stays in the remainder, reported at the end
                return self.state.end_ms
            # slices already past due are folded into the latest due one (catch-up)
            while i + 1 < len(plan) and plan[i + 1].due_ms <= now:
                self._append(SliceSkipped(self.parent_id, i, f"caught up by slice {i + 1}"))
                i += 1
            if plan[i].due_ms > now:
                return plan[i].due_ms
            # VWAP's profile is a forecast of the market's volume: a slice goes out only
            # while the market it follows is seen trading (fresh data), else it waits
            vwap = p.kind is AlgoKind.VWAP and self.market is not None
            if vwap and await self._fresh_snapshot(p, now, interval) is None:
                return now + interval
            q = sched.next_quantity(p, plan, i, now, self.state.filled)
            await self._send(p, i, q, now, ZERO)
            return plan[i + 1].due_ms if i + 1 < len(plan) else self.state.end_ms
        # POV and Sniper: driven by market data
        if self.market is None:
            self._pause_once("ALGO_NO_MARKET_DATA", "no market data source for this algorithm")
            return now + interval
        snap = await self._fresh_snapshot(p, now, interval)
        if snap is None:
            return now + interval
        if p.kind is AlgoKind.POV:
            q = sched.pov_quantity(
                p, snap.volume_since_start, snap.volume_last_interval, self.state.filled
            )
        else:  # Sniper: take what the venues offer at or better than the limit, at once
            q = min(snap.available_at_limit, p.size - self.state.filled)
            q = (q / p.lot).to_integral_value(rounding="ROUND_DOWN") * p.lot
            if q <= 0:  # nothing shown, nothing sent: journaled once, so the wait is visible
                self._pause_once(
                    "ALGO_LIMIT_NOT_REACHED",
                    f"no venue offers {p.base} at or better than {p.limit_price}; watching",
                )
                return now + interval
            if self.state.paused is not None and self.state.paused.code.startswith("ALGO_"):
                self._append(AlgoResumed(self.parent_id))
        if q > 0:
            await self._send(p, self.state.next_index, q, now, ZERO)
        return now + interval

    async def _iceberg_step(self, p: AlgoParams, now: int, interval: int) -> int:
        """Native (the sink's venue shows ``display`` of one order and refills it): the whole
        rest as one resting order. Emulated on a book: one displayed order after the other,
        the next placed as soon as the last has filled (replenish on fill). On-chain (a sink
        whose slices do not rest): slices of ``display`` one interval apart. An unfilled
        slice's quantity is offered again by the next one."""
        if self._working is not None:
            return now + self._poll_ms(p)
        i = self.state.next_index
        rests = getattr(self.sink, "rests", False)
        if not rests and p.start_ms + i * interval > now:
            return p.start_ms + i * interval
        left = p.size - self.state.filled
        native = rests and getattr(self.sink, "native_display", False)
        await self._send(p, i, left if native else min(p.display, left), now, p.display)
        if self._working is not None:
            return now + self._poll_ms(p)
        done = self.state.done.get(i)
        return now if rests and done is not None and done.filled > 0 else now + interval

    @staticmethod
    def _poll_ms(p: AlgoParams) -> int:
        return min(p.interval_s * 1000, 500)

    async def _poll_working(self) -> bool:
        """True once no slice is resting any more (its outcome journaled)."""
        if self._working is None:
            return True
        i, order = self._working
        r = await self.sink.poll(order)  # type: ignore[attr-defined]
        if r is None:
            return False
        self._working = None
        self._record(i, order.client_order_id, r)
        return True

    async def _settle_working(self, attempts: int = 40) -> None:
        """After a cancel: poll until the venue reports the resting slice done."""
        for _ in range(attempts):
            if await self._poll_working():
                return
            await self.clock.sleep_until(self.clock.now_ms() + 250)

    async def _fresh_snapshot(
        self, p: AlgoParams, now: int, interval: int
    ) -> MarketSnapshot | None:
        """The market data if fresh (a pause on it is lifted), else None with the algorithm
        paused ALGO_MARKET_DATA_STALE (journaled once): never a decision on old data."""
        assert self.market is not None
        snap = await self.market.snapshot(p, p.start_ms, interval)
        stale = self.stale_after_ms if self.stale_after_ms is not None else 2 * interval
        if now - snap.updated_ms > stale:
            self._pause_once(
                "ALGO_MARKET_DATA_STALE",
                f"market data is {now - snap.updated_ms} ms old (limit {stale} ms); waiting",
            )
            return None
        if self.state.paused is not None and self.state.paused.code == "ALGO_MARKET_DATA_STALE":
            self._append(AlgoResumed(self.parent_id))
        return snap

    def _pause_once(self, code: str, reason: str) -> None:
        if self.state.paused is None or self.state.paused.code != code:
            self._append(AlgoPaused(self.parent_id, code, reason))

    async def _send(self, p: AlgoParams, i: int, q: Decimal, now: int, display: Decimal) -> None:
        if q <= 0:
            self._append(SliceSkipped(self.parent_id, i, "nothing left to send at this slot"))
            return
        cid = slice_client_id(self.parent_id, i)
        mid = await self.mid() if self.mid is not None else None
        self._append(
            SliceScheduled(self.parent_id, i, now, q),
            SliceSent(self.parent_id, i, cid, q, now, mid),
        )
        order = SliceOrder(
            self.parent_id, cid, p.side, p.base, p.quote, q, p.limit_price, p.max_slippage_bps,
            display,
        )  # fmt: skip
        self._outcome(i, order, await self.sink.execute(order))

    async def _send_again(self, sent: SliceSent) -> None:
        p = self.state.params
        assert p is not None
        display = p.display if p.kind is AlgoKind.ICEBERG else ZERO
        order = SliceOrder(
            self.parent_id, sent.client_order_id, p.side, p.base, p.quote, sent.quantity,
            p.limit_price, p.max_slippage_bps, display,
        )  # fmt: skip
        self._outcome(sent.index, order, await self.sink.execute(order))

    def _outcome(self, i: int, order: SliceOrder, r: SliceResult) -> None:
        if r.status == "working":  # rests on a book: its outcome comes from polling it
            self._working = (i, order)
        else:
            self._record(i, order.client_order_id, r)

    def _record(self, i: int, cid: str, r: SliceResult) -> None:
        self._append(
            SliceFilled(
                self.parent_id, i, cid, r.filled, r.quote_amount, r.status, r.code, r.reason,
                self.clock.now_ms(), r.fees, r.gas,
            )
        )  # fmt: skip
