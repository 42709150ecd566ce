"""Leg synchronization over a fault matrix (pure logic: the sinks stand in for the venues and
fail the ways venues fail - reject, partial fill, timeout, a reverted hedge)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.algos.legsync import Leg, LegSynchronizer, SyncBounds, UnwindRule
from agent.algos.runner import SliceOrder, SliceResult
from agent.model import Side

T0 = 1_800_000_000_000


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def now_ms(self) -> int:
        return self.t

    async def sleep_until(self, t: int) -> None:
        self.t = max(self.t + 1, t)


class FaultySink:
    """Fills by a script: each call takes the next fault; ``ok`` fills in full."""

    def __init__(self, clock: Clock, faults: list[str], price: Decimal = Decimal(100)) -> None:
        self.clock, self.faults, self.price = clock, list(faults), price
        self.orders: list[SliceOrder] = []

    async def execute(self, order: SliceOrder) -> SliceResult:
        self.orders.append(order)
        fault = self.faults.pop(0) if self.faults else "ok"
        if fault == "timeout":  # the venue answers late, and not at all
            self.clock.t += 3_000
            return SliceResult(Decimal(0), Decimal(0), "unfilled", "TIMEOUT", "no answer")
        if fault in ("reject", "revert"):
            code = "VENUE_REJECT" if fault == "reject" else "TX_REVERTED"
            return SliceResult(Decimal(0), Decimal(0), "rejected", code, fault)
        q = order.quantity
        if fault == "partial":
            q = (q / 2).quantize(Decimal("0.0001"))
        self.clock.t += 50
        return SliceResult(q, q * self.price, "filled" if q == order.quantity else "partial")

    async def cancel_working(self, parent_id: str) -> int:
        return 0


def legs(clock: Clock, primary_faults: list[str], hedge_faults: list[str]):
    # 20 calls of delta 0.5 each (options on a CEX) hedged by selling the underlying on an AMM
    primary = Leg(
        "opt", FaultySink(clock, primary_faults), Side.BUY, "ETH-C", "USDC", Decimal(20),
        Decimal("0.5"), lot=Decimal("0.1"),
    )  # fmt: skip
    hedge = Leg(
        "hedge", FaultySink(clock, hedge_faults, Decimal(3000)), Side.SELL, "WETH", "USDC",
        Decimal(10), Decimal(1), lot=Decimal("0.0001"),
    )  # fmt: skip
    return primary, hedge


async def test_clean_run_hedges_each_chunk():
    clock = Clock()
    p, h = legs(clock, [], [])
    s = LegSynchronizer("ls1", p, h, SyncBounds(Decimal(2), 2_000), clock=clock)
    rep = await s.run()
    assert rep.outcome == "hedged" and rep.primary_filled == 20 and rep.hedge_filled == 10
    assert rep.worst_net_delta <= 2
    assert all(o.quantity <= 4 for o in p.sink.orders)  # 4 calls * 0.5 = the 2-delta bound
    assert s.log.net == 0


FAULTS = ["reject", "partial", "timeout", "revert"]


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("rule", list(UnwindRule))
async def test_a_failing_hedge_never_exceeds_the_bound(fault, rule):
    """The hedge fails six times running (3 s of retries at 500 ms, past the 2 s bound)."""
    clock = Clock()
    p, h = legs(clock, [], [fault] * 6)
    bounds = SyncBounds(Decimal(2), 2_000, rule=rule, max_attempts=8)
    s = LegSynchronizer("ls2", p, h, bounds, clock=clock)
    rep = await s.run()
    assert rep.worst_net_delta <= bounds.max_net_delta
    # hedged or taken back: at most one primary lot's delta is left by rounding
    assert abs(s.log.net) <= p.lot * p.delta
    if rule is UnwindRule.UNWIND:
        assert rep.outcome == "unwound" and rep.unwound > 0
        # unhedged at most the bound plus one venue round trip (a timeout answers after 3 s)
        assert rep.longest_unhedged_ms <= bounds.max_unhedged_ms + 3_000 + 500
    else:  # complete: the hedge is retried past the bound until it fills
        assert rep.outcome == "hedged" and rep.primary_filled == 20
        assert any("past the time bound" in n for n in rep.notes)


async def test_primary_partial_fill_is_hedged_partially():
    clock = Clock()
    p, h = legs(clock, ["partial"], [])
    s = LegSynchronizer("ls3", p, h, SyncBounds(Decimal(2), 2_000), clock=clock)
    rep = await s.run()
    first_hedge = h.sink.orders[0]
    assert first_hedge.quantity == Decimal(1)  # 2 calls filled of 4 -> delta 1
    assert rep.primary_filled == 20 and s.log.net == 0


@settings(max_examples=60, deadline=None)
@given(
    hedge=st.lists(st.sampled_from(["ok", *FAULTS]), max_size=25),
    primary=st.lists(st.sampled_from(["ok", "partial", "reject"]), max_size=10),
    bound=st.sampled_from([Decimal(1), Decimal("2.5"), Decimal(6)]),
    rule=st.sampled_from(list(UnwindRule)),
)
async def test_exposure_bound_holds_across_the_fault_matrix(hedge, primary, bound, rule):
    clock = Clock()
    p, h = legs(clock, primary, hedge)
    s = LegSynchronizer(
        "ls4", p, h, SyncBounds(bound, 2_000, rule=rule, max_attempts=6), clock=clock
    )
    rep = await s.run()
    assert rep.worst_net_delta <= bound
    assert rep.primary_filled >= 0 and rep.hedge_filled >= 0
