"""Parameters of a parent order's execution algorithm, validated at the edge.

One frozen value object for every algorithm (the API, the CLI and the journal carry the same
shape); :func:`validate` refuses inconsistent combinations with the field named and the fix,
before anything is scheduled. Quantities are ``Decimal`` in units of the base asset (human
scale) and are cut to ``lot``; times are unix milliseconds and durations seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from agent.errors import ValidationError
from agent.model import Side

ZERO = Decimal(0)
ONE = Decimal(1)


class AlgoKind(StrEnum):
    TWAP = "twap"
    VWAP = "vwap"
    POV = "pov"
    ICEBERG = "iceberg"
    SNIPER = "sniper"


@dataclass(frozen=True, slots=True)
class AlgoParams:
    """What a parent order asks of its algorithm.

    * ``horizon_s`` / ``interval_s``: the schedule's length and slice spacing (TWAP, VWAP,
      POV's decision interval, Iceberg's on-chain slices, Sniper's polling).
    * ``size_jitter`` / ``time_jitter``: randomization, each a fraction in [0, 0.5] of the
      nominal slice size / of the interval (seeded by ``seed``, so a restart reproduces it).
    * ``min_slice``: no slice below this (smaller ones merge into their neighbours).
    * ``catch_up``: a slice may carry at most this multiple of its nominal size to make up
      for slices that were missed (paused, halted, unfilled); 1 = never catch up.
    * ``participation``, ``min_rate``, ``max_rate``: POV's target share of market volume and
      its bounds per interval, each in (0, 1].
    * ``display``: Iceberg's shown quantity.
    * ``deadline_ms``: nothing is sent after it; the remainder is reported.
    """

    kind: AlgoKind
    side: Side
    base: str
    quote: str
    size: Decimal
    start_ms: int
    horizon_s: int = 3600
    interval_s: int = 60
    limit_price: Decimal | None = None
    deadline_ms: int | None = None
    size_jitter: Decimal = ZERO
    time_jitter: Decimal = ZERO
    min_slice: Decimal = ZERO
    catch_up: Decimal = Decimal(2)
    participation: Decimal = Decimal("0.1")
    min_rate: Decimal = Decimal("0.02")
    max_rate: Decimal = Decimal("0.25")
    display: Decimal = ZERO
    lot: Decimal = Decimal("0.000001")
    max_slippage_bps: int = 30
    seed: int = 0

    @property
    def end_ms(self) -> int:
        """When the schedule ends: the horizon, or the deadline if earlier."""
        end = self.start_ms + self.horizon_s * 1000
        return min(end, self.deadline_ms) if self.deadline_ms is not None else end

    def stretched(self, horizon_s: int) -> AlgoParams:
        return replace(self, horizon_s=horizon_s)


def _fraction(name: str, v: Decimal, lo: Decimal, hi: Decimal, closed_lo: bool = True) -> None:
    ok = (v >= lo if closed_lo else v > lo) and v <= hi
    if not ok:
        span = f"{'[' if closed_lo else '('}{lo}, {hi}]"
        raise ValidationError(f"algo.{name}", f"{v} is outside {span}", f"give a value in {span}")


def validate(p: AlgoParams, *, now_ms: int | None = None) -> AlgoParams:
    """``p`` if consistent, else ValidationError naming the field (nothing is scheduled)."""
    if not isinstance(p.kind, AlgoKind):
        known = ", ".join(k.value for k in AlgoKind)
        raise ValidationError("algo.kind", f"unknown algorithm {p.kind!r}", f"use one of: {known}")
    for name in ("size", "lot"):
        v = getattr(p, name)
        if not isinstance(v, Decimal) or not v.is_finite() or v <= 0:
            raise ValidationError(f"algo.{name}", f"{v} must be a positive number", "e.g. 1.5")
    if p.size % p.lot:
        raise ValidationError(
            "algo.size", f"{p.size} is not a multiple of the lot {p.lot}", "round it to the lot"
        )
    if p.horizon_s <= 0:
        raise ValidationError("algo.horizon", f"{p.horizon_s}s must be positive", "e.g. 2h")
    if p.interval_s <= 0:
        raise ValidationError("algo.interval", f"{p.interval_s}s must be positive", "e.g. 5m")
    if p.kind in (AlgoKind.TWAP, AlgoKind.VWAP, AlgoKind.POV) and p.interval_s > p.horizon_s:
        raise ValidationError(
            "algo.interval",
            f"{p.interval_s}s is longer than the horizon {p.horizon_s}s",
            "make the interval shorter than the horizon",
        )
    _fraction("size_jitter", p.size_jitter, ZERO, Decimal("0.5"))
    _fraction("time_jitter", p.time_jitter, ZERO, Decimal("0.5"))
    if p.min_slice < 0 or p.min_slice > p.size:
        raise ValidationError(
            "algo.min_slice", f"{p.min_slice} is outside [0, size {p.size}]", "lower it"
        )
    if p.catch_up < ONE:
        raise ValidationError("algo.catch_up", f"{p.catch_up} is below 1", "1 = never catch up")
    if p.kind is AlgoKind.POV:
        _fraction("participation", p.participation, ZERO, ONE, closed_lo=False)
        _fraction("min_rate", p.min_rate, ZERO, ONE, closed_lo=False)
        _fraction("max_rate", p.max_rate, ZERO, ONE, closed_lo=False)
        if not p.min_rate <= p.participation <= p.max_rate:
            raise ValidationError(
                "algo.participation",
                f"{p.participation} is not between min_rate {p.min_rate} and max_rate {p.max_rate}",
                "make min_rate <= participation <= max_rate",
            )
    if p.kind is AlgoKind.ICEBERG:
        if p.display <= 0 or p.display >= p.size:
            raise ValidationError(
                "algo.display",
                f"displayed quantity {p.display} must be above 0 and below the order's {p.size}",
                "show a part of the order",
            )
        if p.limit_price is None:
            raise ValidationError("algo.limit", "an iceberg needs a limit price", "give --limit P")
    if p.kind is AlgoKind.SNIPER and p.limit_price is None:
        raise ValidationError("algo.limit", "a sniper needs a limit price", "give --limit P")
    if p.limit_price is not None and (not p.limit_price.is_finite() or p.limit_price <= 0):
        raise ValidationError("algo.limit", f"{p.limit_price} must be a positive price", "")
    if p.deadline_ms is not None:
        if now_ms is not None and p.deadline_ms <= now_ms:
            raise ValidationError(
                "algo.deadline", "is in the past", "give a deadline after the start"
            )
        if p.deadline_ms <= p.start_ms:
            raise ValidationError("algo.deadline", "is before the start", "move it later")
    if not 0 <= p.max_slippage_bps <= 10_000:
        raise ValidationError("algo.max_slippage_bps", f"{p.max_slippage_bps}", "0..10000")
    return p


_DURATION = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(field: str, text: str) -> int:
    """Seconds in ``30s``, ``5m``, ``2h``, ``1d``, ``1w`` or a plain number of seconds (the
    same units as the policy's periods)."""
    import re

    m = re.fullmatch(r"(\d+)\s*([smhdw]?)", str(text).strip())
    if not m or int(m.group(1)) <= 0:
        raise ValidationError(field, f"{text!r} is not a duration", "e.g. 30s, 5m, 2h, 1d")
    return int(m.group(1)) * _DURATION[m.group(2)]
