"""Schedules (exact, seeded, within the horizon) and their fit to the policy's windows."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.algos import policy_fit, schedule
from agent.algos.params import AlgoKind, AlgoParams, validate
from agent.model import Side

T0 = 1_800_000_000_000
DAY = 86_400


def params(**kw) -> AlgoParams:
    base = dict(
        kind=AlgoKind.TWAP, side=Side.BUY, base="WETH", quote="USDC", size=Decimal("250"),
        start_ms=T0, horizon_s=7200, interval_s=300, lot=Decimal("0.001"),
    )  # fmt: skip
    base.update(kw)
    return validate(AlgoParams(**base))


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=10**7).map(lambda n: Decimal(n) / 1000),
    horizon=st.integers(min_value=60, max_value=DAY),
    interval=st.integers(min_value=10, max_value=3600),
    sj=st.sampled_from(["0", "0.1", "0.5"]),
    tj=st.sampled_from(["0", "0.25", "0.5"]),
    min_slice=st.sampled_from(["0", "0.5", "5"]),
    seed=st.integers(0, 10),
)
def test_twap_is_exact_and_inside_the_horizon(size, horizon, interval, sj, tj, min_slice, seed):
    if interval > horizon:
        interval = horizon
    ms = min(Decimal(min_slice), size)
    p = params(
        size=size, horizon_s=horizon, interval_s=interval, size_jitter=Decimal(sj),
        time_jitter=Decimal(tj), min_slice=ms, seed=seed,
    )  # fmt: skip
    s = schedule.twap(p)
    assert sum(x.quantity for x in s) == size
    assert all(x.quantity > 0 and x.quantity % p.lot == 0 for x in s)
    assert all(p.start_ms <= x.due_ms <= p.end_ms for x in s)
    assert [x.due_ms for x in s] == sorted(x.due_ms for x in s)
    if len(s) > 1:
        assert all(x.quantity >= ms for x in s)
    assert s == schedule.twap(p), "seeded: the same parameters give the same schedule"


def test_vwap_follows_the_profile_and_flat_history_is_twap():
    p = params(kind=AlgoKind.VWAP, size=Decimal(100), horizon_s=3 * 300)
    hist = [(T0 - DAY * 1000 + 0, Decimal(1)), (T0 - DAY * 1000 + 300_000, Decimal(3))]
    prof = schedule.volume_profile(hist, p)
    assert prof[0] == 1 and prof[1] == 3 and prof[2] == 2  # the empty bucket gets the mean
    s = schedule.vwap(p, prof)
    assert [x.quantity for x in s] == [Decimal("16.666"), Decimal(50), Decimal("33.334")]
    flat = schedule.vwap(p, schedule.volume_profile((), p))
    assert flat == schedule.twap(p)


def test_catch_up_is_capped():
    p = params(size=Decimal(10), horizon_s=600, interval_s=60, catch_up=Decimal(2), lot=Decimal(1))
    s = schedule.twap(p)
    # five slices due, nothing filled: the next slice sends at most twice its size
    assert schedule.next_quantity(p, s, 4, T0 + 4 * 60_000, Decimal(0)) == 2
    assert schedule.next_quantity(p, s, 4, T0 + 4 * 60_000, Decimal(4)) == 1


def _usdc(available: str, cap: str = "100000", period: int = DAY) -> policy_fit.Window:
    return policy_fit.Window(
        "usdc-daily", "USDC", Decimal(cap), period, Decimal(available), T0 - 3_600_000
    )


def test_a_schedule_the_allowance_cannot_carry_is_refused_naming_the_window():
    p = params(size=Decimal(100), horizon_s=7200, interval_s=600)  # 100 WETH ~ 300k USDC
    s = schedule.twap(p)
    refusal = policy_fit.check(
        p, s, [_usdc("100000")], {"WETH": Decimal(3000), "USD": Decimal(3000)}
    )
    assert refusal is not None and refusal.code == "ALGO_ALLOWANCE_WINDOW"
    assert refusal.window == "usdc-daily" and refusal.needed > refusal.available
    assert "usdc-daily" in refusal.reason and "stretch" in refusal.reason
    small = params(size=Decimal(10), horizon_s=7200, interval_s=600)
    assert (
        policy_fit.check(small, schedule.twap(small), [_usdc("100000")], {"WETH": Decimal(3000)})
        is None
    )


def test_stretch_moves_the_overflow_to_later_windows():
    p = params(size=Decimal(100), horizon_s=7200, interval_s=600)
    s = schedule.twap(p)
    w = _usdc("100000")
    prices = {"WETH": Decimal(3000)}
    stretched, refusal = policy_fit.stretch(p, s, [w], prices)
    assert refusal is None
    assert policy_fit.check(p, stretched, [w], prices) is None
    assert sum(x.quantity for x in stretched) == Decimal(100)
    assert stretched[-1].due_ms > s[-1].due_ms  # it now runs into later days
    per_window: dict[int, Decimal] = {}
    for x in stretched:
        k = w.index(x.due_ms)
        per_window[k] = per_window.get(k, Decimal(0)) + policy_fit.spend(
            p, x, prices["WETH"], "USDC"
        )
    assert all(v <= w.capacity(k) for k, v in per_window.items())


def test_value_budget_window_counts_worst_case_loss():
    p = params(size=Decimal(100), max_slippage_bps=100)
    budget = policy_fit.Window("value-guard", "USD", Decimal(1000), DAY, Decimal(1000), T0)
    r = policy_fit.check(
        p, schedule.twap(p), [budget], {"WETH": Decimal(3000), "USD": Decimal(3000)}
    )
    assert r is not None and r.code == "ALGO_VALUE_BUDGET"  # 1% of 300k = 3000 > 1000
