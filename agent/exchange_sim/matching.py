"""Price-time-priority limit order book, one per instrument.

Pure and synchronous: the server calls it under the event loop, tests drive it directly.
Balances are not this module's concern; :mod:`agent.exchange_sim.exchange` checks and
settles them around every call, so the book stays a small, property-testable core.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from agent.model import Side

ZERO = Decimal(0)


class SimOrderStatus(StrEnum):
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_open(self) -> bool:
        return self in (SimOrderStatus.NEW, SimOrderStatus.PARTIALLY_FILLED)


class SimTif(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


@dataclass(slots=True, eq=False)
class SimOrder:
    """An order inside the simulator. Mutable on purpose: the book owns and updates it."""

    order_id: int
    account: str
    instrument: str
    side: Side
    amount: Decimal
    price: Decimal | None  # None: market order
    tif: SimTif = SimTif.GTC
    client_id: str = ""
    created_ms: int = 0
    updated_ms: int = 0
    filled: Decimal = ZERO
    cost: Decimal = ZERO  # sum(price * qty) over fills, for the average price
    fee: Decimal = ZERO
    status: SimOrderStatus = SimOrderStatus.NEW
    locked: Decimal = ZERO  # what the ledger holds back for this order (spot)
    post_only: bool = False
    # Iceberg: only ``display`` is shown; ``shown`` is what is left of the current slice.
    # When a slice is used up the next one goes to the back of its level's queue, as on
    # Binance (the refresh loses time priority). display == 0: an ordinary order.
    display: Decimal = ZERO
    shown: Decimal = ZERO

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled

    @property
    def visible(self) -> Decimal:
        """What the book shows of this order (all of it unless an iceberg)."""
        return min(self.shown, self.remaining) if self.display else self.remaining

    @property
    def is_market(self) -> bool:
        return self.price is None

    @property
    def average(self) -> Decimal:
        return self.cost / self.filled if self.filled else ZERO


@dataclass(frozen=True, slots=True)
class Trade:
    trade_id: int
    instrument: str
    price: Decimal
    amount: Decimal
    taker_side: Side
    taker_order_id: int
    maker_order_id: int
    taker_account: str
    maker_account: str
    ts_ms: int


@dataclass(slots=True)
class _Side:
    """One side of the book: price levels (FIFO queues) plus their sorted prices."""

    is_bid: bool
    levels: dict[Decimal, deque[SimOrder]] = field(default_factory=dict)
    prices: list[Decimal] = field(default_factory=list)  # ascending

    def best(self) -> Decimal | None:
        if not self.prices:
            return None
        return self.prices[-1] if self.is_bid else self.prices[0]

    def add(self, order: SimOrder) -> None:
        assert order.price is not None
        q = self.levels.get(order.price)
        if q is None:
            q = self.levels[order.price] = deque()
            bisect.insort(self.prices, order.price)
        q.append(order)

    def remove(self, order: SimOrder) -> bool:
        q = self.levels.get(order.price) if order.price is not None else None
        if q is None:
            return False
        try:
            q.remove(order)
        except ValueError:
            return False
        if not q:
            self._drop_level(order.price)  # type: ignore[arg-type]
        return True

    def _drop_level(self, price: Decimal) -> None:
        del self.levels[price]
        i = bisect.bisect_left(self.prices, price)
        del self.prices[i]

    def iter_levels(self) -> Iterator[tuple[Decimal, deque[SimOrder]]]:
        seq = reversed(self.prices) if self.is_bid else iter(self.prices)
        for p in seq:
            yield p, self.levels[p]

    def depth(self, n: int) -> list[tuple[Decimal, Decimal]]:
        out = []
        for p, q in self.iter_levels():
            out.append((p, sum((o.visible for o in q), ZERO)))
            if len(out) >= n:
                break
        return out


def crosses(side: Side, limit: Decimal | None, best_opposite: Decimal) -> bool:
    if limit is None:
        return True
    return best_opposite <= limit if side is Side.BUY else best_opposite >= limit


class OrderBook:
    """Price-time priority: best price first, then arrival order within a level."""

    def __init__(self, instrument: str) -> None:
        self.instrument = instrument
        self.bids = _Side(is_bid=True)
        self.asks = _Side(is_bid=False)
        self.change_id = 0  # bumps on every change; streams use it as a sequence number

    def side(self, side: Side) -> _Side:
        return self.bids if side is Side.BUY else self.asks

    def best_bid(self) -> Decimal | None:
        return self.bids.best()

    def best_ask(self) -> Decimal | None:
        return self.asks.best()

    def is_crossed(self) -> bool:
        b, a = self.best_bid(), self.best_ask()
        return b is not None and a is not None and b >= a

    def fillable(self, side: Side, limit: Decimal | None, amount: Decimal) -> Decimal:
        """How much of ``amount`` would fill now (for FOK and balance estimates)."""
        left = amount
        for p, q in self.side(side.opposite).iter_levels():
            if not crosses(side, limit, p) or left <= 0:
                break
            for o in q:
                left -= min(left, o.remaining)
                if left <= 0:
                    break
        return amount - left

    def cost_to_fill(self, side: Side, limit: Decimal | None, amount: Decimal) -> Decimal:
        """Sum of price*qty the taker would trade (quote notional) against the current book."""
        left, cost = amount, ZERO
        for p, q in self.side(side.opposite).iter_levels():
            if not crosses(side, limit, p) or left <= 0:
                break
            for o in q:
                take = min(left, o.remaining)
                cost += take * p
                left -= take
                if left <= 0:
                    break
        return cost

    def amount_for_cost(self, side: Side, budget: Decimal, lot: Decimal) -> Decimal:
        """Base quantity a market order of ``side`` trades for ``budget`` quote units against
        the current book (Binance's ``quoteOrderQty``), rounded down to ``lot``."""
        left, amount = budget, ZERO
        for p, q in self.side(side.opposite).iter_levels():
            level = sum((o.remaining for o in q), ZERO)
            if level * p >= left:
                amount += left / p
                break
            amount += level
            left -= level * p
        return (amount // lot) * lot

    def match(self, taker: SimOrder, next_trade_id: Iterator[int], now_ms: int) -> list[Trade]:
        """Match ``taker`` against the resting side; rest any GTC limit remainder.

        The caller decided the order is acceptable (FOK feasibility, balances); this only
        moves quantity, so "fills sum to filled quantity" and "never crossed" hold here.
        """
        trades: list[Trade] = []
        opposite = self.side(taker.side.opposite)
        while taker.remaining > 0:
            best = opposite.best()
            if best is None or not crosses(taker.side, taker.price, best):
                break
            level = opposite.levels[best]
            maker = level[0]
            qty = min(taker.remaining, maker.visible)
            for o in (taker, maker):
                o.filled += qty
                o.cost += qty * best
                o.updated_ms = now_ms
                o.status = (
                    SimOrderStatus.FILLED if o.remaining == 0 else SimOrderStatus.PARTIALLY_FILLED
                )
            trades.append(
                Trade(
                    trade_id=next(next_trade_id),
                    instrument=self.instrument,
                    price=best,
                    amount=qty,
                    taker_side=taker.side,
                    taker_order_id=taker.order_id,
                    maker_order_id=maker.order_id,
                    taker_account=taker.account,
                    maker_account=maker.account,
                    ts_ms=now_ms,
                )
            )
            if maker.display:
                maker.shown -= qty
            if maker.remaining == 0:
                level.popleft()
                if not level:
                    opposite._drop_level(best)
            elif maker.display and maker.shown <= 0:
                # the slice is used up: the next one joins the back of the queue
                maker.shown = min(maker.display, maker.remaining)
                level.popleft()
                level.append(maker)
        if taker.remaining > 0:
            if taker.price is not None and taker.tif is SimTif.GTC:
                if taker.display:
                    taker.shown = min(taker.display, taker.remaining)
                self.side(taker.side).add(taker)
            else:
                # IOC / market remainder is cancelled, as real venues do ("EXPIRED" on Binance)
                taker.status = SimOrderStatus.EXPIRED
        if trades or taker.status.is_open:
            self.change_id += 1
        return trades

    def cancel(self, order: SimOrder) -> bool:
        removed = self.side(order.side).remove(order)
        if removed:
            self.change_id += 1
        return removed

    def orders(self) -> Iterator[SimOrder]:
        for s in (self.bids, self.asks):
            for _, q in s.iter_levels():
                yield from q
