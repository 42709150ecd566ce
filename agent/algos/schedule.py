"""Schedules: pure functions from parameters (and market data) to slices.

A schedule is a tuple of :class:`Slice` (due time, quantity); quantities are multiples of the
lot and sum EXACTLY to the parent's size (the last slice takes the rounding remainder), so a
schedule never buys a lot more or less than was asked. Randomization is seeded by the
parameters, so the same parameters always give the same schedule (a restart re-derives it
and finds its place by the journaled slices, never by a guess).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from agent.algos.params import ONE, ZERO, AlgoKind, AlgoParams


@dataclass(frozen=True, slots=True)
class Slice:
    index: int
    due_ms: int
    quantity: Decimal


def _cut(q: Decimal, lot: Decimal) -> Decimal:
    return (q / lot).to_integral_value(rounding=ROUND_DOWN) * lot


def _split(size: Decimal, weights: Sequence[Decimal], lot: Decimal) -> list[Decimal]:
    """``size`` split by ``weights`` into lot multiples that sum exactly to ``size``."""
    total = sum(weights, ZERO)
    if total <= 0:
        weights, total = [ONE] * len(weights), Decimal(len(weights))
    parts = [_cut(size * w / total, lot) for w in weights]
    parts[-1] += size - sum(parts, ZERO)
    return parts


def _merge_small(
    slices: list[tuple[int, Decimal]], min_slice: Decimal
) -> list[tuple[int, Decimal]]:
    """Fold slices below ``min_slice`` into the next one (the last into the previous)."""
    if min_slice <= 0:
        return slices
    out: list[tuple[int, Decimal]] = []
    carry = ZERO
    for due, q in slices:
        q += carry
        if q < min_slice:
            carry = q
            continue
        carry = ZERO
        out.append((due, q))
    if carry:
        if out:
            due, q = out[-1]
            out[-1] = (due, q + carry)
        else:
            out.append((slices[-1][0], carry))
    return out


def _times(p: AlgoParams, n: int, rng: random.Random) -> list[int]:
    """Slice times: one per interval from the start, each moved by up to ``time_jitter``
    of the interval (never before the start nor past the end)."""
    step = p.interval_s * 1000
    out = []
    for i in range(n):
        t = p.start_ms + i * step
        if p.time_jitter:
            t += int(float(p.time_jitter) * step * rng.uniform(-1.0, 1.0))
        out.append(min(max(t, p.start_ms), p.end_ms))
    return sorted(out)


def _with_jitter(
    n: int, p: AlgoParams, rng: random.Random, base: Sequence[Decimal]
) -> list[Decimal]:
    if not p.size_jitter:
        return list(base)
    j = float(p.size_jitter)
    return [w * Decimal(str(round(1 + j * rng.uniform(-1.0, 1.0), 6))) for w in base]


def twap(p: AlgoParams) -> tuple[Slice, ...]:
    """Equal slices every ``interval_s`` over the horizon, sizes and times jittered."""
    n = max(1, math.ceil((p.end_ms - p.start_ms) / (p.interval_s * 1000)))
    rng = random.Random(p.seed)
    weights = _with_jitter(n, p, rng, [ONE] * n)
    return _finish(p, _times(p, n, rng), _split(p.size, weights, p.lot))


def vwap(p: AlgoParams, profile: Sequence[Decimal]) -> tuple[Slice, ...]:
    """Slices in proportion to the expected volume of each interval (``profile``, one weight
    per interval of the horizon, e.g. from :func:`volume_profile`)."""
    n = max(1, math.ceil((p.end_ms - p.start_ms) / (p.interval_s * 1000)))
    if len(profile) != n:
        raise ValueError(f"profile has {len(profile)} buckets for {n} intervals")
    rng = random.Random(p.seed)
    weights = _with_jitter(n, p, rng, list(profile))
    return _finish(p, _times(p, n, rng), _split(p.size, weights, p.lot))


def _finish(p: AlgoParams, times: list[int], sizes: list[Decimal]) -> tuple[Slice, ...]:
    merged = _merge_small([(t, q) for t, q in zip(times, sizes, strict=True) if q > 0], p.min_slice)
    return tuple(Slice(i, t, q) for i, (t, q) in enumerate(merged))


def volume_profile(
    history: Sequence[tuple[int, Decimal]], p: AlgoParams, *, day_ms: int = 86_400_000
) -> tuple[Decimal, ...]:
    """Expected volume of each interval of the horizon, from ``history`` (timestamp, volume)
    pairs: the venues' trades (CEX klines/trades, the pools' Swap events) bucketed by time of
    day at the interval's resolution and averaged over the days seen. An interval with no
    history gets the mean of the others; no history at all gives a flat profile (TWAP)."""
    step = p.interval_s * 1000
    n = max(1, math.ceil((p.end_ms - p.start_ms) / step))
    if not history:
        return tuple([ONE] * n)
    by_bucket: dict[int, Decimal] = {}
    days: set[int] = set()
    for ts, vol in history:
        by_bucket[(ts % day_ms) // step] = by_bucket.get((ts % day_ms) // step, ZERO) + vol
        days.add(ts // day_ms)
    span = Decimal(max(1, len(days)))
    out = []
    for i in range(n):
        b = ((p.start_ms + i * step) % day_ms) // step
        out.append(by_bucket.get(b, ZERO) / span)
    known = [v for v in out if v > 0]
    mean = sum(known, ZERO) / len(known) if known else ONE
    return tuple(v if v > 0 else mean for v in out)


def behind(schedule: Sequence[Slice], now_ms: int, filled: Decimal) -> Decimal:
    """How much the fills lag the schedule's cumulative target at ``now_ms`` (>= 0)."""
    due = sum((s.quantity for s in schedule if s.due_ms <= now_ms), ZERO)
    return max(ZERO, due - filled)


