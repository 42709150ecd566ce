"""The algorithm runner on a real SQLite journal with a simulated clock and a recording sink
(pure logic: the sink stands in for the router + OMS, which have their own tests)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.algos.events import AlgoCompleted, AlgoPaused, SliceSent, SliceSkipped, algo_stream
from agent.algos.params import AlgoKind, AlgoParams, validate
from agent.algos.runner import AlgoRunner, MarketSnapshot, SliceOrder, SliceResult
from agent.errors import ValidationError
from agent.journal import SqliteJournal
from agent.model import Side, TradingState

T0 = 1_800_000_000_000
PRICE = Decimal(3000)


class FakeClock:
    """Simulated time: sleeping moves the clock, nothing waits."""

    def __init__(self, t: int = T0) -> None:
        self.t = t
        self.hooks: list[tuple[int, object]] = []

    def now_ms(self) -> int:
        return self.t

    async def sleep_until(self, t_ms: int) -> None:
        self.t = max(self.t + 1, t_ms)
        for at, fn in list(self.hooks):
            if self.t >= at:
                self.hooks.remove((at, fn))
                fn()  # type: ignore[operator]


class Crash(Exception):
    pass


class Sink:
    """Fills every child at PRICE (or ``fill_ratio`` of it); remembers every client id it saw
    and answers a repeated id with the first answer, as the OMS does."""

    def __init__(self, fill_ratio: Decimal = Decimal(1), crash_at: int | None = None) -> None:
        self.orders: dict[str, SliceOrder] = {}
        self.answers: dict[str, SliceResult] = {}
        self.calls: list[str] = []
        self.cancels = 0
        self.fill_ratio = fill_ratio
        self.crash_at = crash_at

    async def execute(self, order: SliceOrder) -> SliceResult:
        self.calls.append(order.client_order_id)
        if order.client_order_id in self.answers:
            return self.answers[order.client_order_id]
        self.orders[order.client_order_id] = order
        if self.crash_at is not None and len(self.orders) == self.crash_at:
            self.crash_at = None
            # the venue took the order; the agent died before hearing the answer
            self.answers[order.client_order_id] = self._fill(order)
            raise Crash
        r = self._fill(order)
        self.answers[order.client_order_id] = r
        return r

    def _fill(self, order: SliceOrder) -> SliceResult:
        q = (order.quantity * self.fill_ratio).quantize(Decimal("0.000001"))
        return SliceResult(q, q * PRICE, "filled" if q == order.quantity else "partial")

    async def cancel_working(self, parent_id: str) -> int:
        self.cancels += 1
        return 0


def twap(**kw) -> AlgoParams:
    base = dict(
        kind=AlgoKind.TWAP, side=Side.BUY, base="WETH", quote="USDC", size=Decimal("10"),
        start_ms=T0, horizon_s=600, interval_s=60,
    )  # fmt: skip
    base.update(kw)
    return validate(AlgoParams(**base))


@pytest.fixture
def journal(tmp_path: Path):
    j = SqliteJournal(tmp_path / "j.sqlite")
    yield j
    j.close()


async def test_twap_sends_every_slice_once_and_fills_the_size(journal) -> None:
    sink, clock = Sink(), FakeClock()
    r = AlgoRunner(journal, "p1", sink, clock=clock)
    await r.start(twap(size_jitter=Decimal("0.2"), time_jitter=Decimal("0.3"), seed=7))
    state = await r.run()
    assert isinstance(state.finished, AlgoCompleted) and state.finished.reason == "filled"
    assert state.filled == Decimal(10)
    assert len(sink.calls) == len(set(sink.calls)) == 10
    assert sum(o.quantity for o in sink.orders.values()) == Decimal(10)
    sent_times = [s.sent_ms for s in state.sent.values()]
    assert sent_times == sorted(sent_times) and sent_times[-1] <= T0 + 600_000


async def test_a_crash_between_sent_and_answered_resumes_without_sending_twice(
    journal, tmp_path
) -> None:
    sink, clock = Sink(crash_at=4), FakeClock()
    r = AlgoRunner(journal, "p2", sink, clock=clock)
    await r.start(twap())
    with pytest.raises(Crash):
        await r.run()
    # a new process: the state comes from the journal alone
    again = AlgoRunner(journal, "p2", sink, clock=clock)
    assert [s.client_order_id for s in again.state.in_flight] == ["p2.s3"]
    state = await again.run()
    assert state.filled == Decimal(10)
    assert len(sink.orders) == 10, "no slice reached the venue twice under two ids"
    assert sink.calls.count("p2.s3") == 2  # asked again under the same id, answered once
    assert list(journal.read_stream(algo_stream("p2")))[-1].event == state.finished


async def test_halt_pauses_cancels_and_catch_up_is_capped(journal) -> None:
    sink, clock = Sink(), FakeClock()
    ts = {"s": TradingState.ACTIVE}
    clock.hooks = [
        (T0 + 120_000, lambda: ts.update(s=TradingState.HALTED)),
        (T0 + 360_000, lambda: ts.update(s=TradingState.ACTIVE)),
    ]
    r = AlgoRunner(journal, "p3", sink, clock=clock, trading_state=lambda: ts["s"])
    await r.start(twap(catch_up=Decimal(2)))
    state = await r.run()
    events = [rec.event for rec in journal.read_stream(algo_stream("p3"))]
    paused = [e for e in events if isinstance(e, AlgoPaused)]
    assert paused and paused[0].code == "TRADING_HALTED"
    assert sink.cancels >= 1
    # nothing was sent while halted
    assert not [
        e for e in events if isinstance(e, SliceSent) and T0 + 120_000 <= e.sent_ms < T0 + 360_000
    ]
    skipped = [e for e in events if isinstance(e, SliceSkipped)]
    assert skipped and all("caught up" in e.reason for e in skipped)
    # one slice carries at most twice its nominal size
    assert max(o.quantity for o in sink.orders.values()) <= Decimal(2)
    assert state.filled + state.finished.unfilled == Decimal(10)


async def test_deadline_ends_with_the_remainder_reported(journal) -> None:
    sink, clock = Sink(fill_ratio=Decimal("0.5")), FakeClock()
    r = AlgoRunner(journal, "p4", sink, clock=clock)
    await r.start(twap(catch_up=Decimal(1), deadline_ms=T0 + 300_000))
    state = await r.run()
    assert state.finished.reason == "deadline reached"
    # the schedule fits the deadline (5 slices of 2); half of each fills and nothing is
    # caught up (catch_up 1)
    assert len(sink.orders) == 5 and all(o.quantity == 2 for o in sink.orders.values())
    assert state.filled == Decimal(5) and state.finished.unfilled == Decimal(5)
    assert all(o.client_order_id.startswith("p4.s") for o in sink.orders.values())


async def test_cancel_of_the_parent_cancels_working_children(journal) -> None:
    sink, clock = Sink(), FakeClock()
    r = AlgoRunner(journal, "p5", sink, clock=clock)
    clock.hooks = [(T0 + 150_000, lambda: r.cancel("user asked"))]
    await r.start(twap())
    state = await r.run()
    assert state.finished.reason == "user asked" and sink.cancels == 1
    assert 0 < state.filled < Decimal(10)


class Tape:
    def __init__(self, updated_at: int | None = None) -> None:
        self.updated_at = updated_at

    async def snapshot(self, p, since_ms, interval_ms) -> MarketSnapshot:
        now = FakeClockRef.clock.now_ms()
        elapsed = Decimal(now - since_ms) / interval_ms
        upd = self.updated_at if self.updated_at is not None else now
        return MarketSnapshot(Decimal(100) * elapsed, Decimal(100), upd, Decimal(3))


class FakeClockRef:
    clock: FakeClock


async def test_pov_follows_participation_and_pauses_on_stale_data(journal) -> None:
    sink, clock = Sink(), FakeClock()
    FakeClockRef.clock = clock
    p = twap(kind=AlgoKind.POV, size=Decimal(1000), participation=Decimal("0.1"))
    r = AlgoRunner(journal, "p6", sink, clock=clock, market=Tape())
    await r.start(p)
    state = await r.run()
    # others trade 100 a minute; at the last decision (minute 9) they had traded 900, and a
    # 10% share of all volume is 900 * 0.1 / 0.9 = 100 of ours
    assert state.filled == Decimal(100)
    cap = Decimal(100) * Decimal("0.25") / Decimal("0.75")  # max_rate of one interval's volume
    assert all(o.quantity <= cap for o in sink.orders.values())
    stale = AlgoRunner(journal, "p7", sink, clock=clock, market=Tape(updated_at=T0 - 10**6))
    await stale.start(twap(kind=AlgoKind.POV, start_ms=clock.t, size=Decimal(10)))
    s2 = await stale.run()
    assert s2.filled == 0 and s2.paused is not None and s2.paused.code == "ALGO_MARKET_DATA_STALE"


@pytest.mark.parametrize(
    "kw,field",
    [
        (dict(interval_s=7200), "algo.interval"),
        (dict(kind=AlgoKind.POV, participation=Decimal("1.5")), "algo.participation"),
        (dict(kind=AlgoKind.POV, participation=Decimal(0)), "algo.participation"),
        (dict(kind=AlgoKind.ICEBERG, display=Decimal(20), limit_price=PRICE), "algo.display"),
        (dict(deadline_ms=T0 - 1), "algo.deadline"),
        (dict(size=Decimal("1.0000001")), "algo.size"),
    ],
)
def test_inconsistent_parameters_name_the_field(kw, field) -> None:
    with pytest.raises(ValidationError) as e:
        twap(**kw)
    assert e.value.field == field


def test_an_unknown_algorithm_is_refused() -> None:
    with pytest.raises(ValidationError) as e:
        twap(kind="wvap")
    assert e.value.field == "algo.kind" and "twap" in str(e.value)


@settings(max_examples=40, deadline=None)
@given(
    crash=st.integers(min_value=1, max_value=10),
    ratio=st.sampled_from([Decimal(1), Decimal("0.5"), Decimal("0.9")]),
)
async def test_restart_at_any_slice_never_duplicates(tmp_path_factory, crash, ratio) -> None:
    j = SqliteJournal(tmp_path_factory.mktemp("j") / "j.sqlite")
    try:
        sink, clock = Sink(fill_ratio=ratio, crash_at=crash), FakeClock()
        r = AlgoRunner(j, "px", sink, clock=clock)
        await r.start(twap(size_jitter=Decimal("0.3"), seed=crash))
        try:
            await r.run()
        except Crash:
            r = AlgoRunner(j, "px", sink, clock=clock)
            await r.run()
        sent = [
            rec.event
            for rec in j.read_stream(algo_stream("px"))
            if isinstance(rec.event, SliceSent)
        ]
        assert len({s.client_order_id for s in sent}) == len(sent) == len(sink.orders)
        assert r.state.filled == sum(a.filled for a in sink.answers.values())
        assert r.state.filled <= Decimal(10)
    finally:
        j.close()


async def test_execution_report_splits_shortfall(journal, tmp_path) -> None:
    from agent.algos.events import AlgoStarted
    from agent.algos.report import execution_report, plot

    mids = iter([Decimal(3000), Decimal(3000), Decimal(3003), Decimal(3006)])

    async def mid():
        return next(mids)

    class FeeSink(Sink):
        def _fill(self, order):  # pays mid + 3 (impact) and a fee of 1 per unit
            px = Decimal(3000) + 3 * int(order.client_order_id[-1]) + 3
            fee = order.quantity
            return SliceResult(
                order.quantity, order.quantity * px + fee, "filled", fees=fee, gas=Decimal("0.5")
            )

    sink, clock = FeeSink(), FakeClock()
    r = AlgoRunner(journal, "q1", sink, clock=clock, mid=mid)
    await r.start(twap(size=Decimal(3), horizon_s=180, interval_s=60))
    state = await r.run()
    started = next(
        e.event for e in journal.read_stream(algo_stream("q1")) if isinstance(e.event, AlgoStarted)
    )
    rep = execution_report(state, started, [(T0 + 1, Decimal(3001), Decimal(2))])
    assert rep.arrival == 3000 and rep.filled == 3
    # delay: mids 3000, 3003, 3006 vs 3000 -> (0 + 3 + 6) / 9000 = 10 bps
    assert rep.delay_bps == Decimal(10)
    # impact: 3 per unit each slice -> 9 / 9000 = 10 bps; fees 3 / 9000; gas 1.5 / 9000
    assert rep.impact_bps == Decimal(10)
    assert rep.fees_bps.quantize(Decimal("0.0001")) == Decimal("3.3333")
    assert rep.shortfall_bps == rep.delay_bps + rep.impact_bps + rep.fees_bps + rep.gas_bps
    assert rep.interval_vwap == Decimal(3001)
    png = plot(state, tmp_path / "q1.png", [(T0, Decimal(3000))], [(T0, Decimal(1))])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any("shortfall" in line for line in rep.lines())


async def test_a_stretched_schedule_is_journaled_and_followed_after_a_restart(journal) -> None:
    from agent.algos.schedule import Slice

    day = 86_400_000
    explicit = (
        Slice(0, T0, Decimal(4)),
        Slice(1, T0 + day, Decimal(4)),
        Slice(2, T0 + 2 * day, Decimal(2)),
    )
    sink, clock = Sink(crash_at=2), FakeClock()
    r = AlgoRunner(journal, "st", sink, clock=clock)
    await r.start(twap(), T0 + 2 * day + 60_000, explicit)
    with pytest.raises(Crash):
        await r.run()
    again = AlgoRunner(journal, "st", sink, clock=clock)
    state = await again.run()
    assert [o.quantity for o in sink.orders.values()] == [4, 4, 2]
    assert [s.sent_ms >= e.due_ms for s, e in zip(state.sent.values(), explicit, strict=True)] == [
        True
    ] * 3
    assert state.sent[2].sent_ms >= T0 + 2 * day and state.filled == 10
