"""VWAP follows its volume profile only while the market it follows is seen trading: a due slice
waits (ALGO_MARKET_DATA_STALE, journaled once) while the data is old, nothing is sent meanwhile,
and fresh data resumes the schedule with the missed slices caught up within the cap."""

from __future__ import annotations

from decimal import Decimal

from agent.algos.events import AlgoPaused, AlgoResumed, SliceSent, algo_stream
from agent.algos.params import AlgoKind
from agent.algos.runner import AlgoRunner, MarketSnapshot
from tests.unit.algos.test_runner import T0, FakeClock, Sink, journal, twap  # noqa: F401


class GappyTape:
    """Fresh data except in [gap_from, gap_to): there it keeps the last update time."""

    def __init__(self, clock: FakeClock, gap_from: int, gap_to: int) -> None:
        self.clock, self.gap = clock, (gap_from, gap_to)
        self.updated = clock.now_ms()
        self.calls = 0

    async def snapshot(self, p, since_ms, interval_ms) -> MarketSnapshot:  # type: ignore[no-untyped-def]
        self.calls += 1
        now = self.clock.now_ms()
        if not self.gap[0] <= now < self.gap[1]:
            self.updated = now
        return MarketSnapshot(Decimal(0), Decimal(0), self.updated)


async def test_vwap_waits_on_stale_data_and_resumes(journal) -> None:  # noqa: F811
    clock = FakeClock()
    sink = Sink()
    tape = GappyTape(clock, T0 + 150_000, T0 + 400_000)
    profile = tuple(Decimal(w) for w in (1, 2, 3, 4, 5, 5, 4, 3, 2, 1))
    r = AlgoRunner(
        journal, "v1", sink, clock=clock, market=tape, profile=profile, stale_after_ms=60_000
    )
    await r.start(twap(kind=AlgoKind.VWAP, catch_up=Decimal(10)))
    state = await r.run()
    evs = [rec.event for rec in journal.read_stream(algo_stream("v1"))]
    pauses = [e for e in evs if isinstance(e, AlgoPaused)]
    assert len(pauses) == 1 and pauses[0].code == "ALGO_MARKET_DATA_STALE"
    p_at, r_at = (
        evs.index(pauses[0]),
        next(i for i, e in enumerate(evs) if isinstance(e, AlgoResumed)),
    )
    assert p_at < r_at
    assert not any(isinstance(e, SliceSent) for e in evs[p_at:r_at])  # nothing on stale data
    sent = [e for e in evs if isinstance(e, SliceSent)]
    # stale from 150 s + 60 s (the limit) to 400 s: no slice left in (210 s, 400 s)
    assert not [s for s in sent if T0 + 210_000 < s.sent_ms < T0 + 400_000]
    assert state.filled == Decimal(10) and state.finished.reason == "filled"  # caught up


async def test_vwap_without_fresh_data_sends_nothing(journal) -> None:  # noqa: F811
    clock = FakeClock()
    sink = Sink()
    tape = GappyTape(clock, T0, T0 + 10**9)
    tape.updated = T0 - 10**6
    r = AlgoRunner(journal, "v2", sink, clock=clock, market=tape)
    await r.start(twap(kind=AlgoKind.VWAP))
    state = await r.run()
    assert not sink.calls and state.filled == 0
    assert state.paused is not None and state.paused.code == "ALGO_MARKET_DATA_STALE"
    assert state.finished.reason == "deadline reached" and state.finished.unfilled == Decimal(10)
