"""Curves: V2's closed form is UniswapV2Library's, books are exact with fee and lot, the
bridged L2 leg adds exactly the bridge fee and the time cost, and every curve's float search
helpers (marginal, base_at, approx) agree with its exact cost."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from agent.errors import NoRouteError, ValidationError
from agent.model import Side
from agent.routing.curves import BookCurve, BookLevel, BridgedCurve, PoolCurve, V2Pair

E18 = 10**18
reserves = st.integers(10**9, 10**30)
sides = st.sampled_from([Side.BUY, Side.SELL])


def _v2_out(a: int, r_in: int, r_out: int) -> int:  # UniswapV2Library.getAmountOut, verbatim
    a_fee = a * 997
    return a_fee * r_out // (r_in * 1000 + a_fee)


def _v2_in(o: int, r_in: int, r_out: int) -> int:  # UniswapV2Library.getAmountIn, verbatim
    return r_in * o * 1000 // ((r_out - o) * 997) + 1


@given(reserves, reserves, st.integers(1, 10**30))
@settings(max_examples=300, deadline=None)
def test_v2_is_the_library(r_in: int, r_out: int, amount: int) -> None:
    pair = V2Pair(r_in, r_out, 3000)
    assert pair.amount_out(amount) == _v2_out(amount, r_in, r_out)
    o = amount % r_out
    if o:
        assert pair.amount_in(o) == _v2_in(o, r_in, r_out)
        assert pair.amount_out(pair.amount_in(o)) >= o  # the inverse bound
    with pytest.raises(NoRouteError):
        pair.amount_in(r_out)


@given(reserves, reserves, sides, st.floats(1e-6, 0.9))
@settings(max_examples=200, deadline=None)
def test_pool_curve_search_helpers_agree_with_exact_cost(
    rb: int, rq: int, side: Side, frac: float
) -> None:
    pair = V2Pair(rq, rb) if side is Side.BUY else V2Pair(rb, rq)
    c = PoolCurve(pair, side)
    x = int(rb * frac)
    assume(x > 10**6)
    assert math.isclose(c.approx(x), c.cost(x), rel_tol=1e-9, abs_tol=2)
    m = c.marginal(x)
    assert math.isclose(c.base_at(m), x, rel_tol=1e-7)
    # monotone: BUY costs more and the marginal price rises; SELL the reverse
    y = x + x // 10
    if side is Side.BUY:
        assert c.cost(y) > c.cost(x) and c.marginal(y) > m
    else:
        assert c.cost(y) >= c.cost(x) and c.marginal(y) < m


def _book(side: Side, fee: Fraction, lot: int) -> BookCurve:
    base = Fraction(3000 * 10**6, E18)
    step = Fraction(1, 100) * Fraction(10**6, E18)
    sgn = 1 if side is Side.BUY else -1
    levels = [BookLevel(base + sgn * k * step, (k + 1) * 10 * lot) for k in range(5)]
    return BookCurve(levels, side, fee, lot)


@given(sides, st.integers(1, 150))
@settings(max_examples=100, deadline=None)
def test_book_cost_is_exact_with_fee_and_lot(side: Side, lots: int) -> None:
    lot = 10**14
    fee = Fraction(5, 10_000)
    c = _book(side, fee, lot)
    x = lots * lot
    # walk the levels by hand with Fractions
    left, notional = x, Fraction(0)
    for k in range(5):
        px = Fraction(3000 * 10**6, E18) + (1 if side is Side.BUY else -1) * k * Fraction(
            10**6, 100 * E18
        )
        take = min(left, (k + 1) * 10 * lot)
        notional += px * take
        left -= take
    want = math.ceil(notional * (1 + fee)) if side is Side.BUY else math.floor(notional * (1 - fee))
    assert c.cost(x) == want
    assert c.fee(x) == abs(
        want - (math.ceil(notional) if side is Side.BUY else math.floor(notional))
    )
    assert c.capacity == 150 * lot
    with pytest.raises(ValidationError):
        c.cost(x + 1)  # not a whole lot
    with pytest.raises(NoRouteError):
        c.cost(c.capacity + lot)


def test_book_base_at_is_whole_levels() -> None:
    c = _book(Side.BUY, Fraction(0), 10**14)
    p1 = float(Fraction(3000 * 10**6, E18))
    assert c.base_at(p1 * (1 - 1e-12)) == 0
    assert c.base_at(p1) == 10 * 10**14
    assert c.level_end(0) == 10 * 10**14
    with pytest.raises(ValidationError):
        BookCurve([BookLevel(Fraction(2), 1), BookLevel(Fraction(1), 1)], Side.BUY, Fraction(0))


@given(st.integers(0, 100), st.integers(0, 50), st.integers(10**15, 10**21))
@settings(max_examples=200, deadline=None)
def test_bridged_buy_adds_the_bridge_fee_and_time_exactly(bps: int, t: int, x: int) -> None:
    inner = PoolCurve(V2Pair(10**13, 10**22), Side.BUY)
    assume(x < inner.capacity)
    c = BridgedCurve(inner, bps, Fraction(t, 10))
    need = inner.cost(x)
    g = c.gross_for(need)
    assert g - g * bps // 10_000 >= need  # enough arrives after the bridge's floor fee
    assert (g - 1) - (g - 1) * bps // 10_000 < need  # and not one unit more is sent
    assert c.cost(x) == g + math.ceil(need * Fraction(t, 10) / 10_000)
    assert c.venue_amount(x) + c.extras(x) == c.cost(x)
    assert math.isclose(c.approx(x), c.cost(x), rel_tol=1e-6, abs_tol=4)  # ceil + the +1


@given(st.integers(0, 100), st.integers(0, 50), st.integers(10**15, 10**21))
@settings(max_examples=100, deadline=None)
def test_bridged_sell_bridges_the_base_and_charges_time(bps: int, t: int, x: int) -> None:
    inner = PoolCurve(V2Pair(10**22, 10**13), Side.SELL)
    c = BridgedCurve(inner, bps, Fraction(t, 10))
    arrives = x - x * bps // 10_000
    got = inner.cost(arrives)
    assert c.venue_amount(x) == got
    assert c.cost(x) == got - math.ceil(got * Fraction(t, 10) / 10_000)
    assert c.venue_amount(x) - c.extras(x) == c.cost(x)
