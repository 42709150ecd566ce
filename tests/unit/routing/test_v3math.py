"""The V3 port's integer math: TickMath's fixed points and inverse, the swap's monotonicity,
exact-in/exact-out inverse bounds, tick crossing, and the float model against the integers.
(That the port equals the real pool to the wei is tests/integration/routing.)"""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from agent.errors import NoRouteError
from agent.routing import v3math
from agent.routing.curves import V3Pool

SPACING = 60


def test_tick_math_fixed_points() -> None:
    assert v3math.sqrt_ratio_at_tick(0) == 1 << 96
    assert v3math.sqrt_ratio_at_tick(v3math.MIN_TICK) == v3math.MIN_SQRT_RATIO
    assert v3math.sqrt_ratio_at_tick(v3math.MAX_TICK) == v3math.MAX_SQRT_RATIO
    with pytest.raises(ValueError):
        v3math.sqrt_ratio_at_tick(v3math.MAX_TICK + 1)


@given(st.integers(v3math.MIN_TICK, v3math.MAX_TICK - 1))
@settings(max_examples=300, deadline=None)
def test_tick_at_sqrt_ratio_is_the_greatest_tick_at_or_below(t: int) -> None:
    s = v3math.sqrt_ratio_at_tick(t)
    assert v3math.tick_at_sqrt_ratio(s) == t
    nxt = v3math.sqrt_ratio_at_tick(t + 1)
    assert v3math.tick_at_sqrt_ratio(nxt - 1) == t
    # 1.0001^(t/2) within float precision: the constants are right
    assert math.isclose(s / 2**96, 1.0001 ** (t / 2), rel_tol=1e-9)


@st.composite
def pools(draw: st.DrawFn) -> v3math.V3State:
    """A pool at a price near 3000 USDC/WETH (token0 = WETH) with 1-4 positions."""
    tick0 = draw(st.integers(-200_000, -190_000))
    ticks: dict[int, int] = {}
    for _ in range(draw(st.integers(1, 4))):
        lo = (tick0 - draw(st.integers(1, 3000))) // SPACING * SPACING
        hi = -(-(tick0 + draw(st.integers(1, 3000))) // SPACING) * SPACING
        if draw(st.booleans()):  # a range away from the price
            shift = draw(st.sampled_from([-1, 1])) * (hi - lo + SPACING)
            lo, hi = lo + shift, hi + shift
        liq = draw(st.integers(10**15, 10**20))
        ticks[lo] = ticks.get(lo, 0) + liq
        ticks[hi] = ticks.get(hi, 0) - liq
    ticks = {t: n for t, n in ticks.items() if n}
    s0 = v3math.sqrt_ratio_at_tick(tick0)
    s1 = v3math.sqrt_ratio_at_tick(tick0 + 1)
    sqrt_p = draw(st.integers(s0, s1 - 1))
    liq_here = sum(n for t, n in ticks.items() if t <= tick0)
    fee = draw(st.sampled_from([100, 500, 3000, 10000]))
    return v3math.V3State(sqrt_p, tick0, liq_here, fee, SPACING, ticks)


@given(pools(), st.booleans(), st.integers(1, 10**22), st.integers(1, 10**22))
@settings(max_examples=150, deadline=None)
def test_exact_in_is_monotonic(state: v3math.V3State, z: bool, a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    assert v3math.swap(state, z, lo).amount_out <= v3math.swap(state, z, hi).amount_out


@given(pools(), st.booleans(), st.floats(1e-9, 0.99))
@settings(max_examples=150, deadline=None)
def test_exact_in_and_exact_out_bound_each_other(
    state: v3math.V3State, z: bool, frac: float
) -> None:
    pool = V3Pool(state, z)
    assume(pool.max_out > 10)
    out = max(1, int(pool.max_out * frac))
    need = pool.amount_in(out)  # exact output: what the pool takes
    assert pool.amount_out(need) >= out  # paying that in exactly gets at least ``out``
    got = pool.amount_out(need - 1) if need > 1 else 0
    assert got <= out + 1  # and one unit less cannot get meaningfully more


@given(pools(), st.booleans())
@settings(max_examples=100, deadline=None)
def test_a_swap_through_every_range_crosses_ticks_and_runs_dry(
    state: v3math.V3State, z: bool
) -> None:
    pool = V3Pool(state, z)
    r = v3math.swap(state, z, -(1 << 200))
    ahead = [t for t in state.ticks if (t <= state.tick if z else t > state.tick)]
    assert r.ticks_crossed == len(ahead)
    assert r.liquidity == 0 or not ahead  # past the last position nothing is left
    with pytest.raises(NoRouteError):
        pool.amount_in(pool.max_out + 1)


@given(pools(), st.booleans(), st.floats(1e-6, 0.999))
@settings(max_examples=150, deadline=None)
def test_float_model_tracks_the_integer_swap(state: v3math.V3State, z: bool, frac: float) -> None:
    pool = V3Pool(state, z)
    assume(pool.max_out > 10**6)
    out = int(pool.max_out * frac)
    exact = pool.amount_in(out)
    assert math.isclose(pool.in_for_out_f(out), exact, rel_tol=1e-7, abs_tol=2)
    # the rate model inverts: the output at the marginal rate reached after ``out`` is ``out``
    r = pool.rate_at_out(out)
    if r > 0:
        # (a tiny move is a difference of nearly equal square roots: resolution 1e-10 of the pool)
        assert math.isclose(
            pool.out_at_rate(r), out, rel_tol=1e-6, abs_tol=max(1e3, pool.max_out * 1e-10)
        )
