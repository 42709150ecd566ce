"""`agent route`: plan one parent order over every venue (pools on L1 and the L2, CEX books)
and print the plan, without sending anything.

Defaults come from `agent devnet up`'s state directory (.state/devnet): the L1 and L2 RPC URLs
and manifests. Every pool the manifests list for the pair takes part; ``--venues`` narrows.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import typer

from agent.cli.common import console, run, run_async
from agent.errors import ValidationError
from agent.model import Side, Spot

DEFAULT_STATE = Path(".state/devnet")


def _decimal(name: str, v: str | None) -> Decimal | None:
    if v is None:
        return None
    try:
        d = Decimal(v)
    except InvalidOperation:
        raise ValidationError(name, f"{v!r} is not a number", f"e.g. {name} 250") from None
    if not d.is_finite() or d <= 0:
        raise ValidationError(name, f"{v} is not a positive number", f"e.g. {name} 250")
    return d


def _side(v: str) -> Side:
    try:
        return Side(v.lower())
    except ValueError:
        raise ValidationError(
            "--side", f"{v!r} is not buy or sell", "pass --side buy|sell"
        ) from None


def _devnets(state_dir: Path) -> dict[str, Any]:
    p = state_dir / "devnets.json"
    if not p.is_file():
        return {}
    try:
        return json.loads(p.read_text())
    except ValueError:
        raise ValidationError(
            "--state-dir", f"{p} is not JSON", "re-run `agent devnet up`"
        ) from None


def _cex_arg(v: str) -> tuple[str, str]:
    name, sep, url = v.partition("=")
    if not sep or not url.startswith("http"):
        raise ValidationError(
            "--cex", f"{v!r} is not NAME=URL", "e.g. --cex binance=http://127.0.0.1:8080"
        )
    return name, url


def _pair_arg(name: str, v: str) -> tuple[str, str]:
    a, sep, b = v.partition("=")
    if not sep or not a or not b:
        raise ValidationError(name, f"{v!r} is not L1=L2", f"e.g. {name} USDC=USDC.B")
    return a.upper(), b.upper()


def _bps(a: int, b: int, side: Side) -> Decimal:
    """How much better ``a`` is than ``b`` for the fund, in bp of ``b``."""
    if b == 0:
        return Decimal(0)
    gain = (b - a) if side is Side.BUY else (a - b)
    return (Decimal(gain) / Decimal(b) * 10_000).quantize(Decimal("0.01"))


def route(
    side: str = typer.Option(..., "--side", help="buy or sell (the base asset)."),
    base: str = typer.Option(..., "--base", help="Asset bought or sold, e.g. WETH."),
    quote: str = typer.Option(..., "--quote", help="Asset paid or received, e.g. USDC."),
    size: str = typer.Option(..., "--size", help="Amount of the base asset (human units)."),
    limit: str | None = typer.Option(
        None, "--limit", help="Worst marginal all-in price (quote per base) any unit may get."
    ),
    venues: str | None = typer.Option(
        None,
        "--venues",
        help="Comma list; a venue takes part if a token is in its id (v3,l2,0xpool,cex).",
    ),
    state_dir: Path = typer.Option(DEFAULT_STATE, "--state-dir", help="`agent devnet up` state."),
    rpc_url: str | None = typer.Option(
        None, "--rpc-url", help="L1 RPC [default: from --state-dir]."
    ),
    manifest: Path | None = typer.Option(
        None, "--manifest", help="L1 manifest [default: from --state-dir]."
    ),
    l2_rpc_url: str | None = typer.Option(
        None, "--l2-rpc-url", help="L2 RPC [default: from --state-dir]."
    ),
    l2_manifest: Path | None = typer.Option(
        None, "--l2-manifest", help="L2 manifest [default: from --state-dir]."
    ),
    no_l2: bool = typer.Option(False, "--no-l2", help="Leave the L2 out."),
    time_bps_per_min: str = typer.Option(
        "0.1", "--time-bps-per-min", help="Cost of capital in flight on the bridge, bps per minute."
    ),
    bridge_fee_bps: int | None = typer.Option(
        None, "--bridge-fee-bps", help="Bridge fee [default: read from the L1 escrow]."
    ),
    cex: list[str] = typer.Option(
        [], "--cex", help="NAME=URL of an exchange (simulator); repeatable."
    ),
    l2_symbol: list[str] = typer.Option(
        [],
        "--l2-symbol",
        help="L1=L2 token names on the L2, e.g. USDC=USDC.B [default: SYMBOL.B if listed].",
    ),
    cex_symbol: str | None = typer.Option(
        None, "--cex-symbol", help="The pair's symbol on the exchange, e.g. ETH/USDT."
    ),
    max_book_age_ms: int = typer.Option(
        5_000, "--max-book-age-ms", help="Older books are left out."
    ),
    parent_id: str = typer.Option(
        "route", "--parent-id", help="Parent order id (children are ID.N)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as one JSON object."),
    journal: Path | None = typer.Option(
        None, "--journal", help="Also journal the plan (RoutePlanned, stream order-PARENT_ID)."
    ),
) -> None:
    """Plan a parent order over every venue's exact curve and print it (nothing is sent)."""
    from agent.routing.service import RouteRequest, plan_route

    def request() -> RouteRequest:  # inside run(): bad input is one line and exit 2
        s = _side(side)
        qty = _decimal("--size", size)
        lim = _decimal("--limit", limit)
        per_min = (
            _decimal("--time-bps-per-min", time_bps_per_min)
            if time_bps_per_min != "0"
            else Decimal(0)
        )
        nets = _devnets(state_dir)
        l1_url = rpc_url or nets.get("l1", {}).get("rpc_url")
        l1_man = manifest or state_dir / "l1.manifest.json"
        if not l1_url:
            raise ValidationError(
                "--rpc-url",
                f"no L1 RPC given and none in {state_dir}/devnets.json",
                "run `agent devnet up` or pass --rpc-url",
            )
        l2_url = None if no_l2 else (l2_rpc_url or nets.get("l2", {}).get("rpc_url"))
        l2_man = None if no_l2 else (l2_manifest or state_dir / "l2.manifest.json")
        if l2_man is not None and not Path(l2_man).is_file():
            l2_url = l2_man = None
        return RouteRequest(
            instrument=Spot(base.upper(), quote.upper()), side=s, size=qty, limit=lim,  # type: ignore[arg-type]
            venues=tuple(v.strip() for v in venues.split(",") if v.strip()) if venues else (),
            l1_rpc=l1_url, l1_manifest=Path(l1_man), l2_rpc=l2_url,
            l2_manifest=Path(l2_man) if l2_man else None,
            time_bps_per_min=per_min or Decimal(0), bridge_fee_bps=bridge_fee_bps,
            cex=tuple(_cex_arg(c) for c in cex), cex_symbol=cex_symbol,
            max_book_age_ms=max_book_age_ms, parent_id=parent_id,
            l2_symbols=tuple(_pair_arg("--l2-symbol", v) for v in l2_symbol),
        )  # fmt: skip

    req = run(request)
    report = run_async(lambda: plan_route(req))
    if journal is not None:
        run(lambda: _journal(journal, report.plan))
    if as_json:
        console.print_json(json.dumps(report.to_json()))
        return
    _print(report)


