"""An algorithm parent's wiring over an OrderApp (`agent.bootstrap.OrderApp`): the module's
allowance windows read from the chain, the market's price and trading state as the runner reads
them, the venues' market data, and :func:`run_algo`, which resumes a journaled parent or starts
a new one. The CLI (`agent trade order --algo`), the daemon (`POST /v1/orders` with
``"algorithm"``) and the demo call :func:`run_algo`; the lines they print are
:func:`outcome_lines`."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from agent.algos.params import AlgoKind, AlgoParams
from agent.model import Side


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
    """The market's price now: the router's average for a small probe (1/100 of a base unit
    of human scale) over every venue, gas left out (the report counts gas apart; on a 0.01
    probe it would add ~1% to the arrival price), or None when nothing quotes."""
    from agent.errors import AgentError

    probe = 10 ** max(0, base_decimals - 2)

    async def mid() -> Decimal | None:
        try:
            rep = await app.routing.plan(inst, side, probe, parent_id="algo-mid-probe")
        except AgentError:
            return None
        return rep.price_avg if rep.plan.filled else None

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
    out = await run_parent(
        app, parent_id, params, base_decimals=base_decimals, quote_decimals=quote_decimals,
        windows=windows, reference_price=price, stretch=stretch, market=market, mid=mid,
        trading_state=trading_state_of(app), profile=profile, sink=slice_sink(app, params),
    )  # fmt: skip
    return await with_interval_market(app, out, safe)


async def with_interval_market(app: Any, out: Any, safe: str | None = None) -> Any:
    """``out`` with the market's trades over its execution (the exchanges' public trades and
    the L1 pools' Swap events) journaled once (IntervalMarket) and in its report's interval
    VWAP. Venues that cannot answer leave the VWAP unknown ("n/a"), never guessed."""
    import dataclasses
    import logging

    from agent.algos.events import AlgoStarted, IntervalMarket, algo_stream
    from agent.algos.market import market_trades
    from agent.algos.report import execution_report

    state, rep = out.state, out.report
    if state.market is not None or state.finished is None:
        return out
    md = venue_market_data(app, out.params, 18, safe)
    try:
        blocks = await _own_blocks(app, out.parent_id, md.rpc)
        trades = await market_trades(
            rep.start_ms, rep.end_ms, md.cex, rpc=md.rpc, pools=md.pools, blocks=blocks
        )
    except Exception as e:  # ccxt's, the RPC's and ours alike: no tape, the VWAP stays n/a
        logging.getLogger(__name__).warning("interval market trades not read: %s", e)
        return out
    ev = IntervalMarket(
        out.parent_id, rep.start_ms, rep.end_ms,
        sum((q for _, _, q, _ in trades), Decimal(0)),
        sum((px * q for _, px, q, _ in trades), Decimal(0)), len(trades),
        tuple(sorted({src for *_, src in trades})),
    )  # fmt: skip
    stream = algo_stream(out.parent_id)
    app.journal.append(stream, state.version, [ev])
    state.apply(ev)
    started = next(
        r.event for r in app.journal.read_stream(stream) if isinstance(r.event, AlgoStarted)
    )
    return dataclasses.replace(out, report=execution_report(state, started), state=state)


def slice_sink(app: Any, p: AlgoParams) -> Any:
    """Where ``p``'s slices go: an Iceberg rests on the first connected exchange's book
    (native ``icebergQty`` where the venue allows it, else emulated); everything else, and an
    Iceberg without an exchange (on-chain slices), through the router (None: the default)."""
    from agent.algos.resting import RestingSliceSink, supports_iceberg
    from agent.routing.sources import wanted

    only = app.routing.only or None
    cex = [
        src for src in app.routing.cex
        if src.venue.id in app.executor.cex and wanted(src.venue.id, only)
    ]  # fmt: skip
    if p.kind is not AlgoKind.ICEBERG or not cex:
        return None

    src = cex[0]
    symbol = src.symbol or f"{p.base}/{p.quote}"
    native = supports_iceberg(src.venue, symbol, p.size, p.display)
    return RestingSliceSink(app, src.venue, symbol, native=native)


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


async def _own_blocks(app: Any, parent_id: str, rpc: Any) -> tuple[int, int] | None:
    """The first and last L1 block holding one of this parent's on-chain fills (its slices'
    pool legs: their venue order id is the transaction's hash), or None if it had none."""
    m = app.manager
    m.sync()
    hashes = {
        o.venue_order_id for o in m.store.orders.values()
        if str(o.client_order_id).startswith(f"{parent_id}.s") and o.filled > 0
        and str(o.venue).startswith("uniswap") and str(o.venue_order_id).startswith("0x")
    }  # fmt: skip
    numbers = []
    for h in sorted(hashes):
        r = await rpc.call("eth_getTransactionReceipt", [h])
        if r:
            numbers.append(int(r["blockNumber"], 16))
    return (min(numbers), max(numbers)) if numbers else None


