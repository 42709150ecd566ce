"""`agent trade order`: plan a parent order over every venue and execute it (on-chain children
of one chain in ONE Safe transaction, CEX children through ccxt), printing each child's fill
against the plan. `agent route` prints the same plan without sending."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import typer

from agent.algos.service import ScheduleRefusedError
from agent.algos.wiring import outcome_lines, policy_windows, run_algo
from agent.cli.algo_support import algo_params
from agent.cli.common import EXIT_INPUT, console, fail, run, run_async
from agent.cli.route import DEFAULT_STATE, _cex_arg, _decimal, _devnets, _side
from agent.cli.trade import PASSWORD_ENV_OPTION, PEER_OPTION, SHARE_OPTION
from agent.errors import ValidationError
from agent.model import Spot

EXIT_DENIED = 3
EXIT_UNFILLED = 4


def order(
    side: str = typer.Option(..., "--side", help="buy or sell (the base asset)."),
    base: str = typer.Option(..., "--base", help="Asset bought or sold, e.g. WETH."),
    quote: str = typer.Option(..., "--quote", help="Asset paid or received, e.g. USDC."),
    size: str = typer.Option(..., "--size", help="Amount of the base asset (human units)."),
    limit: str | None = typer.Option(
        None, "--limit", help="Worst marginal all-in price (quote per base) any unit may get."
    ),
    client_id: str = typer.Option(
        ..., "--client-id", help="Parent order id, the idempotency key (children are ID.N)."
    ),
    safe: str = typer.Option(..., "--safe", help="The fund's Safe on L1."),
    module: str = typer.Option(..., "--module", help="Its PolicyModule."),
    policy: Path | None = typer.Option(None, "--policy", help="L1 signing-policy file."),
    l2_safe: str | None = typer.Option(None, "--l2-safe", help="The fund's Safe on the L2."),
    l2_module: str | None = typer.Option(None, "--l2-module"),
    l2_policy: Path | None = typer.Option(None, "--l2-policy"),
    venues: str | None = typer.Option(
        None, "--venues", help="Comma list; a venue takes part if a token is in its id."
    ),
    cex: list[str] = typer.Option([], "--cex", help="NAME=URL of an exchange; repeatable."),
    cex_symbol: str | None = typer.Option(None, "--cex-symbol", help="e.g. ETH/USDC."),
    time_bps_per_min: str = typer.Option("0.1", "--time-bps-per-min"),
    slippage_bps: int = typer.Option(10, "--slippage-bps", help="Bound per on-chain leg."),
    max_retries: int = typer.Option(2, "--max-retries", help="Re-plans of an unfilled rest."),
    state_dir: Path = typer.Option(DEFAULT_STATE, "--state-dir", help="`agent devnet up` state."),
    rpc_url: str | None = typer.Option(None, "--rpc-url", help="L1 RPC [default: state dir]."),
    manifest: Path | None = typer.Option(None, "--manifest"),
    l2_rpc_url: str | None = typer.Option(None, "--l2-rpc-url"),
    l2_manifest: Path | None = typer.Option(None, "--l2-manifest"),
    key_env: str = typer.Option("AGENT_OPERATOR_KEY", "--key-env"),
    journal: Path = typer.Option(Path(".state/journal.sqlite"), "--journal"),
    as_json: bool = typer.Option(False, "--json"),
    algo: str | None = typer.Option(
        None, "--algo", help="Run the parent under twap|vwap|pov|iceberg|sniper (slices)."
    ),
    horizon: str = typer.Option("10m", "--horizon", help="--algo: the schedule's length."),
    interval: str = typer.Option("1m", "--interval", help="--algo: time between slices."),
    size_jitter: str | None = typer.Option(None, "--size-jitter", help="Fraction in [0, 0.5]."),
    time_jitter: str | None = typer.Option(None, "--time-jitter", help="Fraction in [0, 0.5]."),
    min_slice: str | None = typer.Option(None, "--min-slice", help="Smallest slice (base)."),
    catch_up: str | None = typer.Option(None, "--catch-up", help="Max multiple of a slice."),
    participation: str | None = typer.Option(None, "--participation", help="POV share (0,1]."),
    min_rate: str | None = typer.Option(None, "--min-rate"),
    max_rate: str | None = typer.Option(None, "--max-rate"),
    display: str | None = typer.Option(None, "--display", help="Iceberg's shown quantity."),
    deadline: str | None = typer.Option(None, "--deadline", help="From now, e.g. 30m."),
    stretch: bool = typer.Option(
        False, "--stretch", help="Stretch a schedule the allowance windows cannot carry."
    ),
    hedge_venues: str | None = typer.Option(
        None,
        "--hedge-venues",
        help="Leg by leg: the order on --venues in chunks whose delta fits --max-net-delta, "
        "each fill hedged at once by the opposite trade on these venues (comma list).",
    ),
    max_net_delta: str | None = typer.Option(
        None, "--max-net-delta", help="--hedge-venues: largest unhedged position (base)."
    ),
    max_unhedged: str = typer.Option(
        "2s", "--max-unhedged", help="--hedge-venues: longest a fill may stay unhedged."
    ),
    hedge_rule: str = typer.Option(
        "unwind", "--hedge-rule", help="--hedge-venues: past --max-unhedged, unwind or complete."
    ),
    signer: str = typer.Option(
        "local",
        "--signer",
        help="local (the --key-env key) or threshold (two-party ECDSA: --share and --peer), "
        "as for `agent trade swap`; $AGENT_COSIGNER_URL: the L1 role's co-signer.",
    ),
    share: Path | None = SHARE_OPTION,
    peer: str = PEER_OPTION,
    password_env: str = PASSWORD_ENV_OPTION,
    simulation: str = typer.Option(
        "trace",
        "--simulation",
        help="Simulate each chain's Safe transaction before signing, against the plan's "
        "summed legs: trace, fallback, call or off (as for `agent trade swap`).",
    ),
) -> None:
    """Route a parent order over every venue and execute it through the Safe(s) and ccxt."""
    from agent.bootstrap import ChainAccess, build_order_app
    from agent.cli.trade import err_console, parse_simulation, threshold_signer
    from agent.demo.report import order_lines
    from agent.deploy.manifest import Manifest

    s = run(lambda: _side(side))
    qty = run(lambda: _decimal("--size", size))
    lim = run(lambda: _decimal("--limit", limit))
    per_min = run(lambda: _decimal("--time-bps-per-min", time_bps_per_min)) or Decimal(0)
    algo_kw = dict(
        algo=algo or "", side=s, base=base.upper(), quote=quote.upper(), size=qty, limit=lim,
        horizon=horizon, interval=interval, size_jitter=size_jitter, time_jitter=time_jitter,
        min_slice=min_slice, catch_up=catch_up, participation=participation,
        min_rate=min_rate, max_rate=max_rate, display=display, deadline=deadline,
        slippage_bps=slippage_bps,
    )  # fmt: skip
    if algo is not None:  # refused before anything is read or sent (the lot comes later)
        run(lambda: algo_params(**algo_kw, lot=Decimal("1e-18")))  # type: ignore[arg-type]
    hedged = run(lambda: _hedged_args(hedge_venues, venues, algo, max_net_delta, max_unhedged))
    if not 0 <= max_retries <= 10:
        fail(str(ValidationError("--max-retries", f"{max_retries} is outside 0..10")), EXIT_INPUT)
    nets = run(lambda: _devnets(state_dir))
    l1_url = rpc_url or nets.get("l1", {}).get("rpc_url")
    if not l1_url:
        fail(str(ValidationError("--rpc-url", "no L1 RPC given", "pass --rpc-url")), EXIT_INPUT)
    m1 = run(lambda: Manifest.load(manifest or state_dir / "l1.manifest.json"))
    inst = Spot(base.upper(), quote.upper())
    for sym in (inst.base, inst.quote):
        run(lambda sym=sym: m1.token(sym))
    units = run(lambda: m1.asset(inst.base).to_base(qty))  # type: ignore[arg-type]
    if units <= 0:
        fail(str(ValidationError("--size", f"{qty} is below one base unit of {inst.base}")))
    l2 = None
    if l2_safe or l2_module:
        if not (l2_safe and l2_module):
            fail(str(ValidationError("--l2-module", "give --l2-safe and --l2-module together")))
        l2_url = l2_rpc_url or nets.get("l2", {}).get("rpc_url")
        if not l2_url:
            fail(str(ValidationError("--l2-rpc-url", "no L2 RPC given", "pass --l2-rpc-url")))
        m2 = run(lambda: Manifest.load(l2_manifest or state_dir / "l2.manifest.json"))
        l2 = ChainAccess(l2_url, m2, l2_safe, l2_module, l2_policy)  # type: ignore[arg-type]
    sim_mode = run(lambda: parse_simulation(simulation))
    if sim_mode == "call":
        err_console.print(
            "warning: --simulation call: eth_call only, the Safe's asset deltas are not checked"
        )
    cexes = tuple(run(lambda c=c: _cex_arg(c)) for c in cex)
    remote = run(lambda: threshold_signer(signer, share, peer, password_env))
    key = os.environ.get(key_env, "")
    if remote is None and not key:
        fail(str(ValidationError("--key-env", f"{key_env} is not set", f"export {key_env}=0x...")))
    cosigner_url = os.environ.get("AGENT_COSIGNER_URL") or None
    if algo is not None:
        lot = Decimal(1).scaleb(-m1.token(inst.base).decimals)
        params = run(lambda: algo_params(**algo_kw, lot=lot))  # type: ignore[arg-type]
        windows = run(lambda: policy_windows(policy, m1, l1_url, module))

    async def go():  # type: ignore[no-untyped-def]
        try:
            return await execute()
        finally:
            if remote is not None:
                await remote.aclose()

    async def execute():  # type: ignore[no-untyped-def]
        app = await build_order_app(
            l1=ChainAccess(l1_url, m1, safe, module, policy, cosigner_url), l2=l2,  # type: ignore[arg-type]
            operator_key=key, journal_path=journal, cex=cexes, cex_symbol=cex_symbol,
            time_bps_per_min=per_min, slippage_bps=slippage_bps, max_retries=max_retries,
            venues=() if hedged is not None else _venue_list(venues),
            quote=inst.quote, base_decimals=m1.token(inst.base).decimals,
            quote_decimals=m1.token(inst.quote).decimals, signer=remote, simulation=sim_mode,
        )  # fmt: skip
        try:
            if hedged is not None:
                from agent.algos.wiring import run_hedged

                return None, await run_hedged(
                    app, client_id, side=s, base=inst.base, quote=inst.quote, size=qty,
                    primary_venues=hedged[0], hedge_venues=hedged[1], max_net_delta=hedged[2],
                    max_unhedged_ms=hedged[3], rule=hedge_rule, slippage_bps=slippage_bps,
                    limit_price=lim, base_decimals=m1.token(inst.base).decimals,
                    quote_decimals=m1.token(inst.quote).decimals,
                )  # fmt: skip
            if algo is not None:
                try:
                    return None, await run_algo(
                        app, client_id, params, windows=windows, stretch=stretch, safe=safe,
                        base_decimals=m1.token(inst.base).decimals,
                        quote_decimals=m1.token(inst.quote).decimals,
                    )  # fmt: skip
                except ScheduleRefusedError as e:  # nothing was sent
                    return None, e
            route = await app.routing.plan(inst, s, units, parent_id=client_id, limit=lim)
            replan = app.routing.replanner(inst, s, client_id, lim)
            return route, await app.executor.run(route.plan, replan=replan)
        finally:
            await app.close()

    route, rep = run_async(go)
    if hedged is not None:
        _print_hedged(client_id, rep, hedged, as_json)
        return
    if algo is not None:
        if isinstance(rep, ScheduleRefusedError):
            fail(f"[{rep.code}] {rep.message}", EXIT_DENIED)
        _print_algo(rep, as_json)
        return
    if as_json:
        print(json.dumps(_as_json(rep, route)))
    elif rep.duplicate:
        console.print(f"order {rep.parent_id}: {rep.reason}", highlight=False, soft_wrap=True)
    else:
        for line in order_lines(rep, route):
            console.print(line, highlight=False, soft_wrap=True)
    if rep.duplicate:
        return
    if rep.state == "denied":
        raise typer.Exit(EXIT_DENIED)
    if rep.unfilled:
        raise typer.Exit(EXIT_UNFILLED)


def _venue_list(text: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip()) if text else ()


def _hedged_args(
    hedge: str | None, venues: str | None, algo: str | None, delta: str | None, ms: str
) -> tuple[tuple[str, ...], tuple[str, ...], Decimal, int] | None:
    """--hedge-venues and its companions checked together, before anything is read or sent:
    (primary venues, hedge venues, max net delta, max unhedged ms), or None without it."""
    from agent.algos.params import parse_duration

    if hedge is None:
        for flag, v in (("--max-net-delta", delta),):
            if v is not None:
                raise ValidationError(flag, "only applies with --hedge-venues")
        return None
    if algo is not None:
        raise ValidationError("--hedge-venues", "cannot be combined with --algo")
    primary, legs = _venue_list(venues), _venue_list(hedge)
    if not primary or not legs:
        raise ValidationError(
            "--venues", "a hedged order needs --venues (its own leg) and --hedge-venues",
            "e.g. --venues cex --hedge-venues v3",
        )  # fmt: skip
    if delta is None:
        raise ValidationError("--max-net-delta", "is required with --hedge-venues", "e.g. 1")
    bound = _decimal("--max-net-delta", delta)
    if bound is None or bound <= 0:
        raise ValidationError("--max-net-delta", f"{delta} is not a positive amount")
    return primary, legs, bound, parse_duration("--max-unhedged", ms)


def _print_hedged(parent_id: str, rep, hedged, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    """A hedged parent's outcome; exit 4 unless every fill was hedged."""
    from agent.algos.wiring import hedged_lines

    if as_json:
        print(json.dumps({
            "parent_id": parent_id, "outcome": rep.outcome,
            "primary_filled": str(rep.primary_filled), "hedge_filled": str(rep.hedge_filled),
            "unwound": str(rep.unwound), "worst_net_delta": str(rep.worst_net_delta),
            "max_net_delta": str(hedged[2]), "longest_unhedged_ms": rep.longest_unhedged_ms,
            "max_unhedged_ms": hedged[3], "notes": list(rep.notes),
        }))  # fmt: skip
    else:
        for line in hedged_lines(parent_id, rep, (hedged[2], hedged[3])):
            console.print(line, highlight=False, soft_wrap=True)
    if rep.outcome != "hedged":
        raise typer.Exit(EXIT_UNFILLED)


