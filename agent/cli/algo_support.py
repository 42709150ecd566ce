"""What `agent trade order --algo ...` adds to a parent order: its algorithm's parameters from
the command line, the policy fit against the module's allowance windows read from the chain,
and the lines it prints. The order command keeps the wiring (journal, chains, venues)."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

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


def policy_windows(policy_path: Path | None, manifest: Any, rpc_url: str, module: str) -> list[Any]:
    """The fund's allowance windows as the module holds them now (empty without a policy)."""
    if policy_path is None:
        return []
    from agent.algos.policy_fit import allowance_windows
    from agent.policy.onchain import ModuleReader
    from agent.policy.resolve import load_policy

    policy = load_policy(policy_path, manifest)
    states = ModuleReader(rpc_url, module).allowance_states()
    return allowance_windows(policy, states, int(time.time()))


def outcome_lines(outcome: Any) -> list[str]:
    p = outcome.params
    head = (
        f"{p.kind.value.upper()} {p.side.value} {p.size:f} {p.base} over {p.horizon_s}s "
        f"in {p.interval_s}s slices"
    )
    if outcome.stretched_to_ms is not None:
        head += " (stretched to fit the policy's allowance windows)"
    state = outcome.state
    fin = state.finished
    lines = [head]
    for i, d in sorted(state.done.items()):
        lines.append(
            f"  slice {i}: {d.filled:f} {p.base} for {d.quote_amount:f} {p.quote} [{d.status}]"
            + (f" {d.code}: {d.reason}" if d.code else "")
        )
    if fin is not None:
        lines.append(f"outcome: {type(fin).__name__.removeprefix('Algo').lower()}: {fin.reason}")
    return lines + outcome.report.lines()
