"""Executable liquidity curves: what each venue would really pay or charge, read at a pin.

Two layers:

* **Pools** (:class:`V2Pair`, :class:`V3Pool`) are directional token swaps (``token_in`` ->
  ``token_out``) with the pool's own exact integer ``amount_out(amount_in)`` /
  ``amount_in(amount_out)``, and float helpers for the search (marginal rate out-per-in, and
  the amounts at which the marginal rate falls to a given level).
* **Curves** (:class:`LiquidityCurve`) are what the router sees: priced in the *base* asset,
  one side. ``cost(x)`` is the exact all-in variable quote amount for ``x`` base units (BUY:
  paid, SELL: received), ``marginal(x)`` and ``base_at(p)`` are floats (quote units per base
  unit) for the equal-marginal-price search. The final allocation is always re-evaluated with
  ``cost``, so float error can only move the split, never the money.

Prices inside this module are in *base units*: quote base units per one base base unit (e.g.
2000 USDC/WETH is 2000e6 / 1e18 = 2e-9). Decimal human prices live at the edges.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol, runtime_checkable

from agent.errors import NoRouteError, ValidationError
from agent.model import Side
from agent.routing import v3math
from agent.routing.plan import LegKind

PIPS = 1_000_000
BPS = 10_000
INF = float("inf")


# --- pools: directional token swaps ---------------------------------------------------------
class Pool(Protocol):
    fee_pips: int
    max_in: int  # input beyond which the output no longer grows (liquidity exhausted)
    max_out: int  # the most the pool can pay out

    def amount_out(self, amount_in: int) -> int: ...
    def amount_in(self, amount_out: int) -> int: ...
    def fee_of_out(self, amount_out: int) -> int: ...  # fee (input token) of an exact-out swap
    def rate_at_in(self, amount_in: float) -> float: ...  # marginal out per in after amount_in
    def rate_at_out(self, amount_out: float) -> float: ...
    def in_at_rate(self, rate: float) -> float: ...  # input at which the marginal rate = rate
    def out_at_rate(self, rate: float) -> float: ...
    def in_for_out_f(self, amount_out: float) -> float: ...  # float model of amount_in
    def out_for_in_f(self, amount_in: float) -> float: ...  # float model of amount_out


@dataclass(frozen=True, slots=True)
class V2Pair:
    """A constant-product pair in one direction; ``getAmountOut`` / ``getAmountIn`` of
    UniswapV2Library exactly (fee in pips: 3000 = the 0.3% of 997/1000, same floors)."""

    reserve_in: int
    reserve_out: int
    fee_pips: int = 3000

    def __post_init__(self) -> None:
        if self.reserve_in <= 0 or self.reserve_out <= 0:
            raise ValidationError("reserves", "a V2 pair needs two positive reserves")

    @property
    def max_out(self) -> int:
        return self.reserve_out - 1

    @property
    def max_in(self) -> int:  # the output approaches reserve_out; beyond 1e6x reserve it is flat
        return self.reserve_in * PIPS

    def amount_out(self, amount_in: int) -> int:
        if amount_in <= 0:
            return 0
        g = amount_in * (PIPS - self.fee_pips)
        return g * self.reserve_out // (self.reserve_in * PIPS + g)

    def amount_in(self, amount_out: int) -> int:
        if amount_out <= 0:
            return 0
        if amount_out >= self.reserve_out:
            raise NoRouteError(f"the V2 pair holds only {self.reserve_out} < {amount_out}")
        num = self.reserve_in * amount_out * PIPS
        return num // ((self.reserve_out - amount_out) * (PIPS - self.fee_pips)) + 1

    def fee_of_out(self, amount_out: int) -> int:
        return self.amount_in(amount_out) * self.fee_pips // PIPS

    # floats: out(i) = g i R_o / (R_i + g i)
    def rate_at_in(self, amount_in: float) -> float:
        g = 1 - self.fee_pips / PIPS
        d = self.reserve_in + g * amount_in
        return g * self.reserve_in * self.reserve_out / (d * d)

    def rate_at_out(self, amount_out: float) -> float:
        g = 1 - self.fee_pips / PIPS
        left = self.reserve_out - amount_out
        return g * left * left / (self.reserve_in * self.reserve_out) if left > 0 else 0.0

    def in_at_rate(self, rate: float) -> float:
        if rate <= 0:
            return float(self.max_in)
        g = 1 - self.fee_pips / PIPS
        return max(
            0.0, (math.sqrt(g * self.reserve_in * self.reserve_out / rate) - self.reserve_in) / g
        )

    def in_for_out_f(self, amount_out: float) -> float:
        left = self.reserve_out - amount_out
        g = 1 - self.fee_pips / PIPS
        return self.reserve_in * amount_out / (left * g) if left > 0 else INF

    def out_for_in_f(self, amount_in: float) -> float:
        g = (1 - self.fee_pips / PIPS) * amount_in
        return g * self.reserve_out / (self.reserve_in + g)

    def out_at_rate(self, rate: float) -> float:
        g = 1 - self.fee_pips / PIPS
        if rate <= 0:
            return float(self.max_out)
        return min(
            float(self.max_out),
            max(0.0, self.reserve_out - math.sqrt(self.reserve_in * self.reserve_out * rate / g)),
        )


class V3Pool:
    """A V3 pool in one direction at one block: exact amounts from :mod:`v3math` (tick by tick
    as the pool), and a float model of the same liquidity segments for the search."""

    __slots__ = (
        "_L",
        "_cin",
        "_cout",
        "_key",
        "_s",
        "fee_pips",
        "max_in",
        "max_out",
        "state",
        "zero_for_one",
    )

    def __repr__(self) -> str:
        return f"V3Pool({self.state!r}, zero_for_one={self.zero_for_one})"

    def __init__(self, state: v3math.V3State, zero_for_one: bool):
        self.state = state
        self.zero_for_one = zero_for_one
        self.fee_pips = state.fee
        full = v3math.swap(state, zero_for_one, -(1 << 200))  # everything the pool can pay
        self.max_out = full.amount_out
        self.max_in = full.amount_in
        self._segments()

    def _segments(self) -> None:
        """Float segments between initialized ticks along the swap direction: boundary sqrt
        prices, cumulative gross input and output at each boundary, and the liquidity."""
        st = self.state
        f = 1 - st.fee / PIPS
        s = st.sqrt_price_x96 / v3math.Q96
        liq = st.liquidity
        ticks = sorted(st.ticks)
        if self.zero_for_one:
            ahead = [t for t in reversed(ticks) if t <= st.tick]
        else:
            ahead = [t for t in ticks if t > st.tick]
        bounds, cin, cout, ls = [s], [0.0], [0.0], []
        for t in ahead:
            nxt = v3math.sqrt_ratio_at_tick(t) / v3math.Q96
            ls.append(float(liq))
            a_in, a_out = self._amounts(s, nxt, liq)
            bounds.append(nxt)
            cin.append(cin[-1] + a_in / f)
            cout.append(cout[-1] + a_out)
            liq += -st.ticks[t] if self.zero_for_one else st.ticks[t]
            s = nxt
        if liq > 0:  # liquidity left past the last tick read: up to the edge of what was read
            if self.zero_for_one:
                edge = v3math.MIN_TICK if st.word_lo is None else st.word_lo * 256 * st.tick_spacing
                edge = max(edge, v3math.MIN_TICK)
            else:
                edge = (
                    v3math.MAX_TICK
                    if st.word_hi is None
                    else (st.word_hi * 256 + 255) * st.tick_spacing
                )
                edge = min(edge, v3math.MAX_TICK)
            nxt = v3math.sqrt_ratio_at_tick(edge) / v3math.Q96
            if (nxt < s) if self.zero_for_one else (nxt > s):
                ls.append(float(liq))
                a_in, a_out = self._amounts(s, nxt, liq)
                bounds.append(nxt)
                cin.append(cin[-1] + a_in / f)
                cout.append(cout[-1] + a_out)
        self._s, self._cin, self._cout, self._L = bounds, cin, cout, ls
        # ascending along the path (s falls for zero_for_one, rises otherwise), for bisect
        self._key = [-x for x in bounds] if self.zero_for_one else list(bounds)

    def _amounts(self, sa: float, sb: float, liq: float) -> tuple[float, float]:
        # differences of reciprocals as (a - b) / (a b): no cancellation for short steps
        if self.zero_for_one:  # token0 in, token1 out, price falls
            return liq * (sa - sb) / (sa * sb), liq * (sa - sb)
        return liq * (sb - sa), liq * (sb - sa) / (sa * sb)

    def amount_out(self, amount_in: int) -> int:
        return v3math.exact_in(self.state, self.zero_for_one, amount_in) if amount_in > 0 else 0

    def amount_in(self, amount_out: int) -> int:
        return v3math.exact_out(self.state, self.zero_for_one, amount_out) if amount_out > 0 else 0

    def fee_of_out(self, amount_out: int) -> int:
        return v3math.swap(self.state, self.zero_for_one, -amount_out).fee if amount_out > 0 else 0

    def _rate_at_s(self, s: float) -> float:
        f = 1 - self.fee_pips / PIPS
        return f * s * s if self.zero_for_one else f / (s * s)

    def _s_at_rate(self, rate: float) -> float:
        f = 1 - self.fee_pips / PIPS
        return math.sqrt(rate / f) if self.zero_for_one else math.sqrt(f / rate)

    def _segment_of(self, cum: list[float], amount: float) -> int:
        i = bisect.bisect_right(cum, amount) - 1
        return min(i, len(self._L) - 1)

    def rate_at_in(self, amount_in: float) -> float:
        if not self._L or amount_in >= self._cin[-1]:
            return 0.0
        i = self._segment_of(self._cin, amount_in)
        net = (amount_in - self._cin[i]) * (1 - self.fee_pips / PIPS)
        sa, liq = self._s[i], self._L[i]
        if liq == 0:
            return self._rate_at_s(self._s[i + 1])
        s = 1 / (1 / sa + net / liq) if self.zero_for_one else sa + net / liq
        return self._rate_at_s(s)

    def rate_at_out(self, amount_out: float) -> float:
        if not self._L or amount_out >= self._cout[-1]:
            return 0.0
        i = self._segment_of(self._cout, amount_out)
        o = amount_out - self._cout[i]
        sa, liq = self._s[i], self._L[i]
        if liq == 0:
            return self._rate_at_s(self._s[i + 1])
        s = sa - o / liq if self.zero_for_one else 1 / (1 / sa - o / liq)
        return self._rate_at_s(s)

    def in_for_out_f(self, amount_out: float) -> float:
        if not self._L or amount_out > self.max_out:
            return INF
        if amount_out >= self._cout[-1]:  # the exact capacity, within float resolution
            return self._cin[-1]
        i = self._segment_of(self._cout, amount_out)
        o = amount_out - self._cout[i]
        sa, liq = self._s[i], self._L[i]
        if liq == 0 or o <= 0:
            return self._cin[i]
        f = 1 - self.fee_pips / PIPS
        if self.zero_for_one:
            s = sa - o / liq
            return self._cin[i] + o / (s * sa) / f
        s = 1 / (1 / sa - o / liq)
        return self._cin[i] + o * s * sa / f

    def out_for_in_f(self, amount_in: float) -> float:
        if not self._L or amount_in >= self._cin[-1]:
            return self._cout[-1] if self._L else 0.0
        i = self._segment_of(self._cin, amount_in)
        net = (amount_in - self._cin[i]) * (1 - self.fee_pips / PIPS)
        sa, liq = self._s[i], self._L[i]
        if liq == 0 or net <= 0:
            return self._cout[i]
        if self.zero_for_one:
            s = 1 / (1 / sa + net / liq)
            return self._cout[i] + net * s * sa
        s = sa + net / liq
        return self._cout[i] + net / (s * sa)

    def _at_rate(self, rate: float) -> tuple[float, float]:
        """(gross input, output) at which the marginal rate has fallen to ``rate``."""
        if not self._L:
            return 0.0, 0.0
        if rate <= 0:
            return self._cin[-1], self._cout[-1]
        s_t = self._s_at_rate(rate)
        k = -s_t if self.zero_for_one else s_t  # _key ascends along the path
        if k <= self._key[0]:
            return 0.0, 0.0
        if k >= self._key[-1]:
            return self._cin[-1], self._cout[-1]
        i = min(bisect.bisect_right(self._key, k) - 1, len(self._L) - 1)
        a_in, a_out = self._amounts(self._s[i], s_t, self._L[i])
        return self._cin[i] + a_in / (1 - self.fee_pips / PIPS), self._cout[i] + a_out

    def in_at_rate(self, rate: float) -> float:
        return self._at_rate(rate)[0]

    def out_at_rate(self, rate: float) -> float:
        return self._at_rate(rate)[1]


# --- curves: what the router sees -----------------------------------------------------------
@runtime_checkable
class LiquidityCurve(Protocol):
    """One venue's executable curve for one side, in base units of the base asset."""

    side: Side
    capacity: int  # the most base units this curve can fill
    lot: int  # fills are multiples of this many base units

    def cost(self, base: int) -> int:
        """Exact all-in variable quote amount for ``base`` units: BUY paid, SELL received.
        (Fixed costs such as gas are the leg's, not the curve's.)"""
        ...

    def venue_amount(self, base: int) -> int:
        """What the venue itself takes/pays (``cost`` without proportional extras)."""
        ...

    def fee(self, base: int) -> int:
        """The venue's fee inside ``venue_amount``, in quote base units."""
        ...

    def approx(self, base: float) -> float:
        """Float model of ``cost`` (for comparing venue subsets quickly)."""
        ...

    def marginal(self, base: float) -> float:
        """Marginal all-in price (quote units per base unit) after ``base`` units."""
        ...

    def base_at(self, price: float) -> float:
        """Base units fillable before the marginal price passes ``price`` (BUY: rises above,
        SELL: falls below). Monotone in ``price``."""
        ...


