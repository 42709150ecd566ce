"""Uniswap V3's swap, in exact integer math, as the pool computes it (v3-core 1.0.1).

A port of the semantics of TickMath, SqrtPriceMath, SwapMath, TickBitmap's
``nextInitializedTickWithinOneWord`` and the loop of ``UniswapV3Pool.swap``: the same steps
(the loop also stops at empty bitmap-word boundaries, and each step rounds on its own, so
skipping those stops would change results by a few wei), the same rounding directions, the same
uint256 overflow branches. Python ints are unbounded, so where Solidity would overflow we test
the bound explicitly and take the branch the contract takes.

The pool state (:class:`V3State`) is what ``slot0``, ``liquidity``, ``tickSpacing``, ``fee``
and, for every initialized tick, ``ticks(t).liquidityNet`` return at one block.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from agent.errors import NoRouteError

MIN_TICK = -887272
MAX_TICK = 887272
MIN_SQRT_RATIO = 4295128739
MAX_SQRT_RATIO = 1461446703485210103287273052203988822378723970342
Q96 = 1 << 96
U256 = 1 << 256
U160_MAX = (1 << 160) - 1
_LOG_BASE = math.log(1.0001)

_RATIOS = (
    (0x2, 0xFFF97272373D413259A46990580E213A),
    (0x4, 0xFFF2E50F5F656932EF12357CF3C7FDCC),
    (0x8, 0xFFE5CACA7E10E4E61C3624EAA0941CD0),
    (0x10, 0xFFCB9843D60F6159C9DB58835C926644),
    (0x20, 0xFF973B41FA98C081472E6896DFB254C0),
    (0x40, 0xFF2EA16466C96A3843EC78B326B52861),
    (0x80, 0xFE5DEE046A99A2A811C461F1969C3053),
    (0x100, 0xFCBE86C7900A88AEDCFFC83B479AA3A4),
    (0x200, 0xF987A7253AC413176F2B074CF7815E54),
    (0x400, 0xF3392B0822B70005940C7A398E4B70F3),
    (0x800, 0xE7159475A2C29B7443B29C7FA6E889D9),
    (0x1000, 0xD097F3BDFD2022B8845AD8F792AA5825),
    (0x2000, 0xA9F746462D870FDF8A65DC1F90E061E5),
    (0x4000, 0x70D869A156D2A1B890BB3DF62BAF32F7),
    (0x8000, 0x31BE135F97D08FD981231505542FCFA6),
    (0x10000, 0x9AA508B5B7A84E1C677DE54F3E99BC9),
    (0x20000, 0x5D6AF8DEDB81196699C329225EE604),
    (0x40000, 0x2216E584F5FA1EA926041BEDFE98),
    (0x80000, 0x48A170391F7DC42444E8FA2),
)


def sqrt_ratio_at_tick(tick: int) -> int:
    """TickMath.getSqrtRatioAtTick."""
    a = -tick if tick < 0 else tick
    if a > MAX_TICK:
        raise ValueError(f"tick {tick} outside [{MIN_TICK}, {MAX_TICK}]")
    ratio = 0xFFFCB933BD6FAD37AA2D162D1A594001 if a & 1 else 1 << 128
    for bit, mul in _RATIOS:
        if a & bit:
            ratio = (ratio * mul) >> 128
    if tick > 0:
        ratio = (U256 - 1) // ratio
    return (ratio >> 32) + (0 if ratio % (1 << 32) == 0 else 1)


def tick_at_sqrt_ratio(sqrt_price_x96: int) -> int:
    """TickMath.getTickAtSqrtRatio: the greatest tick whose sqrt ratio is <= the input (what
    the contract's log2 approximation returns, by its own specification)."""
    if not MIN_SQRT_RATIO <= sqrt_price_x96 < MAX_SQRT_RATIO:
        raise ValueError("sqrt price out of range")
    est = math.floor(2 * math.log(sqrt_price_x96 / Q96) / _LOG_BASE)
    est = max(MIN_TICK, min(MAX_TICK, est))
    while est < MAX_TICK and sqrt_ratio_at_tick(est + 1) <= sqrt_price_x96:
        est += 1
    while sqrt_ratio_at_tick(est) > sqrt_price_x96:
        est -= 1
    return est


def _mul_div(a: int, b: int, d: int) -> int:
    r = a * b // d
    if r >= U256:
        raise ArithmeticError("mulDiv overflow")
    return r


def _mul_div_up(a: int, b: int, d: int) -> int:
    r = -(-a * b // d)
    if r >= U256:
        raise ArithmeticError("mulDiv overflow")
    return r


def _div_up(a: int, b: int) -> int:
    return -(-a // b)


def amount0_delta(sa: int, sb: int, liquidity: int, round_up: bool) -> int:
    if sa > sb:
        sa, sb = sb, sa
    n1 = liquidity << 96
    n2 = sb - sa
    if round_up:
        return _div_up(_mul_div_up(n1, n2, sb), sa)
    return _mul_div(n1, n2, sb) // sa


def amount1_delta(sa: int, sb: int, liquidity: int, round_up: bool) -> int:
    if sa > sb:
        sa, sb = sb, sa
    if round_up:
        return _mul_div_up(liquidity, sb - sa, Q96)
    return _mul_div(liquidity, sb - sa, Q96)


def _next_from_amount0_up(sqrt_p: int, liquidity: int, amount: int, add: bool) -> int:
    if amount == 0:
        return sqrt_p
    n1 = liquidity << 96
    product = amount * sqrt_p
    if add:
        if product < U256 and n1 + product < U256:  # no uint256 overflow: the precise branch
            return _mul_div_up(n1, sqrt_p, n1 + product)
        return _div_up(n1, n1 // sqrt_p + amount)
    if not (product < U256 and n1 > product):
        raise ArithmeticError("getNextSqrtPriceFromAmount0RoundingUp: not enough liquidity")
    r = _mul_div_up(n1, sqrt_p, n1 - product)
    if r > U160_MAX:
        raise ArithmeticError("sqrt price overflows uint160")
    return r


def _next_from_amount1_down(sqrt_p: int, liquidity: int, amount: int, add: bool) -> int:
    if add:
        q = (amount << 96) // liquidity if amount <= U160_MAX else _mul_div(amount, Q96, liquidity)
        r = sqrt_p + q
        if r > U160_MAX:
            raise ArithmeticError("sqrt price overflows uint160")
        return r
    q = (
        _div_up(amount << 96, liquidity)
        if amount <= U160_MAX
        else _mul_div_up(amount, Q96, liquidity)
    )
    if not sqrt_p > q:
        raise ArithmeticError("getNextSqrtPriceFromAmount1RoundingDown: not enough liquidity")
    return sqrt_p - q


def swap_step(
    cur: int, target: int, liquidity: int, remaining: int, fee_pips: int
) -> tuple[int, int, int, int]:
    """SwapMath.computeSwapStep -> (sqrt_next, amount_in, amount_out, fee_amount)."""
    zero_for_one = cur >= target
    exact_in = remaining >= 0
    amount_in = amount_out = 0
    if exact_in:
        less_fee = _mul_div(remaining, 1_000_000 - fee_pips, 1_000_000)
        amount_in = (
            amount0_delta(target, cur, liquidity, True)
            if zero_for_one
            else amount1_delta(cur, target, liquidity, True)
        )
        if less_fee >= amount_in:
            nxt = target
        elif zero_for_one:
            nxt = _next_from_amount0_up(cur, liquidity, less_fee, True)
        else:
            nxt = _next_from_amount1_down(cur, liquidity, less_fee, True)
    else:
        amount_out = (
            amount1_delta(target, cur, liquidity, False)
            if zero_for_one
            else amount0_delta(cur, target, liquidity, False)
        )
        if -remaining >= amount_out:
            nxt = target
        elif zero_for_one:
            nxt = _next_from_amount1_down(cur, liquidity, -remaining, False)
        else:
            nxt = _next_from_amount0_up(cur, liquidity, -remaining, False)
    hit = target == nxt
    if zero_for_one:
        if not (hit and exact_in):
            amount_in = amount0_delta(nxt, cur, liquidity, True)
        if not (hit and not exact_in):
            amount_out = amount1_delta(nxt, cur, liquidity, False)
    else:
        if not (hit and exact_in):
            amount_in = amount1_delta(cur, nxt, liquidity, True)
        if not (hit and not exact_in):
            amount_out = amount0_delta(cur, nxt, liquidity, False)
    if not exact_in and amount_out > -remaining:
        amount_out = -remaining
    if exact_in and nxt != target:
        fee = remaining - amount_in
    else:
        fee = _mul_div_up(amount_in, fee_pips, 1_000_000 - fee_pips)
    return nxt, amount_in, amount_out, fee


@dataclass(frozen=True, slots=True)
class V3State:
    """One pool at one block. ``ticks`` maps every initialized tick to its liquidityNet; the
    bitmap is derived from it (a tick is initialized iff it has liquidityGross > 0)."""

    sqrt_price_x96: int
    tick: int
    liquidity: int
    fee: int  # pips (500 = 0.05%)
    tick_spacing: int
    ticks: dict[int, int]
    # bitmap words read (inclusive); None = all. A swap that would search a word outside
    # stops there (complete=False): we do not guess at ticks we have not read.
    word_lo: int | None = None
    word_hi: int | None = None
    _compressed: list[int] = field(default_factory=list, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self._compressed:
            object.__setattr__(
                self, "_compressed", sorted(t // self.tick_spacing for t in self.ticks)
            )

    def knows_word_of(self, tick: int, lte: bool) -> bool:
        c = tick // self.tick_spacing
        w = (c if lte else c + 1) >> 8
        return (self.word_lo is None or w >= self.word_lo) and (
            self.word_hi is None or w <= self.word_hi
        )

    def next_initialized_within_word(self, tick: int, lte: bool) -> tuple[int, bool]:
        """TickBitmap.nextInitializedTickWithinOneWord over the pool's initialized ticks."""
        sp = self.tick_spacing
        compressed = tick // sp  # floor, as the contract's round-towards-negative-infinity
        comp = self._compressed
        if lte:
            word_start = (compressed >> 8) << 8
            i = bisect.bisect_right(comp, compressed) - 1
            if i >= 0 and comp[i] >= word_start:
                return comp[i] * sp, True
            return word_start * sp, False
        start = compressed + 1
        word_end = ((start >> 8) << 8) + 255
        i = bisect.bisect_left(comp, start)
        if i < len(comp) and comp[i] <= word_end:
            return comp[i] * sp, True
        return word_end * sp, False


@dataclass(frozen=True, slots=True)
class SwapResult:
    amount_in: int  # paid into the pool, fee included
    amount_out: int  # paid out by the pool
    fee: int  # total fee, in the input token
    sqrt_price_x96: int  # after the swap
    tick: int
    liquidity: int
    ticks_crossed: int
    complete: bool = True  # False: stopped at the edge of the bitmap words read


def swap(
    state: V3State,
    zero_for_one: bool,
    amount_specified: int,
    sqrt_price_limit_x96: int | None = None,
) -> SwapResult:
    """UniswapV3Pool.swap's arithmetic: ``amount_specified`` > 0 is exact input, < 0 exact
    output. The limit defaults to what SwapRouter/QuoterV2 pass for 0 (MIN+1 / MAX-1)."""
    if amount_specified == 0:
        raise ValueError("amount_specified is 0")
    limit = sqrt_price_limit_x96
    if limit is None:
        limit = MIN_SQRT_RATIO + 1 if zero_for_one else MAX_SQRT_RATIO - 1
    exact_in = amount_specified > 0
    remaining = amount_specified
    calculated = 0
    sqrt_p, tick, liq = state.sqrt_price_x96, state.tick, state.liquidity
    fees = crossed = 0
    ticks = state.ticks
    complete = True
    while remaining != 0 and sqrt_p != limit:
        if not state.knows_word_of(tick, zero_for_one):
            complete = False
            break
        start = sqrt_p
        tick_next, initialized = state.next_initialized_within_word(tick, zero_for_one)
        tick_next = max(MIN_TICK, min(MAX_TICK, tick_next))
        sqrt_next = sqrt_ratio_at_tick(tick_next)
        target = limit if (sqrt_next < limit if zero_for_one else sqrt_next > limit) else sqrt_next
        sqrt_p, a_in, a_out, fee = swap_step(sqrt_p, target, liq, remaining, state.fee)
        if exact_in:
            remaining -= a_in + fee
            calculated -= a_out
        else:
            remaining += a_out
            calculated += a_in + fee
        fees += fee
        if sqrt_p == sqrt_next:
            if initialized:
                net = ticks[tick_next]
                liq += -net if zero_for_one else net
                if liq < 0:
                    raise ArithmeticError("liquidity underflow crossing a tick")
                crossed += 1
            tick = tick_next - 1 if zero_for_one else tick_next
        elif sqrt_p != start:
            tick = tick_at_sqrt_ratio(sqrt_p)
    if exact_in:
        return SwapResult(
            amount_specified - remaining, -calculated, fees, sqrt_p, tick, liq, crossed, complete
        )
    return SwapResult(
        calculated, -(amount_specified - remaining), fees, sqrt_p, tick, liq, crossed, complete
    )


def exact_in(state: V3State, zero_for_one: bool, amount_in: int) -> int:
    """What the pool pays out for exactly ``amount_in`` (SwapRouter.exactInputSingle)."""
    r = swap(state, zero_for_one, amount_in)
    if not r.complete:
        raise NoRouteError("the V3 swap leaves the ticks read at the pin; read more words")
    return r.amount_out


def exact_out(state: V3State, zero_for_one: bool, amount_out: int) -> int:
    """What the pool takes for exactly ``amount_out``; raises when it cannot deliver it all
    (SwapRouter.exactOutputSingle and QuoterV2 revert then)."""
    r = swap(state, zero_for_one, -amount_out)
    if r.amount_out != amount_out:
        raise NoRouteError(f"the V3 pool delivers only {r.amount_out} of {amount_out}")
    return r.amount_in
