"""The runner over a sink whose slices rest on a book (an Iceberg's CEX limit orders): a slice
answered ``working`` is polled until done, never sent twice (also across a crash); a halt
cancels it and, on resume, the rest goes out as a new slice; the deadline takes it back and
completes with the unfilled rest. Native: one order for the whole rest; emulated: one
displayed order after the other."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agent.algos.events import AlgoCompleted, AlgoPaused, SliceSent, algo_stream
from agent.algos.params import AlgoKind
from agent.algos.runner import AlgoRunner, SliceOrder, SliceResult
from agent.model import TradingState
from tests.unit.algos.test_runner import PRICE, T0, Crash, FakeClock, journal, twap  # noqa: F401


class Book:
    """Resting orders that fill ``per_poll`` on every poll (a taker trading them away)."""

    rests = True

    def __init__(self, native: bool, per_poll: Decimal, crash_on_poll: int | None = None) -> None:
        self.native_display = native
        self.per_poll = per_poll
        self.orders: dict[str, list] = {}  # cid -> [quantity, filled, cancelled]
        self.placed: list[SliceOrder] = []
        self.polls = 0
        self.crash_on_poll = crash_on_poll

    async def execute(self, order: SliceOrder) -> SliceResult:
        o = self.orders.get(order.client_order_id)
        if o is None:
            self.placed.append(order)
            o = self.orders[order.client_order_id] = [order.quantity, Decimal(0), False]
        return self._answer(o) or SliceResult(o[1], o[1] * PRICE, "working")

    def _answer(self, o: list) -> SliceResult | None:
        q, f, cancelled = o
        if f >= q or cancelled:
            return SliceResult(f, f * PRICE, "filled" if f >= q else "partial")
        return None

    async def poll(self, order: SliceOrder) -> SliceResult | None:
        self.polls += 1
        if self.crash_on_poll == self.polls:
            raise Crash
        o = self.orders[order.client_order_id]
        if not o[2]:
            o[1] = min(o[0], o[1] + self.per_poll)
        return self._answer(o)

    async def cancel_working(self, parent_id: str) -> int:
        n = 0
        for o in self.orders.values():
            if o[1] < o[0] and not o[2]:
                o[2] = True
                n += 1
        return n


def iceberg(**kw):  # type: ignore[no-untyped-def]
    base = dict(kind=AlgoKind.ICEBERG, display=Decimal(1), limit_price=PRICE, interval_s=1)
    base.update(kw)
    return twap(**base)


@pytest.mark.parametrize("native", [True, False])
async def test_resting_slices_fill_and_replenish(journal, native) -> None:  # noqa: F811
    book, clock = Book(native, Decimal("0.5")), FakeClock()
    r = AlgoRunner(journal, f"i-{native}", book, clock=clock)
    await r.start(iceberg())
    state = await r.run()
    assert isinstance(state.finished, AlgoCompleted) and state.finished.reason == "filled"
    assert state.filled == Decimal(10)
    if native:  # one order for all of it, shown 1 at a time by the venue
        assert [(o.quantity, o.display) for o in book.placed] == [(Decimal(10), Decimal(1))]
    else:  # ten displayed orders, each placed when the last had filled
        assert [o.quantity for o in book.placed] == [Decimal(1)] * 10
    assert len({o.client_order_id for o in book.placed}) == len(book.placed)


async def test_a_crash_while_resting_never_places_it_twice(journal) -> None:  # noqa: F811
    book, clock = Book(True, Decimal(1), crash_on_poll=3), FakeClock()
    r = AlgoRunner(journal, "i-crash", book, clock=clock)
    await r.start(iceberg())
    with pytest.raises(Crash):
        await r.run()
    again = AlgoRunner(journal, "i-crash", book, clock=clock)
    state = await again.run()
    assert state.filled == Decimal(10) and len(book.placed) == 1


async def test_halt_cancels_the_resting_order_and_resume_places_the_rest(journal) -> None:  # noqa: F811
    book, clock = Book(True, Decimal(1)), FakeClock()
    ts = {"s": TradingState.ACTIVE}
    clock.hooks = [
        (T0 + 1_200, lambda: ts.update(s=TradingState.HALTED)),
        (T0 + 30_000, lambda: ts.update(s=TradingState.ACTIVE)),
    ]
    r = AlgoRunner(journal, "i-halt", book, clock=clock, trading_state=lambda: ts["s"])
    await r.start(iceberg())
    state = await r.run()
    evs = [rec.event for rec in journal.read_stream(algo_stream("i-halt"))]
    assert any(isinstance(e, AlgoPaused) and e.code == "TRADING_HALTED" for e in evs)
    first, second = book.placed
    assert first.quantity == Decimal(10) and book.orders[first.client_order_id][2]  # cancelled
    got = book.orders[first.client_order_id][1]
    assert 0 < got < 10 and second.quantity == Decimal(10) - got  # the rest, a new order
    sent = [e for e in evs if isinstance(e, SliceSent)]
    assert not [e for e in sent if T0 + 1_200 <= e.sent_ms < T0 + 30_000]
    assert state.filled == Decimal(10)


async def test_the_deadline_takes_the_resting_order_back(journal) -> None:  # noqa: F811
    book, clock = Book(True, Decimal("0.1")), FakeClock()
    r = AlgoRunner(journal, "i-late", book, clock=clock)
    await r.start(iceberg(deadline_ms=T0 + 10_000))
    state = await r.run()
    (o,) = book.orders.values()
    assert o[2] and 0 < o[1] < 10  # cancelled at the deadline, partly filled
    fin = state.finished
    assert isinstance(fin, AlgoCompleted) and fin.reason == "deadline reached"
    assert fin.filled == o[1] and fin.unfilled == Decimal(10) - o[1]