def _print_algo(out, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    """An algorithm-run parent: its slices and execution report; exit 4 with a remainder."""
    fin = out.state.finished
    if as_json:
        print(json.dumps({
            "parent_id": out.parent_id, "algorithm": out.params.kind.value,
            "filled": str(out.state.filled), "quote_amount": str(out.state.quote_amount),
            "stretched_to_ms": out.stretched_to_ms,
            "outcome": None if fin is None else type(fin).__name__,
            "reason": None if fin is None else fin.reason,
            "slices": [
                {"index": i, "client_order_id": d.client_order_id, "filled": str(d.filled),
                 "quote_amount": str(d.quote_amount), "status": d.status, "code": d.code}
                for i, d in sorted(out.state.done.items())
            ],
            "report": out.report.lines(),
        }))  # fmt: skip
    else:
        for line in outcome_lines(out):
            console.print(line, highlight=False, soft_wrap=True)
    if out.state.filled < out.params.size:
        raise typer.Exit(EXIT_UNFILLED)


def _as_json(rep, route) -> dict:  # type: ignore[no-untyped-def]
    return {
        "parent_id": rep.parent_id,
        "state": rep.state,
        "duplicate": rep.duplicate,
        "code": rep.code,
        "reason": rep.reason,
        "size": rep.size,
        "filled": rep.filled,
        "quote_total": rep.quote_total,
        "average_price": None if rep.avg_price is None else str(rep.avg_price),
        "vs_best_single_bp": None if route.vs_single is None else str(route.vs_single),
        "vs_grid_bp": None if route.vs_grid is None else str(route.vs_grid),
        "children": [
            {
                "client_order_id": c.client_order_id,
                "venue": c.venue_id,
                "kind": c.kind.value,
                "planned_base": c.planned_base,
                "planned_quote": c.planned_quote,
                "expected_quote": c.expected_quote,
                "filled_base": c.filled_base,
                "filled_quote": c.filled_quote,
                "fee": str(c.fee),
                "fee_asset": c.fee_asset,
                "exact": c.exact,
                "state": c.state,
                "ref": c.ref,
                "code": c.code,
                "reason": c.reason,
            }
            for c in rep.children
        ],
        "batches": [
            {
                "chain_id": b.chain_id,
                "tx_hash": b.tx_hash,
                "block": b.block,
                "gas_used": b.gas_used,
                "calls": b.calls,
                "children": list(b.children),
                "ok": b.ok,
            }
            for b in rep.batches
        ],
    }
