"""What `agent trade order --algo ...` adds to a parent order: its algorithm's parameters from
the command line, validated with the flags named. The wiring (policy windows, market data, the
runner) is :mod:`agent.algos.wiring`."""

from __future__ import annotations

import time
from decimal import Decimal

from agent.algos.params import AlgoKind, AlgoParams, parse_duration, validate
from agent.errors import ValidationError
from agent.model import Side


def _dec(field: str, v: str | None, default: str) -> Decimal:
    from decimal import InvalidOperation

    raw = default if v is None else v
    try:
        d = Decimal(raw)
    except InvalidOperation:
        raise ValidationError(
            field, f"{raw!r} is not a number", f"e.g. {field} {default}"
        ) from None
    if not d.is_finite():
        raise ValidationError(field, f"{raw!r} is not a finite number", f"e.g. {field} {default}")
    return d


def algo_params(
    *,
    algo: str,
    side: Side,
    base: str,
    quote: str,
    size: Decimal,
    limit: Decimal | None,
    lot: Decimal,
    horizon: str = "10m",
    interval: str = "1m",
    size_jitter: str | None = None,
    time_jitter: str | None = None,
    min_slice: str | None = None,
    catch_up: str | None = None,
    participation: str | None = None,
    min_rate: str | None = None,
    max_rate: str | None = None,
    display: str | None = None,
    deadline: str | None = None,
    slippage_bps: int = 30,
    seed: int = 0,
) -> AlgoParams:
    """The parameters as typed, validated (the field named on a mistake; nothing sent)."""
    try:
        kind = AlgoKind(algo.lower())
    except ValueError:
        known = ", ".join(k.value for k in AlgoKind)
        raise ValidationError(
            "--algo", f"unknown algorithm {algo!r}", f"use one of: {known}"
        ) from None
    now = time.time_ns() // 1_000_000
    p = AlgoParams(
        kind=kind, side=side, base=base, quote=quote, size=size, start_ms=now,
        horizon_s=parse_duration("--horizon", horizon),
        interval_s=parse_duration("--interval", interval), limit_price=limit,
        deadline_ms=now + parse_duration("--deadline", deadline) * 1000 if deadline else None,
        size_jitter=_dec("--size-jitter", size_jitter, "0"),
        time_jitter=_dec("--time-jitter", time_jitter, "0"),
        min_slice=_dec("--min-slice", min_slice, "0"), catch_up=_dec("--catch-up", catch_up, "2"),
        participation=_dec("--participation", participation, "0.1"),
        min_rate=_dec("--min-rate", min_rate, "0.02"), max_rate=_dec("--max-rate", max_rate, "0.25"),
        display=_dec("--display", display, "0"), lot=lot, max_slippage_bps=slippage_bps, seed=seed,
    )  # fmt: skip
    try:
        return validate(p, now_ms=now)
    except ValidationError as e:  # name the flag the user typed
        flag = "--" + e.field.removeprefix("algo.").replace("_", "-")
        raise ValidationError(flag, e.problem, e.fix, code=e.code) from None
