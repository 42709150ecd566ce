"""routing: how close the router's split is to the convex optimum, and how fast it plans.

``route.shortfall``: 500+ seeded scenarios, each a mix of 2-8 venues (V2 pairs, V3 pools with
one to four liquidity ranges, order books with a taker fee and a lot size; depths, fees and
prices varied), both sides, sizes log-uniform from 0.01% to 20% of the total depth (the base
the venues hold within 10% of the price). The plan's exact all-in cost is compared with the
convex optimum computed HERE, independently of agent.routing: Decimal (50 digits) bisection
on the marginal price over continuous models of the same venues (V3 sqrt prices from
1.0001^(t/2), not TickMath; books with fractional fills of the marginal level). Shortfall in
bp of the optimum; value = median, with p95 and p99. Baselines on the same scenarios: the
best single venue and the 5%-grid split (Uniswap's Auto Router). Fixed costs are zero here:
the optimum they are measured against is the convex one.

``route.solve``: planning time (router.optimize: bisection, integer allocation, exact
re-evaluation, gas-driven venue choice) for 8 venues, p50 in us, and for 100 and 1,000 venues
(the ratio to 8 shows the growth; near-linear is ~12x and ~125x).
"""

from __future__ import annotations

import math
import random
import statistics
from decimal import Decimal, getcontext
from fractions import Fraction
from typing import Any

from agent.model import Side
from agent.routing import router, v3math
from agent.routing.curves import BookCurve, BookLevel, Leg, PoolCurve, V2Pair, V3Pool
from agent.routing.plan import LegKind
from bench.common import latency_metric, percentile, sample_us

SEED = 15
SCENARIOS = 520
E18 = 10**18
PRICE = Fraction(3000 * 10**6, E18)  # quote units per base unit (USDC per WETH)
D = Decimal
getcontext().prec = 50


# --- scenario generation: venue descriptions (plain data), built into curves both ways --------
def _v2_spec(rnd: random.Random) -> dict[str, Any]:
    depth_b = int(10 ** rnd.uniform(1, 4) * E18)  # 10 .. 10,000 WETH
    px = PRICE * Fraction(1 + rnd.uniform(-0.004, 0.004)).limit_denominator(10**9)
    return {
        "kind": "v2",
        "rb": depth_b,
        "rq": int(depth_b * px),
        "fee": rnd.choice((3000, 2500, 1000)),
    }