def _journal(path: Path, plan: Any) -> None:
    from agent.cli.journal import open_journal
    from agent.journal.base import ANY
    from agent.oms.events import order_stream
    from agent.routing.events import RoutePlanned

    with open_journal(path, must_exist=False) as j:
        j.append(order_stream(plan.parent_id), ANY, [RoutePlanned(plan.parent_id, plan)])


def _print(r: Any) -> None:
    p = r.plan
    head = ("venue", "kind", f"size {p.base}", "avg price", "marginal", f"fee {p.quote}",
            f"gas+costs {p.quote}", "pin")  # fmt: skip
    rows = [
        (
            c.venue_id,
            c.kind.value,
            f"{r.base_human(c.base_amount):f}",
            f"{c.avg_price:f}",
            f"{c.marginal_price:f}",
            f"{r.quote_human(c.fee_quote):f}",
            f"{r.quote_human(c.gas_quote):f}",
            c.pin,
        )
        for c in p.children
    ]
    widths = [max(len(x[i]) for x in (head, *rows)) for i in range(len(head))]
    console.print(
        f"route: {p.side.value} {r.size_human:f} {p.base} with {p.quote} ({len(rows)} children)",
        highlight=False, soft_wrap=True,
    )  # fmt: skip
    for row in (head, *rows):
        cells = [
            v.ljust(w) if i in (0, 1, 7) else v.rjust(w)
            for i, (v, w) in enumerate(zip(row, widths, strict=True))
        ]
        console.print("  ".join(cells), highlight=False, soft_wrap=True)
    console.print(
        f"plan: {r.base_human(p.filled):f} {p.base} for {r.quote_human(p.total_quote)} {p.quote} all-in, "
        f"average {r.plan_avg} {p.quote}/{p.base}",
        highlight=False, soft_wrap=True,
    )  # fmt: skip
    if p.best_single is not None:
        console.print(
            f"best single venue: {p.best_single[0]} at {r.single_avg} ({r.vs_single} bp better with the split)",
            highlight=False, soft_wrap=True,
        )  # fmt: skip
    else:
        console.print("best single venue: none can fill the whole size alone", highlight=False)
    if r.grid_total is not None:
        console.print(
            f"5%-grid split: average {r.grid_avg} ({r.vs_grid} bp better with the plan)",
            highlight=False, soft_wrap=True,
        )  # fmt: skip
    if p.unfilled:
        console.print(
            f"[yellow]unfilled:[/] {r.base_human(p.unfilled):f} {p.base} "
            f"({'beyond the limit' if p.limit_price is not None else 'beyond all liquidity'})",
            soft_wrap=True,
        )
    for vid, why in p.excluded:
        console.print(f"[yellow]left out:[/] {vid}: {why}", soft_wrap=True, highlight=False)
    console.print("nothing was sent (`agent trade order` executes a plan)", highlight=False)
