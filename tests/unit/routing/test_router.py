"""The router's properties on random venue mixes: never worse than any single venue or the 5%
grid, marginal prices equalized, caps / limit / lots honoured, fixed costs chosen as well as
brute force over every subset, and the bad inputs of issue 15."""

from __future__ import annotations

import itertools
import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from agent.errors import NoRouteError, ValidationError
from agent.model import Side
from agent.routing import router, v3math
from agent.routing.curves import BookCurve, BookLevel, Leg, PoolCurve, V2Pair, V3Pool
from agent.routing.plan import LegKind
from agent.routing.router import RouteLimitError

E18 = 10**18
LOT = 10**14
PX = Fraction(3000 * 10**6, E18)


@st.composite
def venue(draw: st.DrawFn, side: Side) -> object:
    kind = draw(st.sampled_from(["v2", "v3", "book"]))
    skew = Fraction(draw(st.integers(-40, 40)), 10_000)
    px = PX * (1 + skew)
    if kind == "v2":
        rb = draw(st.integers(10, 5000)) * E18
        rq = int(rb * px)
        fee = draw(st.sampled_from([1000, 3000]))
        return PoolCurve(V2Pair(rq, rb, fee) if side is Side.BUY else V2Pair(rb, rq, fee), side)
    if kind == "v3":
        tick0 = math.floor(math.log(float(px)) / math.log(1.0001))
        w = draw(st.integers(20, 4000))
        lo, hi = (tick0 - w) // 60 * 60, -(-(tick0 + w) // 60) * 60
        liq = draw(st.integers(10**16, 10**19))
        st_ = v3math.V3State(
            v3math.sqrt_ratio_at_tick(tick0) + 7, tick0, liq, 3000, 60, {lo: liq, hi: -liq}
        )
        return PoolCurve(V3Pool(st_, zero_for_one=side is Side.SELL), side)
    tick = Fraction(10**6, 100 * E18)
    sgn = 1 if side is Side.BUY else -1
    p = px + sgn * draw(st.integers(1, 50)) * tick
    levels = []
    for _ in range(draw(st.integers(1, 15))):
        levels.append(BookLevel(p, draw(st.integers(1, 20_000)) * LOT))
        p += sgn * draw(st.integers(1, 200)) * tick
    return BookCurve(levels, side, Fraction(draw(st.sampled_from([0, 5, 10])), 10_000), LOT)


@st.composite
def scenarios(draw: st.DrawFn, gas: bool = False) -> tuple[Side, list[Leg], int]:
    side = draw(st.sampled_from([Side.BUY, Side.SELL]))
    curves = draw(st.lists(venue(side), min_size=1, max_size=5))
    legs = [
        Leg(f"v{i}", LegKind.AMM, 1, c, draw(st.integers(0, 50)) * 10**6 if gas else 0)
        for i, c in enumerate(curves)
    ]
    depth = min(sum(lg.limit for lg in legs), 2000 * E18)
    size = int(depth * draw(st.floats(1e-5, 0.5)))
    size -= size % LOT
    assume(size > 0)
    return side, legs, size


def _better_or_equal(side: Side, a: int, b: int, slack: int) -> bool:
    return a <= b + slack if side is Side.BUY else a >= b - slack


@given(scenarios())
@settings(max_examples=120, deadline=None)
def test_no_plan_is_worse_than_a_single_venue_or_the_grid(sc: tuple[Side, list[Leg], int]) -> None:
    side, legs, size = sc
    alloc = router.optimize(legs, side, size)
    assert sum(alloc.amounts) == size
    slack = len(legs)  # each child's integer rounding is at most one unit against us
    for i, lg in enumerate(legs):
        if lg.limit >= size:
            single = lg.curve.cost(size)
            assert _better_or_equal(side, alloc.total, single, slack), (i, alloc.total, single)
    grid = router.grid_split(legs, side, size)
    if grid is not None:
        assert _better_or_equal(side, alloc.total, grid.total, slack)


