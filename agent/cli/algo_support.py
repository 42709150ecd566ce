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
    import dataclasses

    from agent.algos.policy_fit import allowance_windows
    from agent.chain.devnet import rpc_call
    from agent.policy.onchain import ModuleReader
    from agent.policy.resolve import load_policy

    policy = load_policy(policy_path, manifest)
    states = ModuleReader(rpc_url, module).allowance_states()
    chain_s = int(rpc_call(rpc_url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
    # the module refills on the chain's clock; the schedule runs on ours. The chain's next
    # block is at least its latest block's time, so it lags our clock by at most ``lag``:
    # windows moved that much later are never entered before the module has refilled them
    lag = max(0, time.time_ns() // 1_000_000 - chain_s * 1000)
    return [
        dataclasses.replace(w, window_start_ms=w.window_start_ms + lag)
        for w in allowance_windows(policy, states, chain_s)
    ]


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


def mid_probe(app: Any, inst: Any, side: Side, base_decimals: int) -> Any:
    """The market's price now: the router's all-in average for a small probe (1/100 of a
    base unit of human scale) over every venue, or None when nothing quotes."""
    from agent.errors import AgentError

    probe = 10 ** max(0, base_decimals - 2)

    async def mid() -> Decimal | None:
        try:
            rep = await app.routing.plan(inst, side, probe, parent_id="algo-mid-probe")
        except AgentError:
            return None
        return rep.plan_avg if rep.plan.filled else None

    return mid


def trading_state_of(app: Any) -> Any:
    """The desk's trading state as the journal holds it now (`agent halt` from another shell
    writes it there): the runner reads it before every step."""

    def state() -> Any:
        app.manager.sync()
        return app.manager.store.trading_state

    return state


async def run_algo(
    app: Any,
    parent_id: str,
    params: AlgoParams,
    *,
    windows: list[Any],
    stretch: bool,
    base_decimals: int,
    quote_decimals: int,
    market: Any = None,
    safe: str | None = None,
) -> Any:
    """One parent under its algorithm over ``app`` (an OrderApp): the policy fit up front
    (with the router's price now), then the runner; a ParentOutcome."""
    from agent.algos.events import AlgoStarted, algo_stream
    from agent.algos.service import run_parent
    from agent.model import Spot

    inst = Spot(params.base, params.quote)
    mid = mid_probe(app, inst, params.side, base_decimals)
    started = next(
        (r.event for r in app.journal.read_stream(algo_stream(parent_id))
         if isinstance(r.event, AlgoStarted)), None,
    )  # fmt: skip
    if started is not None:
        # a rerun resumes the journaled schedule (checked when it started; the windows now
        # show what its own sent slices used): no second fit, the original parameters
        windows, params = [], started.params
    else:  # the schedule starts now, not when the input was parsed (connecting takes seconds)
        import dataclasses

        params = dataclasses.replace(params, start_ms=time.time_ns() // 1_000_000)
    price = params.limit_price or (await mid() if windows else None)
    profile = None
    if market is None and params.kind in (AlgoKind.POV, AlgoKind.SNIPER, AlgoKind.VWAP):
        market = venue_market_data(app, params, base_decimals, safe)
        if params.kind is AlgoKind.VWAP:
            from agent.algos.market import history_profile

            profile = await history_profile(params, market.cex, rpc=market.rpc, pools=market.pools)
    return await run_parent(
        app, parent_id, params, base_decimals=base_decimals, quote_decimals=quote_decimals,
        windows=windows, reference_price=price, stretch=stretch, market=market, mid=mid,
        trading_state=trading_state_of(app), profile=profile,
    )  # fmt: skip


def venue_market_data(app: Any, p: AlgoParams, base_decimals: int, safe: str | None) -> Any:
    """POV/Sniper/VWAP's data over ``app``'s own connections: each connected exchange's tape
    (ccxt) and the L1 pools' Swap logs of the pair; Sniper's depth from the router."""
    from agent.algos.market import VenueMarketData, pools_of

    cex = [(src.venue.ex, src.symbol or f"{p.base}/{p.quote}") for src in app.routing.cex]
    l1 = app.routing.l1
    return VenueMarketData(
        cex=cex, rpc=l1.rpc, pools=pools_of(l1.manifest, p.base, p.quote),
        own=frozenset({safe.lower()} if safe else ()), routing=app.routing,
        base_decimals=base_decimals,
    )  # fmt: skip
