"""A parent resumed after its deadline has passed completes (AlgoCompleted with the unfilled
rest and the reason) instead of being refused as new input with a deadline in the past; a
slice that was in flight at the crash is still asked again under its own id first."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.algos.events import AlgoCompleted, SliceSent, algo_stream
from agent.algos.params import AlgoKind, AlgoParams
from agent.algos.runner import AlgoRunner
from agent.algos.service import run_parent
from agent.errors import ValidationError
from agent.journal import SqliteJournal
from agent.model import Side
from tests.unit.algos.test_runner import Crash, FakeClock, Sink


def _params(now: int) -> AlgoParams:
    return AlgoParams(
        AlgoKind.TWAP, Side.BUY, "WETH", "USDC", Decimal(10), now - 60_000, horizon_s=600,
        interval_s=10, deadline_ms=now - 10_000,
    )  # fmt: skip


async def test_resumed_after_the_deadline_completes_with_the_rest(tmp_path: Path) -> None:
    now = time.time_ns() // 1_000_000
    p = _params(now)
    j = SqliteJournal(tmp_path / "j.sqlite")
    sink = Sink(crash_at=2)  # slice 1 reaches the venue, the process dies before the answer
    r = AlgoRunner(j, "late-1", sink, clock=FakeClock(p.start_ms))
    await r.start(p)
    with pytest.raises(Crash):
        await r.run()

    out = await run_parent(
        SimpleNamespace(journal=j), "late-1", p, base_decimals=18, quote_decimals=6, sink=sink
    )
    evs = [rec.event for rec in j.read_stream(algo_stream("late-1"))]
    j.close()
    fin = out.state.finished
    assert isinstance(fin, AlgoCompleted) and fin.reason == "deadline reached"
    # slice 0 and the in-flight slice 1 filled (1 asked again under its id), nothing else sent
    assert [e.index for e in evs if isinstance(e, SliceSent)] == [0, 1]
    assert sink.calls.count("late-1.s1") == 2 and len(sink.orders) == 2
    assert fin.filled == out.state.filled == Decimal(4)  # 5 slices of 2 until the deadline
    assert fin.unfilled == p.size - fin.filled == Decimal(6)
    assert out.report.filled == Decimal(4)


async def test_a_new_parent_with_a_past_deadline_is_still_refused(tmp_path: Path) -> None:
    now = time.time_ns() // 1_000_000
    j = SqliteJournal(tmp_path / "j.sqlite")
    try:
        with pytest.raises(ValidationError) as e:
            await run_parent(
                SimpleNamespace(journal=j), "late-2", _params(now), base_decimals=18,
                quote_decimals=6,
            )  # fmt: skip
        assert e.value.field == "algo.deadline"
        assert not list(j.read_stream(algo_stream("late-2")))  # nothing journaled
    finally:
        j.close()