class PoolCurve:
    """A pool seen from the base asset. BUY: the pool swaps quote -> base (exact out = base);
    SELL: base -> quote (exact in = base)."""

    __slots__ = ("capacity", "lot", "pool", "side")

    def __repr__(self) -> str:
        return f"PoolCurve({self.pool!r}, {self.side})"

    def __init__(self, pool: Pool, side: Side):
        self.pool = pool
        self.side = side
        self.capacity = pool.max_out if side is Side.BUY else pool.max_in
        self.lot = 1

    def cost(self, base: int) -> int:
        if base <= 0:
            return 0
        return self.pool.amount_in(base) if self.side is Side.BUY else self.pool.amount_out(base)

    venue_amount = cost

    def fee(self, base: int) -> int:
        if base <= 0:
            return 0
        if self.side is Side.BUY:
            return self.pool.fee_of_out(base)
        # the fee is taken in base on the way in; say it in quote at the fill's own price
        return self.pool.amount_out(base) * self.pool.fee_pips // (PIPS - self.pool.fee_pips)

    def approx(self, base: float) -> float:
        if base <= 0:
            return 0.0
        if self.side is Side.BUY:
            return self.pool.in_for_out_f(base)
        return self.pool.out_for_in_f(base)

    def marginal(self, base: float) -> float:
        if self.side is Side.BUY:
            r = self.pool.rate_at_out(base)
            return 1 / r if r > 0 else INF
        return self.pool.rate_at_in(base)

    def base_at(self, price: float) -> float:
        if self.side is Side.BUY:
            return self.pool.out_at_rate(1 / price) if price > 0 else 0.0
        return self.pool.in_at_rate(price)


