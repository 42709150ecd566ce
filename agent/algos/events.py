"""An algorithm's journaled life: started, slice scheduled / sent / filled / skipped, paused,
resumed, completed, cancelled. One stream per parent order (``algo-<parent id>``); the
runner's state is a fold over it, so a restart resumes mid-schedule: a slice journaled as
sent is never sent again under another id (its client id is derived from the parent's and
the slice index, and the OMS refuses a second order with the same client id), and a slice
that was not sent is either sent or journaled as skipped with the reason, never dropped."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from agent.algos.params import ZERO, AlgoParams
from agent.journal.codec import event_type


def algo_stream(parent_id: str) -> str:
    return f"algo-{parent_id}"


def slice_client_id(parent_id: str, index: int) -> str:
    return f"{parent_id}.s{index}"


@event_type
@dataclass(frozen=True, slots=True)
class AlgoStarted:
    parent_id: str
    params: AlgoParams
    schedule_end_ms: int  # after any stretch to fit the policy's windows
    arrival_price: Decimal | None = None  # the market's mid when the parent arrived
    # the slices as (due ms, quantity) when they differ from what the parameters give
    # (stretched to fit the policy's windows): a restart follows these, not a recomputation
    slices: tuple[tuple[int, Decimal], ...] = ()


@event_type
@dataclass(frozen=True, slots=True)
class SliceScheduled:
    parent_id: str
    index: int
    due_ms: int
    quantity: Decimal  # what this slice will send (its share plus any catch-up)


@event_type
@dataclass(frozen=True, slots=True)
class SliceSent:
    """Write-ahead: journaled before the child goes to the router/OMS."""

    parent_id: str
    index: int
    client_order_id: str
    quantity: Decimal
    sent_ms: int
    mid: Decimal | None = None  # the market's mid when the slice left (for the delay/impact split)


@event_type
@dataclass(frozen=True, slots=True)
class SliceFilled:
    """The child's outcome: ``status`` filled | partial | unfilled | denied | rejected; a
    refusal keeps the risk or policy ``code``."""

    parent_id: str
    index: int
    client_order_id: str
    filled: Decimal
    quote_amount: Decimal
    status: str
    code: str = ""
    reason: str = ""
    done_ms: int = 0
    fees: Decimal = ZERO  # venue fees in quote units, included in quote_amount
    gas: Decimal = ZERO  # gas (and bridge) cost in quote units, on top of quote_amount


@event_type
@dataclass(frozen=True, slots=True)
class SliceSkipped:
    parent_id: str
    index: int
    reason: str


@event_type
@dataclass(frozen=True, slots=True)
class AlgoPaused:
    parent_id: str
    code: str
    reason: str


@event_type
@dataclass(frozen=True, slots=True)
class AlgoResumed:
    parent_id: str


@event_type
@dataclass(frozen=True, slots=True)
class AlgoCompleted:
    parent_id: str
    filled: Decimal
    quote_amount: Decimal
    unfilled: Decimal
    reason: str


@event_type
@dataclass(frozen=True, slots=True)
class AlgoCancelled:
    parent_id: str
    reason: str


@event_type
@dataclass(frozen=True, slots=True)
class IntervalMarket:
    """The market's own trades over the parent's execution, read from the venues when it
    ended (the exchanges' public trades, the pools' Swap events): what the interval VWAP of
    the execution report is computed from, kept so the report reads the same later."""

    parent_id: str
    start_ms: int
    end_ms: int
    volume: Decimal  # base units (human scale)
    notional: Decimal  # quote units
    trades: int
    sources: tuple[str, ...] = ()

    @property
    def vwap(self) -> Decimal | None:
        return self.notional / self.volume if self.volume else None


ALGO_EVENTS = (
    AlgoStarted,
    SliceScheduled,
    SliceSent,
    SliceFilled,
    SliceSkipped,
    AlgoPaused,
    AlgoResumed,
    AlgoCompleted,
    AlgoCancelled,
    IntervalMarket,
)


@dataclass(slots=True)
class AlgoState:
    """The fold of one algorithm's stream."""

    params: AlgoParams | None = None
    end_ms: int = 0
    slices: tuple[tuple[int, Decimal], ...] = ()
    filled: Decimal = ZERO
    quote_amount: Decimal = ZERO
    scheduled: dict[int, SliceScheduled] = field(default_factory=dict)
    sent: dict[int, SliceSent] = field(default_factory=dict)
    done: dict[int, SliceFilled] = field(default_factory=dict)
    skipped: set[int] = field(default_factory=set)
    paused: AlgoPaused | None = None
    finished: AlgoCompleted | AlgoCancelled | None = None
    market: IntervalMarket | None = None
    version: int = 0

    def apply(self, ev: object) -> None:
        self.version += 1
        if isinstance(ev, AlgoStarted):
            self.params, self.end_ms, self.slices = ev.params, ev.schedule_end_ms, ev.slices
        elif isinstance(ev, SliceScheduled):
            self.scheduled[ev.index] = ev
        elif isinstance(ev, SliceSent):
            self.sent[ev.index] = ev
        elif isinstance(ev, SliceFilled):
            self.done[ev.index] = ev
            self.filled += ev.filled
            self.quote_amount += ev.quote_amount
        elif isinstance(ev, SliceSkipped):
            self.skipped.add(ev.index)
        elif isinstance(ev, AlgoPaused):
            self.paused = ev
        elif isinstance(ev, AlgoResumed):
            self.paused = None
        elif isinstance(ev, AlgoCompleted | AlgoCancelled):
            self.finished = ev
        elif isinstance(ev, IntervalMarket):
            self.market = ev

    @property
    def in_flight(self) -> list[SliceSent]:
        """Sent and not yet answered: after a crash these are asked again by client id."""
        return [s for i, s in sorted(self.sent.items()) if i not in self.done]

    @property
    def next_index(self) -> int:
        handled = set(self.sent) | self.skipped
        return max(handled) + 1 if handled else 0
