"""The router: split one parent order over every venue's curve at the least all-in cost.

1. **Convex part, exactly.** Without fixed costs the optimum fills every venue up to one common
   marginal price p* (the KKT condition of a separable convex problem; Angeris et al.). We find
   p* by bisection on the price (geometric, floats), each venue answering ``base_at(p)`` in
   O(log ticks). The float allocation is then made integer: each venue gets its floor (rounded
   down to its lot), and the few units left go one step at a time to the venue whose next unit
   is cheapest (a whole book level or up to the next venue's marginal price), so the integer
   split is still one of equal marginal prices. Every amount is then re-evaluated exactly
   (``curve.cost``, the venue's own integer math): floats choose the split, never the money.
2. **Fixed costs** (gas, a bridge deposit) make the problem non-convex; we choose which venues
   take part. A venue whose surplus at p* (what its units save against p*) exceeds its fixed
   cost certainly pays for itself; the rest are candidates: all their subsets are tried when
   there are few (``enumerate_max``), otherwise the worst is dropped greedily while that helps.
   The best single venue is always a candidate plan, so no plan is worse than it.
3. **Limit price** bounds every unit's marginal all-in price (a sweep that stops at the limit);
   what cannot be filled within it or within the liquidity is ``unfilled``. A limit no venue
   reaches is a :class:`RouteLimitError` carrying the best achievable price.
"""

from __future__ import annotations

import decimal
import heapq
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from agent.errors import NoRouteError, ValidationError
from agent.model import Side
from agent.routing.curves import INF, BookCurve, Leg
from agent.routing.plan import PlannedChild, RoutePlan

FEW = 8  # venues up to this many: the fixed-cost choice enumerates subsets
ENUMERATE_MAX = 6  # candidates up to this many: every subset is tried (2^6 solves)
_REL_TOL = 1e-11  # the bracket is closed when this narrow (relative): a tenth of _TIE
_MAX_ITER = 200
_TIE = 1e-10  # relative: marginal prices this close are equal


class RouteLimitError(NoRouteError):
    """No venue can fill a single unit within the limit price."""

    code = "ROUTE_LIMIT_UNREACHABLE"

    def __init__(self, message: str, best_price: Decimal | None):
        super().__init__(message)
        self.best_price = best_price


@dataclass(frozen=True, slots=True)
class Allocation:
    """An integer split (base units per leg index) and its exact all-in cost."""

    amounts: tuple[int, ...]
    costs: tuple[int, ...]  # exact variable cost per leg (0 where amount is 0)
    total: int  # variable + fixed of the legs that take part
    price: float  # the common marginal price the split was solved at


def _better(side: Side, a: float, b: float) -> bool:
    return a < b if side is Side.BUY else a > b


def _fill(legs: Sequence[Leg], idx: Sequence[int], p: float) -> float:
    return sum(min(legs[i].curve.base_at(p), legs[i].limit) for i in idx)


def solve_price(
    legs: Sequence[Leg],
    idx: Sequence[int],
    side: Side,
    target: int,
    limit: float | None,
    start: float | None = None,
) -> tuple[float, float]:
    """(p_lo, p_hi) bracketing the common marginal price at which ``idx`` fill ``target``
    (p_lo: the side where they fill at most the target; for a SELL the higher price). Capped
    at the limit. ``start`` is a price known to fill at most the target (a warm start).

    The bracket grows geometrically from the best starting price, then Illinois false
    position closes it: superlinear on the smooth AMM curves, still safe on a book's steps."""
    buy = side is Side.BUY
    if start is None:
        starts = [legs[i].curve.marginal(0.0) for i in idx]
        start = min(starts) if buy else max(starts)
    if not math.isfinite(start) or start <= 0:
        return start, start
    if limit is not None and (start > limit if buy else start < limit):
        return limit, limit  # no venue starts within the limit: fill what it allows (nothing)
    tol = max(1.0, target * 1e-10)  # the integer phase places the residue at equal prices
    lo, flo = start, _fill(legs, idx, start) - target
    if flo >= -tol:
        return lo, lo
    hi, fhi = lo, flo
    step = 1.0 + 1e-4  # then 1e-4 squared per miss: a 2% move is found in ~4 evaluations
    for _ in range(_MAX_ITER):  # grow the bracket geometrically until it holds the target
        nxt = lo * step if buy else lo / step
        if limit is not None and (nxt >= limit if buy else nxt <= limit):
            nxt = limit
        if not math.isfinite(nxt) or nxt <= 0:
            return lo, lo  # the curves' ends: fill what they hold
        hi, fhi = nxt, _fill(legs, idx, nxt) - target
        if fhi >= 0 or nxt == limit:
            break
        lo, flo = hi, fhi
        step = min(step * step, 1e30)
    if fhi < 0:
        return hi, hi  # cannot reach the target within the cap: fill what the cap allows
    kept = 0
    for _ in range(_MAX_ITER):
        if abs(hi - lo) <= _REL_TOL * abs(hi):
            break
        p = hi - fhi * (hi - lo) / (fhi - flo)
        if not min(lo, hi) < p < max(lo, hi):
            p = (lo + hi) / 2
            if p in (lo, hi):
                break
        fp = _fill(legs, idx, p) - target
        if abs(fp) <= tol:
            return p, p
        if fp > 0:
            hi, fhi = p, fp
            if kept == 1:
                flo /= 2
            kept = 1
        else:
            lo, flo = p, fp
            if kept == -1:
                fhi /= 2
            kept = -1
    return lo, hi