def next_quantity(
    p: AlgoParams, schedule: Sequence[Slice], index: int, now_ms: int, filled: Decimal
) -> Decimal:
    """What slice ``index`` sends when it comes due: its own quantity plus what earlier
    slices missed, capped at ``catch_up`` times its nominal size and at what is left."""
    nominal = schedule[index].quantity
    lag = behind(schedule, now_ms, filled)
    q = min(max(nominal, lag), nominal * p.catch_up, p.size - filled)
    return _cut(max(q, ZERO), p.lot)


def pov_quantity(
    p: AlgoParams, market_volume: Decimal, interval_volume: Decimal, filled: Decimal
) -> Decimal:
    """POV: our share of the volume others traded since the start (``market_volume``, our
    own fills excluded) should be ``participation``: ours / (ours + theirs) = rate, i.e.
    ours = rate / (1 - rate) * theirs. The slice makes up the gap, bounded per interval by
    ``min_rate`` and ``max_rate`` of the interval's volume, and by what is left."""

    def share(rate: Decimal, vol: Decimal) -> Decimal:
        return vol * rate / (ONE - rate) if rate < ONE else vol

    gap = share(p.participation, market_volume) - filled
    lo, hi = share(p.min_rate, interval_volume), share(p.max_rate, interval_volume)
    q = min(max(gap, lo), hi, p.size - filled)
    return _cut(max(q, ZERO), p.lot)


def iceberg_slices(p: AlgoParams) -> tuple[Slice, ...]:
    """An iceberg emulated as successive displayed orders: ``display`` each (the last the
    remainder), one after the other as each fills (due times are only a lower bound)."""
    n = math.ceil(p.size / p.display)
    sizes = [p.display] * (n - 1) + [p.size - p.display * (n - 1)]
    return tuple(Slice(i, p.start_ms + i * p.interval_s * 1000, q) for i, q in enumerate(sizes))


def for_params(p: AlgoParams, profile: Sequence[Decimal] | None = None) -> tuple[Slice, ...]:
    """The static schedule of ``p`` (POV and Sniper are driven by market data instead: their
    schedule is one slot per interval with the whole size as the ceiling)."""
    if p.kind is AlgoKind.TWAP:
        return twap(p)
    if p.kind is AlgoKind.VWAP:
        return vwap(p, profile if profile is not None else volume_profile((), p))
    if p.kind is AlgoKind.ICEBERG:
        return iceberg_slices(p)
    n = max(1, math.ceil((p.end_ms - p.start_ms) / (p.interval_s * 1000)))
    return tuple(Slice(i, p.start_ms + i * p.interval_s * 1000, p.size) for i in range(n))
