"""The Venue contract, in one place.

Every adapter (uniswap_v2, uniswap_v3, options, bridge, cex) implements the REQUIRED methods
and declares its capabilities as data (:class:`Capabilities`), so routing and the OMS ask
``venue.capabilities.cancel`` instead of probing for methods. ``tests/venue_conformance.py``
holds the one conformance suite every adapter's tests subclass.

| method / attribute                    | required | capability flag | notes                                   |
|---------------------------------------|----------|-----------------|-----------------------------------------|
| ``id: str``                            | yes      |                 | unique per agent, e.g. ``uniswap_v3@L1`` |
| ``kind: VenueKind``                    | yes      |                 |                                         |
| ``capabilities: Capabilities``         | yes      |                 | frozen data, see below                  |
| ``quote(instrument, side, size)``      | yes      |                 | executable: fees, gas, impact included  |
| ``submit(child) -> VenueOrderRef``     | yes      |                 | idempotent on ``child.client_order_id`` |
| ``cancel(ref)``                        | no       | ``cancel``      | AMMs fill or revert: nothing to cancel  |
| ``events() -> AsyncIterator``          | no       | ``streaming``   | fills, acks, rejects, cancels           |
| ``open_orders()``                      | no       | ``reports``     | reconciliation (VenueReports)           |
| ``fills_since(cursor)``                | no       | ``reports``     | reconciliation (VenueReports)           |
| ``close()``                            | yes      |                 | release sockets                          |
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from agent.model import Fill, Instrument, OrderType, Quote, Side, TimeInForce, VenueKind


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a venue can do, as data. Routing and the OMS read these flags, nothing else."""

    order_types: frozenset[OrderType] = frozenset({OrderType.MARKET})
    time_in_force: frozenset[TimeInForce] = frozenset({TimeInForce.IOC})
    cancel: bool = False
    amend: bool = False
    streaming: bool = False
    reports: bool = False
    atomic_batch: bool = False  # several legs in one all-or-nothing submission (on-chain)
    on_chain: bool = False


@dataclass(frozen=True, slots=True)
class ChildOrder:
    """What the OMS asks a venue to do: one child of a parent order."""

    client_order_id: str
    instrument: Instrument
    side: Side
    size: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.IOC
    quote: Quote | None = None  # the quote this child was planned on, for slippage bounds
    max_slippage_bps: int | None = None
    display: Decimal | None = None  # a GTC limit shown only this much at a time (an iceberg)


@dataclass(frozen=True, slots=True)
class VenueOrderRef:
    venue: str
    client_order_id: str
    venue_order_id: str  # exchange order id, or the tx hash on-chain


class VenueEventKind(StrEnum):
    ACK = "ack"
    FILL = "fill"
    REJECT = "reject"
    CANCEL = "cancel"
    EXPIRE = "expire"


@dataclass(frozen=True, slots=True)
class VenueEvent:
    kind: VenueEventKind
    ref: VenueOrderRef
    fill: Fill | None = None
    reason: str = ""


class VenueOrderState(StrEnum):
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class OrderStatusReport:
    """A venue's view of one order, for reconciliation."""

    ref: VenueOrderRef
    instrument: Instrument
    side: Side
    size: Decimal
    filled: Decimal
    state: VenueOrderState
    limit_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class FillReport:
    """Fills since a cursor; ``cursor`` is opaque and is passed back on the next call."""

    fills: tuple[Fill, ...]
    cursor: str


@runtime_checkable
class Venue(Protocol):
    id: str
    kind: VenueKind
    capabilities: Capabilities

    async def quote(self, instrument: Instrument, side: Side, size: Decimal) -> Quote: ...

    async def submit(self, child: ChildOrder) -> VenueOrderRef: ...

    async def close(self) -> None: ...


@runtime_checkable
class CancellableVenue(Venue, Protocol):
    async def cancel(self, ref: VenueOrderRef) -> None: ...


@runtime_checkable
class StreamingVenue(Venue, Protocol):
    def events(self) -> AsyncIterator[VenueEvent]: ...


@runtime_checkable
class VenueReports(Protocol):
    """Implemented by venues with ``capabilities.reports``; the OMS reconciles through it."""

    async def open_orders(self) -> Sequence[OrderStatusReport]: ...

    async def order_status(self, ref: VenueOrderRef) -> OrderStatusReport | None: ...

    async def fills_since(self, cursor: str | None) -> FillReport: ...