@dataclass(frozen=True, slots=True)
class BookLevel:
    price: Fraction  # quote base units per base base unit
    amount: int  # base units


class BookCurve:
    """Order-book levels of one side (asks for a BUY, bids for a SELL) with the taker fee,
    rounded down to the lot size. A BUY pays ceil(notional * (1 + fee)); a SELL receives
    floor(notional * (1 - fee)); notional is exact (Fractions) over the levels consumed."""

    __slots__ = (
        "_cnot",
        "_cum",
        "_fcum",
        "_fnot",
        "_fpx",
        "_mul",
        "_px",
        "capacity",
        "fee_rate",
        "lot",
        "side",
    )

    def __init__(self, levels: Sequence[BookLevel], side: Side, fee_rate: Fraction, lot: int = 1):
        if lot <= 0:
            raise ValidationError("lot", f"{lot} is not positive")
        if not 0 <= fee_rate < 1:
            raise ValidationError("fee_rate", f"{fee_rate} is outside [0, 1)")
        lv = [lvl for lvl in levels if lvl.amount > 0 and lvl.price > 0]
        asc = side is Side.BUY
        if any(
            (b.price < a.price) if asc else (b.price > a.price) for a, b in itertools.pairwise(lv)
        ):
            raise ValidationError("levels", "book levels are not sorted best first")
        self.side, self.lot, self.fee_rate = side, lot, fee_rate
        self._px = [lvl.price for lvl in lv]
        self._cum, self._cnot = [0], [Fraction(0)]
        for lvl in lv:
            self._cum.append(self._cum[-1] + lvl.amount)
            self._cnot.append(self._cnot[-1] + lvl.price * lvl.amount)
        self.capacity = self._cum[-1] // lot * lot
        self._mul = float(1 + fee_rate) if asc else float(1 - fee_rate)
        self._fpx = [float(p) * self._mul for p in self._px]  # all-in level prices
        self._fcum = [float(c) for c in self._cum]
        self._fnot = [float(n) * self._mul for n in self._cnot]

    def __repr__(self) -> str:
        lv = [
            (str(p), c1 - c0) for p, c0, c1 in zip(self._px, self._cum, self._cum[1:], strict=False)
        ]
        return f"BookCurve({lv}, {self.side}, fee={self.fee_rate}, lot={self.lot})"

    def notional(self, base: int) -> Fraction:
        if base > self._cum[-1]:
            raise NoRouteError(f"the book holds only {self._cum[-1]} < {base}")
        i = bisect.bisect_right(self._cum, base) - 1
        n = self._cnot[i]
        if base > self._cum[i]:
            n += self._px[i] * (base - self._cum[i])
        return n

    def venue_amount(self, base: int) -> int:
        if base <= 0:
            return 0
        if base % self.lot:
            raise ValidationError("base", f"{base} is not a multiple of the lot {self.lot}")
        n = self.notional(base)
        if self.side is Side.BUY:
            return math.ceil(n * (1 + self.fee_rate))
        return math.floor(n * (1 - self.fee_rate))

    cost = venue_amount

    def fee(self, base: int) -> int:
        if base <= 0:
            return 0
        n = self.notional(base)
        return abs(
            self.venue_amount(base) - (math.ceil(n) if self.side is Side.BUY else math.floor(n))
        )

    def approx(self, base: float) -> float:
        if base <= 0:
            return 0.0
        i = min(bisect.bisect_right(self._fcum, base) - 1, len(self._fpx) - 1)
        return self._fnot[i] + (base - self._fcum[i]) * self._fpx[i]

    def marginal(self, base: float) -> float:
        i = bisect.bisect_right(self._fcum, base) - 1
        if i >= len(self._fpx):
            return INF if self.side is Side.BUY else 0.0
        return self._fpx[i]

    def base_at(self, price: float) -> float:
        if self.side is Side.BUY:
            n = bisect.bisect_right(self._fpx, price)
        else:
            n = len(self._fpx) - bisect.bisect_left(self._fpx[::-1], price)
        return min(self._fcum[n], float(self.capacity))

    def level_end(self, base: int) -> int:
        """The end (base units) of the level holding unit ``base``: the greedy fill's step."""
        i = bisect.bisect_right(self._cum, base)
        return self._cum[min(i, len(self._cum) - 1)]