def allocate(
    legs: Sequence[Leg],
    idx: Sequence[int],
    side: Side,
    target: int,
    limit: float | None,
    start: float | None = None,
) -> tuple[list[int], float]:
    """Integer amounts per leg in ``idx`` (others 0) filling at most ``target`` at equal
    marginal prices (within the limit), and the price they were solved at."""
    amounts = [0] * len(legs)
    if target <= 0 or not idx:
        return amounts, 0.0
    target = min(target, sum(legs[i].limit for i in idx))
    lo, _hi = solve_price(legs, idx, side, target, limit, start)
    if not math.isfinite(lo) or lo <= 0:
        return amounts, lo
    for i in idx:
        lg = legs[i]
        x = min(int(lg.curve.base_at(lo)), lg.limit)
        amounts[i] = x - x % lg.curve.lot
    total = sum(amounts)
    buy = side is Side.BUY
    sign = 1.0 if buy else -1.0  # heap keys: lower is better for both sides
    # floats may overshoot by a few units: take them back from the dearest margins
    while total > target:
        j = max(  # the venue whose last unit taken was the dearest gives it back
            (i for i in idx if amounts[i]),
            key=lambda i: sign * legs[i].curve.marginal(amounts[i] - legs[i].curve.lot),
        )
        lot = legs[j].curve.lot
        take = min(amounts[j], -(-(total - target) // lot) * lot)
        amounts[j] -= take
        total -= take
    # the rest: to the venue whose next unit is cheapest, one step at a time
    rest = target - total

    def key(i: int) -> float:
        # a book level at p* is the discrete jump the continuous curves (already at their
        # x(p*)) cannot fill: books win ties within float resolution
        m = sign * legs[i].curve.marginal(amounts[i])
        if isinstance(legs[i].curve, BookCurve) and math.isfinite(m):
            return m - abs(m) * _TIE
        return m

    heap = [(key(i), i) for i in idx]
    heapq.heapify(heap)
    deferred: set[int] = set()
    while rest > 0 and heap:
        m, j = heapq.heappop(heap)
        lg = legs[j]
        cv = lg.curve
        lot = cv.lot
        room = lg.limit - amounts[j]
        if limit is not None:  # never past the limit price
            room = min(room, int(cv.base_at(limit)) - amounts[j])
        if room < lot or rest < lot or not math.isfinite(m):
            continue
        if isinstance(cv, BookCurve):
            step = cv.level_end(amounts[j]) - amounts[j]
        else:
            nxt = heap[0][0] if heap else m
            step = int(cv.base_at(sign * max(nxt, m))) - amounts[j]
            if step <= 0:
                # a tie with the next venue at float resolution: let the other go first
                # once (it may be a jump the residue belongs to)
                if j not in deferred and heap and math.isfinite(nxt):
                    deferred.add(j)
                    heapq.heappush(heap, (nxt + abs(nxt) * _TIE, j))
                    continue
                step = rest  # tied again: the float residue is this venue's
        step = min(step, room, rest)
        step -= step % lot
        if step <= 0:
            continue
        amounts[j] += step
        rest -= step
        heapq.heappush(heap, (key(j), j))
    return amounts, lo


def _evaluate(legs: Sequence[Leg], amounts: Sequence[int], price: float) -> Allocation:
    costs = tuple(legs[i].curve.cost(a) if a else 0 for i, a in enumerate(amounts))
    fixed = sum(legs[i].gas_quote for i, a in enumerate(amounts) if a)
    return Allocation(tuple(amounts), costs, sum(costs) + fixed, price)


def _approx_total(legs: Sequence[Leg], amounts: Sequence[int], side: Side) -> float:
    sign = 1.0 if side is Side.BUY else -1.0
    return sum(
        legs[i].curve.approx(a) + sign * legs[i].gas_quote for i, a in enumerate(amounts) if a
    )


def best_single(
    legs: Sequence[Leg], side: Side, size: int, candidates: int = 3
) -> tuple[int, int] | None:
    """(leg index, exact all-in quote total) of the best venue that fills ``size`` alone.
    Floats rank them; the top few are evaluated exactly."""
    able = [i for i, lg in enumerate(legs) if lg.limit >= size]
    if not able:
        return None
    sign = 1.0 if side is Side.BUY else -1.0
    ranked = sorted(able, key=lambda i: sign * legs[i].curve.approx(size) + legs[i].gas_quote)
    best: tuple[int, int] | None = None
    for i in ranked[:candidates]:
        lg = legs[i]
        if size % lg.curve.lot:
            continue
        try:
            c = lg.curve.cost(size)
        except NoRouteError:
            continue
        total = c + lg.gas_quote if side is Side.BUY else c - lg.gas_quote
        if best is None or _better(side, total, best[1]):
            best = (i, total)
    return best


def optimize(
    legs: Sequence[Leg],
    side: Side,
    size: int,
    limit: float | None = None,
    *,
    enumerate_max: int = ENUMERATE_MAX,
) -> Allocation:
    """The least-cost integer allocation of ``size`` over ``legs`` (see module docstring).
    With a limit it may fill less than ``size``; it never fills more."""
    buy = side is Side.BUY
    sign = 1.0 if buy else -1.0
    every = [i for i, lg in enumerate(legs) if lg.limit > 0]
    amounts, p = allocate(legs, every, side, size, limit)
    full = sum(amounts)
    if not any(legs[i].gas_quote for i in every if amounts[i]):
        return _evaluate(legs, amounts, p)
    # fixed costs: a venue whose surplus at p (what its units save against p) covers its gas
    # twice over surely pays for itself; the others are candidates for leaving out
    part = [i for i in every if amounts[i]]

    def surplus(i: int, a: Sequence[int], price: float) -> float:
        return sign * (price * a[i] - legs[i].curve.approx(a[i]))

    candidates = [i for i in part if surplus(i, amounts, p) < 2 * legs[i].gas_quote]
    # a plan's value: (units short of the order, all-in cost); more filled wins, then cheaper.
    # Subsets are asked for the whole ``size``, not for ``full``: lots can leave every venue
    # together a few units short (one pool drained, the book's next lot too coarse) where a
    # subset without that pool fills the order exactly, and cheaper once gas is counted.
    Value = tuple[int, float]
    best_v: Value = (size - full, sign * _approx_total(legs, amounts, side))
    best_a, best_p = amounts, p

    def solve(idx: list[int], start: float) -> tuple[Value, list[int], float]:
        # leaving venues out only raises p* (BUY) / lowers it (SELL): ``start`` stays a bound
        a, price = allocate(legs, idx, side, size, limit, start)
        got = sum(a)
        if got < full:  # a subset that fills less is not comparable: never preferred
            return (size, INF), a, price
        return (size - got, sign * _approx_total(legs, a, side)), a, price

    def trial(idx: list[int], start: float) -> tuple[Value, list[int], float]:
        """``solve``, then: a venue idle at p that joins once others are out must pay for its
        own gas too; leaving such joiners out is tried while it helps: the worst one alone
        (the others may then fill its part on one gas: two equal pools that both joined,
        where one alone is cheapest), all of them at once, and every venue idle at p (one
        joiner's exit can let the next one in), whichever is best."""
        v, a, price = solve(idx, start)
        for _ in range(min(len(idx), 6)):  # bounded: many venues take the greedy path
            joined = [
                i
                for i in idx
                if a[i] and not amounts[i] and surplus(i, a, price) < legs[i].gas_quote
            ]
            if not joined or v[1] == INF:
                break
            worst = min(joined, key=lambda i: surplus(i, a, price) - legs[i].gas_quote)
            options = [[i for i in idx if i != worst]]
            if len(joined) > 1:
                options.append([i for i in idx if i not in joined])
            options.append([i for i in idx if amounts[i]])  # no joiner at all
            tried = [(solve(o, price), o) for o in options if o]
            if not tried:
                break
            (v2, a2, p2), keep = min(tried, key=lambda t: t[0][0])
            if v2 >= v:
                break
            idx, v, a, price = keep, v2, a2, p2
        return v, a, price

    # a venue idle at p with a fixed cost may join once others are out, and then cost more
    # than it saves (two equal pools: drop one and a third, idle so far, joins): so idle
    # venues are dropped in the enumeration too, not only left to the joiner pruning
    idle = [i for i in every if not amounts[i] and legs[i].gas_quote]
    if len(every) <= FEW and len(candidates) <= enumerate_max:
        exhaustive = len(candidates) + len(idle) <= enumerate_max
        # exhaustive: every subset of candidates and idle venues is solved as it is; else the
        # candidates' subsets, the others all staying in, each trial pruning its joiners
        droppable, run = (candidates + idle, solve) if exhaustive else (candidates, trial)
        for k in range(1, len(droppable) + 1):
            for drop in itertools.combinations(droppable, k):
                if len(drop) == len(every):
                    continue
                v, a, price = run([i for i in every if i not in drop], p)
                if v < best_v:
                    best_v, best_a, best_p = v, a, price
    else:  # many: leave out every venue whose surplus misses its gas, re-solve, repeat
        out: set[int] = set()
        cur_a, cur_p = amounts, p
        for _ in range(8):
            drop = {i for i in every if cur_a[i] and surplus(i, cur_a, cur_p) < legs[i].gas_quote}
            if not drop or len(drop | out) >= len(every):
                break
            v, a, price = trial([i for i in every if i not in out | drop], cur_p)
            if v >= best_v:
                break
            out |= drop
            best_v, best_a, best_p = v, a, price
            cur_a, cur_p = a, price
    alloc = _evaluate(legs, best_a, best_p)
    full = sum(best_a)
    # the best single venue (exact) as a floor under any approximation in the subset choice
    single = best_single(legs, side, full) if full else None
    if single is not None and _better(side, single[1], alloc.total):
        i, _ = single
        a = [0] * len(legs)
        a[i] = full
        return _evaluate(legs, a, best_p)
    return alloc


def grid_split(legs: Sequence[Leg], side: Side, size: int, steps: int = 20) -> Allocation | None:
    """The 5%-step split (Uniswap's Auto Router): ``steps`` equal chunks, each given to the venue
    whose all-in cost grows least with it (gas counted when a venue first takes part). A
    baseline for reports and benchmarks; ``None`` when the chunks cannot all be placed."""
    chunk, extra = divmod(size, steps)
    amounts = [0] * len(legs)
    costs = [0] * len(legs)
    sign = 1 if side is Side.BUY else -1
    for k in range(steps):
        c = chunk + (1 if k < extra else 0)
        if c == 0:
            continue
        best: tuple[int, int, int] | None = None
        for i, lg in enumerate(legs):
            new = amounts[i] + c
            if new > lg.limit or new % lg.curve.lot:
                continue
            try:
                cost = lg.curve.cost(new)
            except NoRouteError:
                continue
            delta = sign * (cost - costs[i]) + (lg.gas_quote if amounts[i] == 0 else 0)
            if best is None or delta < best[0]:
                best = (delta, i, cost)
        if best is None:
            return None
        _, i, cost = best
        amounts[i] += c
        costs[i] = cost
    fixed = sum(legs[i].gas_quote for i, a in enumerate(amounts) if a)
    variable = sum(costs)
    return Allocation(tuple(amounts), tuple(costs), variable + sign * fixed, 0.0)


# --- the plan: units at the edges ------------------------------------------------------------
def unit_price(price: Decimal, base_decimals: int, quote_decimals: int) -> float:
    """A human price (quote per base) as quote base units per base base unit."""
    return float(price) * 10.0 ** (quote_decimals - base_decimals)


def human_price(
    units: float | int, base_units: int, base_decimals: int, quote_decimals: int
) -> Decimal:
    """quote base units for ``base_units`` of base, as a human Decimal price (8 places)."""
    if base_units == 0:
        return Decimal(0)
    ctx = decimal.Context(prec=80)  # a pool's last unit can be priced near infinity
    q = ctx.multiply(
        ctx.divide(Decimal(units), Decimal(base_units)),
        Decimal(10) ** (base_decimals - quote_decimals),
    )
    return q.quantize(Decimal("1e-8"), context=ctx)


def plan(
    legs: Sequence[Leg],
    side: Side,
    size: int,
    *,
    parent_id: str,
    base: str,
    quote: str,
    base_decimals: int,
    quote_decimals: int,
    limit_price: Decimal | None = None,
    excluded: Sequence[tuple[str, str]] = (),
    enumerate_max: int = ENUMERATE_MAX,
) -> RoutePlan:
    """The RoutePlan for a parent order of ``size`` base units over ``legs``."""
    if type(size) is not int or size <= 0:
        raise ValidationError("size", f"{size!r} is not a positive int of base units")
    if limit_price is not None and limit_price <= 0:
        raise ValidationError("limit", f"{limit_price} is not positive", "give a price > 0")
    if not legs:
        why = "; ".join(f"{v}: {r}" for v, r in excluded) or "no venue given"
        raise NoRouteError(f"no venue can take part ({why})")
    limit = None if limit_price is None else unit_price(limit_price, base_decimals, quote_decimals)
    buy = side is Side.BUY
    if limit is not None:
        starts = [lg.curve.marginal(0.0) for lg in legs if lg.limit > 0]
        best = min(starts) if buy else max(starts)
        if (buy and best > limit) or (not buy and best < limit):
            bp = human_price(
                best * 10**base_decimals, 10**base_decimals, base_decimals, quote_decimals
            )
            raise RouteLimitError(
                f"limit: {limit_price} {quote}/{base} is out of reach, the best price any venue "
                f"offers now is {bp}; {'raise' if buy else 'lower'} the limit or wait",
                bp,
            )
    alloc = optimize(legs, side, size, limit, enumerate_max=enumerate_max)
    single = best_single(legs, side, size)
    children = []
    for i, amount in enumerate(alloc.amounts):
        if not amount:
            continue
        lg = legs[i]
        cv = lg.curve
        venue_amt = cv.venue_amount(amount)
        extras = lg.extras(amount)
        m = cv.marginal(float(amount))
        if not math.isfinite(m):  # the venue is exhausted: its last unit's price
            m = cv.marginal(float(amount - cv.lot))
        children.append(
            PlannedChild(
                client_order_id=f"{parent_id}.{len(children)}",
                venue_id=lg.venue_id,
                kind=lg.kind,
                chain_id=lg.chain_id,
                side=side,
                base_amount=amount,
                quote_amount=venue_amt,
                fee_quote=cv.fee(amount),
                gas_quote=lg.gas_quote + extras,
                avg_price=human_price(venue_amt, amount, base_decimals, quote_decimals),
                marginal_price=human_price(
                    m * 10**base_decimals, 10**base_decimals, base_decimals, quote_decimals
                )
                if math.isfinite(m)
                else Decimal(0),
                pin=lg.pin,
                venue_ref=lg.venue_ref,
            )
        )
    filled = sum(alloc.amounts)
    total = (
        sum(c.quote_amount + c.gas_quote for c in children)
        if buy
        else sum(c.quote_amount - c.gas_quote for c in children)
    )
    return RoutePlan(
        parent_id=parent_id,
        side=side,
        base=base,
        quote=quote,
        size=size,
        limit_price=limit_price,
        children=tuple(children),
        unfilled=size - filled,
        total_quote=total,
        excluded=tuple(excluded),
        best_single=None if single is None else (legs[single[0]].venue_id, single[1]),
    )