def venue_view(app: Any, only: tuple[str, ...]) -> Any:
    """``app`` seen through a venue filter (``only``: substrings of venue ids, as --venues):
    the same OMS, executor and journal; the router plans over the matching venues only."""
    import dataclasses
    from types import SimpleNamespace

    return SimpleNamespace(
        manager=app.manager, executor=app.executor, journal=app.journal,
        routing=dataclasses.replace(app.routing, only=only),
    )  # fmt: skip


async def run_hedged(
    app: Any,
    parent_id: str,
    *,
    side: Side,
    base: str,
    quote: str,
    size: Decimal,
    primary_venues: tuple[str, ...],
    hedge_venues: tuple[str, ...],
    max_net_delta: Decimal,
    max_unhedged_ms: int,
    rule: str,
    slippage_bps: int,
    limit_price: Decimal | None,
    base_decimals: int,
    quote_decimals: int,
) -> Any:
    """One parent executed leg by leg (agent.algos.legsync): ``size`` on ``primary_venues`` in
    chunks whose delta fits ``max_net_delta``, each fill hedged at once by the opposite trade
    on ``hedge_venues``; a hedge that cannot fill within ``max_unhedged_ms`` is retried or the
    chunk unwound (``rule``). Both legs are routed orders of the one OMS (risk gate, policy);
    every step is journaled on ``legsync-<parent>``. A SyncReport."""
    from agent.algos.legsync import Leg, LegSynchronizer, SyncBounds, UnwindRule
    from agent.algos.sinks import RoutedSliceSink
    from agent.errors import ValidationError

    try:
        unwind = UnwindRule(rule)
    except ValueError:
        raise ValidationError("--hedge-rule", f"{rule!r} is not unwind or complete") from None
    bounds = SyncBounds(max_net_delta, max_unhedged_ms, unwind)

    def sink(only: tuple[str, ...]) -> Any:
        return RoutedSliceSink(
            venue_view(app, only), base_decimals=base_decimals, quote_decimals=quote_decimals
        )

    hedge_side = Side.SELL if side is Side.BUY else Side.BUY
    one = Decimal(1)
    primary = Leg("p", sink(primary_venues), side, base, quote, size, one,
                  limit_price=limit_price, max_slippage_bps=slippage_bps)  # fmt: skip
    hedge = Leg("h", sink(hedge_venues), hedge_side, base, quote, size, one,
                max_slippage_bps=slippage_bps)  # fmt: skip
    return await LegSynchronizer(parent_id, primary, hedge, bounds, journal=app.journal).run()


def hedged_lines(parent_id: str, rep: Any, bounds: tuple[Decimal, int]) -> list[str]:
    """What `agent trade order --hedge-venues` prints for a SyncReport."""
    bound, ms = bounds
    lines = [
        f"legs {parent_id}: {rep.outcome.upper()}: primary filled {rep.primary_filled}, "
        f"hedged {rep.hedge_filled}, unwound {rep.unwound}",
        f"  worst net delta {rep.worst_net_delta} (bound {bound}); longest unhedged "
        f"{rep.longest_unhedged_ms} ms (bound {ms} ms); journaled on legsync-{parent_id}",
    ]
    return lines + [f"  note: {n}" for n in rep.notes]