class BridgedCurve:
    """A leg on the L2: the bridge hop (its fee, in bps of what is bridged) and the time the
    capital is in flight (``time_bps`` = the user's bps per minute x the hop's minutes) in
    front of the L2 pool's curve. BUY: the quote asset is bridged and then spent on the L2
    pool; SELL: the base asset is bridged and sold there. Both costs scale with the amount,
    so they live in the curve (still convex); the deposit's gas is the leg's fixed cost."""

    __slots__ = ("_k", "bridge_bps", "capacity", "inner", "lot", "side", "time_bps")

    def __init__(self, inner: LiquidityCurve, bridge_bps: int, time_bps: Fraction):
        if not 0 <= bridge_bps < BPS:
            raise ValidationError("bridge_bps", f"{bridge_bps} is outside [0, 10000)")
        if time_bps < 0:
            raise ValidationError("time_bps", f"{time_bps} is negative")
        self.inner, self.side, self.lot = inner, inner.side, inner.lot
        self.bridge_bps, self.time_bps = bridge_bps, time_bps
        b, t = bridge_bps / BPS, float(time_bps) / BPS
        if self.side is Side.BUY:
            self.capacity = inner.capacity
            self._k = 1 / (1 - b) + t  # gross for the bridge, time on the amount spent
        else:
            self.capacity = (
                inner.capacity * BPS // (BPS - bridge_bps) if bridge_bps else inner.capacity
            )
            self._k = (1 - b) * (1 - t)

    def _bridged_net(self, base: int) -> int:  # SELL: what arrives on the L2 from ``base``
        return base - base * self.bridge_bps // BPS

    def gross_for(self, net: int) -> int:
        """BUY: the least quote to bridge so that ``net`` arrives (fee = floor(g*bps/1e4))."""
        g = -(-net * BPS // (BPS - self.bridge_bps)) if self.bridge_bps else net
        bps = self.bridge_bps

        def arrives(v: int) -> int:  # non-decreasing in v
            return v - v * bps // BPS

        while g > net and arrives(g - 1) >= net:
            g -= 1
        while arrives(g) < net:
            g += 1
        return g

    def venue_amount(self, base: int) -> int:
        """What the L2 pool takes (BUY) / pays (SELL)."""
        if self.side is Side.BUY:
            return self.inner.venue_amount(base)
        return self.inner.venue_amount(self._bridged_net(base))

    def extras(self, base: int) -> int:
        """Quote units on top of the venue's own amount: BUY bridge fee + time cost, SELL time
        cost (both rounded against us)."""
        if base <= 0:
            return 0
        if self.side is Side.BUY:
            need = self.inner.cost(base)
            return self.gross_for(need) - need + math.ceil(need * self.time_bps / BPS)
        # SELL: the bridge fee is paid in base, so less arrives and the pool pays less: it is
        # already in venue_amount (and the average price); only the time cost is extra
        got = self.inner.cost(self._bridged_net(base))
        return math.ceil(got * self.time_bps / BPS)

    def cost(self, base: int) -> int:
        if base <= 0:
            return 0
        if self.side is Side.BUY:
            need = self.inner.cost(base)
            return self.gross_for(need) + math.ceil(need * self.time_bps / BPS)
        got = self.inner.cost(self._bridged_net(base))
        return got - math.ceil(got * self.time_bps / BPS)

    def fee(self, base: int) -> int:
        if self.side is Side.BUY:
            return self.inner.fee(base)
        return self.inner.fee(self._bridged_net(base))

    def approx(self, base: float) -> float:
        if self.side is Side.BUY:
            return self.inner.approx(base) * self._k
        b = self.bridge_bps / BPS
        return self.inner.approx(base * (1 - b)) * (1 - float(self.time_bps) / BPS)

    def marginal(self, base: float) -> float:
        if self.side is Side.BUY:
            return self.inner.marginal(base) * self._k
        b = self.bridge_bps / BPS
        return self.inner.marginal(base * (1 - b)) * self._k

    def base_at(self, price: float) -> float:
        if self.side is Side.BUY:
            return self.inner.base_at(price / self._k)
        b = self.bridge_bps / BPS
        return min(float(self.capacity), self.inner.base_at(price / self._k) / (1 - b))


@dataclass(frozen=True, slots=True)
class Leg:
    """A curve with what the router needs besides it: who, the fixed cost of taking part
    (gas of the leg in quote units; + the bridge deposit's gas for an L2 leg), a cap (policy,
    risk, inventory), and the pin it was read at."""

    venue_id: str
    kind: LegKind
    chain_id: int | None
    curve: LiquidityCurve
    gas_quote: int = 0
    pin: str = ""
    cap: int | None = None
    venue_ref: Any = None

    limit: int = field(init=False, compare=False, repr=False)
    """The most base units this leg may fill: liquidity, the cap, whole lots (derived)."""

    def __post_init__(self) -> None:
        c = self.curve.capacity if self.cap is None else min(self.cap, self.curve.capacity)
        object.__setattr__(self, "limit", c // self.curve.lot * self.curve.lot)

    def extras(self, base: int) -> int:
        fn = getattr(self.curve, "extras", None)
        return fn(base) if fn is not None else 0