@given(scenarios())
@settings(max_examples=120, deadline=None)
def test_marginal_prices_are_equal_across_the_venues_that_fill(
    sc: tuple[Side, list[Leg], int],
) -> None:
    side, legs, size = sc
    alloc = router.optimize(legs, side, size)
    buy = side is Side.BUY
    # the price of the last units each venue fills, and of the next unit it would. Books
    # fill whole lots only, so a continuous venue may take up to one lot more than the
    # equal-price split: "last" looks one (largest) lot back
    big = max(lg.curve.lot for lg in legs)
    last = [
        lg.curve.marginal(max(0, a - big)) for lg, a in zip(legs, alloc.amounts, strict=True) if a
    ]
    nxt = [
        lg.curve.marginal(a)
        for lg, a in zip(legs, alloc.amounts, strict=True)
        if a + lg.curve.lot <= lg.limit
    ]
    if not nxt:
        return
    worst_taken = max(last) if buy else min(last)
    best_left = min(nxt) if buy else max(nxt)
    # KKT: no unit left anywhere is cheaper than a unit taken (within float resolution)
    if buy:
        assert best_left >= worst_taken * (1 - 1e-7)
    else:
        assert best_left <= worst_taken * (1 + 1e-7)


@given(scenarios(), st.data())
@settings(max_examples=80, deadline=None)
def test_caps_lots_and_limit_are_honoured(
    sc: tuple[Side, list[Leg], int], data: st.DataObject
) -> None:
    side, legs, size = sc
    caps = [data.draw(st.integers(0, lg.limit)) for lg in legs]
    legs = [
        Leg(lg.venue_id, lg.kind, 1, lg.curve, 0, cap=c) for lg, c in zip(legs, caps, strict=True)
    ]
    first = (
        min(lg.curve.marginal(0) for lg in legs)
        if side is Side.BUY
        else max(lg.curve.marginal(0) for lg in legs)
    )
    limit = first * (1 + data.draw(st.floats(0, 0.02)) * (1 if side is Side.BUY else -1))
    alloc = router.optimize(legs, side, size, limit)
    assert sum(alloc.amounts) <= size
    for lg, a, cap in zip(legs, alloc.amounts, caps, strict=True):
        assert a <= cap
        assert a % lg.curve.lot == 0
        if a:  # every unit taken is within the limit
            m = lg.curve.marginal(a - 1)
            assert (m <= limit * (1 + 1e-9)) if side is Side.BUY else (m >= limit * (1 - 1e-9))


def _v2_sells(*pools: tuple[int, int, int, int]) -> list[Leg]:
    return [
        Leg(f"v{i}", LegKind.AMM, 1, PoolCurve(V2Pair(r_in, r_out, fee), Side.SELL), gas)
        for i, (r_in, r_out, fee, gas) in enumerate(pools)
    ]


@given(scenarios(gas=True))
# found by this test: a venue idle at p joined once another was left out and cost more gas
# than it saved (the best plan was one pool alone)
@example((Side.SELL, _v2_sells(
    (10 * E18, 30_000 * 10**6, 3000, 2 * 10**6), (10 * E18, 30_000 * 10**6, 3000, 3 * 10**6),
    (122 * E18, 366_000 * 10**6, 1000, 7 * 10**6)), 122 * 10**15))  # fmt: skip
@example((Side.SELL, _v2_sells(
    (10 * E18, 30_000 * 10**6, 1000, 0), (10 * E18, 30_000 * 10**6, 1000, 10**6),
    (10 * E18, 30_000 * 10**6, 3000, 10**6)), 2 * 10**16))  # fmt: skip