def _v3_spec(rnd: random.Random) -> dict[str, Any]:
    fee, spacing = rnd.choice(((500, 10), (3000, 60), (10000, 200), (100, 1)))
    px = float(PRICE) * (1 + rnd.uniform(-0.004, 0.004))
    tick0 = math.floor(math.log(px) / math.log(1.0001))
    ticks: dict[int, int] = {}
    for k in range(rnd.randint(1, 4)):
        half = rnd.uniform(0.002, 0.3)  # +-0.2% .. +-30% of price
        lo = (tick0 + math.floor(math.log(1 - half) / math.log(1.0001))) // spacing * spacing
        hi = -(-(tick0 + math.ceil(math.log(1 + half) / math.log(1.0001))) // spacing) * spacing
        if k > 0 and rnd.random() < 0.3:  # a range that does not hold the price
            shift = rnd.choice((-1, 1)) * (hi - lo)
            lo, hi = lo + shift, hi + shift
        liq = int(10 ** rnd.uniform(15, 19))
        ticks[lo] = ticks.get(lo, 0) + liq
        ticks[hi] = ticks.get(hi, 0) - liq
    ticks = {t: n for t, n in ticks.items() if n != 0}
    sqrt_p = v3math.sqrt_ratio_at_tick(tick0) + rnd.randrange(1, 10**20)
    if sqrt_p >= v3math.sqrt_ratio_at_tick(tick0 + 1):
        sqrt_p = v3math.sqrt_ratio_at_tick(tick0)
    # liquidity in range is what the positions holding tick0 add up to
    liq_here = sum(n for t, n in ticks.items() if t <= tick0)
    return {"kind": "v3", "sqrt": sqrt_p, "tick": tick0, "liq": liq_here, "fee": fee,
            "spacing": spacing, "ticks": ticks}  # fmt: skip


def _book_spec(rnd: random.Random) -> dict[str, Any]:
    tick = Fraction(1, 100) * Fraction(10**6, E18)  # 0.01 USDC per WETH
    lot = 10**14  # 0.0001 WETH
    mid = PRICE * Fraction(1 + rnd.uniform(-0.003, 0.003)).limit_denominator(10**9)
    spread = Fraction(rnd.randint(1, 200)) * tick
    asks, bids = [], []
    a, b = mid + spread, mid - spread
    for _ in range(rnd.randint(5, 40)):
        a += Fraction(rnd.randint(1, 300)) * tick
        b -= Fraction(rnd.randint(1, 300)) * tick
        asks.append(((a / tick).__floor__() * tick, rnd.randint(1, 50_000) * lot))
        bids.append(((b / tick).__floor__() * tick, rnd.randint(1, 50_000) * lot))
    fee = Fraction(rnd.choice((2, 5, 7, 10)), 10_000)
    return {"kind": "book", "asks": asks, "bids": bids, "fee": fee, "lot": lot}


def scenario(rnd: random.Random) -> list[dict[str, Any]]:
    n = rnd.randint(2, 8)
    makers = (_v2_spec, _v3_spec, _book_spec)
    specs = [makers[i % 3](rnd) for i in range(3)][: min(n, 3)]
    specs += [rnd.choice(makers)(rnd) for _ in range(n - len(specs))]
    return specs


def build_leg(spec: dict[str, Any], side: Side, i: int, gas: int = 0) -> Leg:
    if spec["kind"] == "v2":
        pair = (
            V2Pair(spec["rq"], spec["rb"], spec["fee"])
            if side is Side.BUY
            else V2Pair(spec["rb"], spec["rq"], spec["fee"])
        )
        curve: Any = PoolCurve(pair, side)
    elif spec["kind"] == "v3":
        st = v3math.V3State(
            spec["sqrt"], spec["tick"], spec["liq"], spec["fee"], spec["spacing"], spec["ticks"]
        )
        # base = token0: BUY pays token1 (one_for_zero), SELL pays token0 (zero_for_one)
        curve = PoolCurve(V3Pool(st, zero_for_one=side is Side.SELL), side)
    else:
        rows = spec["asks"] if side is Side.BUY else spec["bids"]
        curve = BookCurve([BookLevel(p, a) for p, a in rows], side, spec["fee"], spec["lot"])
    return Leg(f"{spec['kind']}-{i}", LegKind.AMM, 1, curve, gas)


# --- the independent optimum: Decimal bisection on the marginal price ------------------------
class _Ref:
    """Continuous model of one venue for one side: fill(p) base units and value(x) quote."""

    def __init__(self, spec: dict[str, Any], side: Side):
        self.spec, self.buy = spec, side is Side.BUY
        k = spec["kind"]
        if k == "v2":
            g = 1 - D(spec["fee"]) / D(10**6)
            self.g, self.rb, self.rq = g, D(spec["rb"]), D(spec["rq"])
        elif k == "v3":
            self.f = 1 - D(spec["fee"]) / D(10**6)
            s0 = D(spec["sqrt"]) / D(2**96)
            ts = sorted(spec["ticks"])
            # segments along the path: (s_start, s_end, L)
            segs = []
            liq = D(spec["liq"])
            s = s0
            if self.buy:  # s rises, crossing ticks above
                for t in [t for t in ts if t > spec["tick"]]:
                    nxt = D("1.0001") ** (D(t) / 2)
                    segs.append((s, nxt, liq))
                    liq += D(spec["ticks"][t])
                    s = nxt
            else:
                for t in [t for t in reversed(ts) if t <= spec["tick"]]:
                    nxt = D("1.0001") ** (D(t) / 2)
                    segs.append((s, nxt, liq))
                    liq -= D(spec["ticks"][t])
                    s = nxt
            self.segs = [sg for sg in segs if sg[2] > 0]
        else:
            rows = spec["asks"] if self.buy else spec["bids"]
            fee = D(spec["fee"].numerator) / D(spec["fee"].denominator)
            mul = 1 + fee if self.buy else 1 - fee
            self.levels = [(D(p.numerator) / D(p.denominator) * mul, D(a)) for p, a in rows]

    def fill(self, p: Decimal) -> Decimal:
        k = self.spec["kind"]
        if k == "v2":
            if self.buy:  # x = rb - sqrt(rq rb / (g p))
                return max(D(0), self.rb - (self.rq * self.rb / (self.g * p)).sqrt())
            return max(D(0), ((self.g * self.rb * self.rq / p).sqrt() - self.rb) / self.g)
        if k == "v3":
            tot = D(0)
            if self.buy:  # price s^2 / f
                st = (p * self.f).sqrt()
                for sa, sb, liq in self.segs:
                    if st <= sa:
                        break
                    e = min(st, sb)
                    tot += liq * (1 / sa - 1 / e)
                return tot
            st = (p / self.f).sqrt()  # price s^2 f, s falls
            for sa, sb, liq in self.segs:
                if st >= sa:
                    break
                e = max(st, sb)
                tot += liq * (1 / e - 1 / sa) / self.f
            return tot
        tot = D(0)
        for lp, a in self.levels:
            if (self.buy and lp > p) or (not self.buy and lp < p):
                break
            tot += a
        return tot

    def value(self, x: Decimal) -> Decimal:
        k = self.spec["kind"]
        if x <= 0:
            return D(0)
        if k == "v2":
            if self.buy:
                return self.rq * x / ((self.rb - x) * self.g)
            return self.g * x * self.rq / (self.rb + self.g * x)
        if k == "v3":
            left, tot = x, D(0)
            for sa, sb, liq in self.segs:
                if self.buy:  # base out L(1/sa - 1/sb), quote in L(sb - sa)/f
                    cap = liq * (1 / sa - 1 / sb)
                    if left <= cap:
                        s = 1 / (1 / sa - left / liq)
                        return tot + liq * (s - sa) / self.f
                    tot += liq * (sb - sa) / self.f
                else:  # base in L(1/sb - 1/sa)/f, quote out L(sa - sb)
                    cap = liq * (1 / sb - 1 / sa) / self.f
                    if left <= cap:
                        s = 1 / (1 / sa + left * self.f / liq)
                        return tot + liq * (sa - s)
                    tot += liq * (sa - sb)
                left -= cap
            raise ValueError("beyond the pool")
        left, tot = x, D(0)
        for lp, a in self.levels:
            take = min(left, a)
            tot += take * lp
            left -= take
            if left <= 0:
                return tot
        raise ValueError("beyond the book")


def optimum(specs: list[dict[str, Any]], side: Side, size: int) -> Decimal:
    refs = [_Ref(s, side) for s in specs]
    buy = side is Side.BUY
    target = D(size)
    lo, hi = (
        D(PRICE.numerator) / D(PRICE.denominator) * D("0.5"),
        D(PRICE.numerator) / D(PRICE.denominator) * 2,
    )
    if not buy:
        lo, hi = hi, lo  # SELL: fill grows as the price falls

    def total(p: Decimal) -> Decimal:
        return sum((r.fill(p) for r in refs), D(0))

    for _ in range(160):
        mid = (lo + hi) / 2
        if total(mid) >= target:
            hi = mid
        else:
            lo = mid
    fills = [r.fill(lo) for r in refs]
    rest = target - sum(fills)  # the units at exactly p* (a book level's part, rounding)
    return sum((r.value(x) for r, x in zip(refs, fills, strict=True)), D(0)) + rest * hi


def depth(specs: list[dict[str, Any]], side: Side) -> int:
    p = PRICE * Fraction(11, 10) if side is Side.BUY else PRICE * Fraction(9, 10)
    return int(sum(_Ref(s, side).fill(D(p.numerator) / D(p.denominator)) for s in specs))


def _bp(cost: int | Decimal, opt: Decimal, side: Side) -> float:
    d = (D(cost) - opt) if side is Side.BUY else (opt - D(cost))
    return float(d / opt * 10_000)


def shortfall() -> list[dict[str, Any]]:
    rnd = random.Random(SEED)
    plan_bp, single_bp, grid_bp = [], [], []
    n = 0
    while n < SCENARIOS:
        specs = scenario(rnd)
        side = rnd.choice((Side.BUY, Side.SELL))
        dep = depth(specs, side)
        size = int(dep * 10 ** rnd.uniform(-4, math.log10(0.2)))
        legs = [build_leg(s, side, i) for i, s in enumerate(specs)]
        if size <= 0 or size > sum(lg.limit for lg in legs):
            continue
        size -= size % 10**14  # whole book lots: every venue may take the whole order
        opt = optimum(specs, side, size)
        alloc = router.optimize(legs, side, size)
        if sum(alloc.amounts) != size:
            raise AssertionError(f"scenario {n}: the plan fills {sum(alloc.amounts)} of {size}")
        plan_bp.append(_bp(alloc.total, opt, side))
        single = router.best_single(legs, side, size, candidates=len(legs))
        if single is not None:
            single_bp.append(_bp(single[1], opt, side))
        grid = router.grid_split(legs, side, size)
        if grid is not None:
            grid_bp.append(_bp(grid.total, opt, side))
        n += 1

    def rec(name: str, xs: list[float], **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "value": round(statistics.median(xs), 4),
            "unit": "bp",
            "p95": round(percentile(xs, 95), 4),
            "p99": round(percentile(xs, 99), 4),
            "max": round(max(xs), 4),
            "scenarios": len(xs),
            **extra,
        }

    return [
        rec(
            "route.shortfall",
            plan_bp,
            baseline={
                "name": "5%-grid split",
                "value": round(statistics.median(grid_bp), 4),
                "p95": round(percentile(grid_bp, 95), 4),
            },
            min=round(min(plan_bp), 4),
            goal="median <= 0.1 bp, p95 <= 1 bp",
        ),
        rec("route.shortfall.grid_5pct", grid_bp),
        rec("route.shortfall.best_single", single_bp),
    ]


def solve() -> list[dict[str, Any]]:
    rnd = random.Random(SEED + 1)
    out = []
    base: list[float] | None = None
    for n_venues, reps in ((8, 300), (100, 20), (1000, 4)):
        specs = [(_v2_spec, _v3_spec, _book_spec)[i % 3](rnd) for i in range(n_venues)]
        side = Side.BUY
        gas = 2 * 10**6  # 2 USDC per leg: the fixed-cost venue choice runs too
        legs = [build_leg(s, side, i, gas) for i, s in enumerate(specs)]
        size = int(depth(specs, side) * 0.05)
        size -= size % 10**14
        samples = sample_us(
            lambda legs=legs, size=size, side=side: router.optimize(legs, side, size),
            reps,
            warmup=2,
        )
        if base is None:
            base = samples
            out.append(latency_metric("route.solve.8", samples, goal="p50 <= 1000 us"))
        else:
            out.append(
                latency_metric(
                    f"route.solve.{n_venues}", samples, baseline=("route.solve.8", base),
                    linear_ratio=n_venues / 8,
                )
            )  # fmt: skip
    return out


def run() -> list[dict[str, Any]]:
    return shortfall() + solve()