@settings(max_examples=40, deadline=None)
def test_fixed_costs_are_chosen_as_well_as_brute_force(sc: tuple[Side, list[Leg], int]) -> None:
    side, legs, size = sc
    assume(len(legs) <= 4)
    alloc = router.optimize(legs, side, size)
    best = None
    for k in range(1, len(legs) + 1):
        for sub in itertools.combinations(range(len(legs)), k):
            a, _ = router.allocate(legs, list(sub), side, size, None)
            if sum(a) < size:
                continue
            total = router._evaluate(legs, a, 0.0).total
            if side is Side.SELL:
                total = sum(legs[i].curve.cost(x) - legs[i].gas_quote for i, x in enumerate(a) if x)
            if best is None or (total < best if side is Side.BUY else total > best):
                best = total
    assume(best is not None)
    mine = (
        alloc.total
        if side is Side.BUY
        else sum(
            legs[i].curve.cost(x) - legs[i].gas_quote for i, x in enumerate(alloc.amounts) if x
        )
    )
    # the subset choice compares float models: allow 0.01 bp of the order
    assert _better_or_equal(side, mine, best, max(len(legs), abs(best) // 1_000_000))


def _two_pools() -> list[Leg]:
    a = PoolCurve(V2Pair(3_000_000 * 10**6, 1000 * E18), Side.BUY)
    b = PoolCurve(V2Pair(1_500_000 * 10**6, 500 * E18), Side.BUY)
    return [Leg("a", LegKind.AMM, 1, a, 0, "block:1"), Leg("b", LegKind.AMM, 1, b, 0, "block:1")]


def _plan(legs: list[Leg], size: int, **kw: object) -> object:
    return router.plan(
        legs, Side.BUY, size, parent_id="p", base="WETH", quote="USDC",
        base_decimals=18, quote_decimals=6, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_size_beyond_all_liquidity_is_a_partial_plan_that_says_how_much() -> None:
    legs = _two_pools()
    size = 2000 * E18
    p = _plan(legs, size)
    assert p.unfilled == size - sum(lg.limit for lg in legs)  # type: ignore[attr-defined]
    assert p.filled + p.unfilled == size  # type: ignore[attr-defined]


def test_unreachable_limit_is_denied_with_the_best_achievable_price() -> None:
    with pytest.raises(RouteLimitError) as e:
        _plan(_two_pools(), E18, limit_price=Decimal("2500"))
    assert e.value.code == "ROUTE_LIMIT_UNREACHABLE"
    assert e.value.best_price == Decimal("3009.02708124")  # 3000 / 0.997: the pools' start
    assert "2500" in str(e.value) and "raise the limit" in str(e.value)


def test_a_limit_fills_up_to_it_and_reports_the_rest() -> None:
    p = _plan(_two_pools(), 100 * E18, limit_price=Decimal("3020"))
    assert 0 < p.filled < 100 * E18  # type: ignore[attr-defined]
    assert all(c.marginal_price <= Decimal("3020") for c in p.children)  # type: ignore[attr-defined]


def test_plan_children_are_stable_and_consistent() -> None:
    legs = _two_pools()
    p = _plan(legs, 30 * E18, excluded=(("cex:binance", "BOOK_STALE: 9000 ms old"),))
    assert [c.client_order_id for c in p.children] == ["p.0", "p.1"]  # type: ignore[attr-defined]
    assert p.total_quote == sum(c.quote_amount + c.gas_quote for c in p.children)  # type: ignore[attr-defined]
    assert p.excluded == (("cex:binance", "BOOK_STALE: 9000 ms old"),)  # type: ignore[attr-defined]
    assert p.best_single is not None and p.best_single[1] >= p.total_quote  # type: ignore[attr-defined]
    assert p == _plan(legs, 30 * E18, excluded=(("cex:binance", "BOOK_STALE: 9000 ms old"),))


def test_bad_sizes_and_no_venues_are_refused() -> None:
    with pytest.raises(ValidationError):
        _plan(_two_pools(), 0)
    with pytest.raises(NoRouteError):
        _plan([], E18, excluded=(("x", "down"),))
