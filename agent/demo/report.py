"""Rich tables for trade reports."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.table import Table

from agent.execution.swap import SwapReport
from agent.oms import OrderStore


def _fmt(units: int, decimals: int) -> str:
    return f"{Decimal(units).scaleb(-decimals):,.6f}"


def swap_table(r: SwapReport) -> Table:
    state = f" (order {r.state})" if r.state and r.state != r.status else ""
    t = Table(title=f"Trade {r.client_order_id}: {r.status.upper()}{state}", show_header=False)
    t.add_column("field", style="bold")
    t.add_column("value")
    i = r.intent
    t.add_row(
        "intent",
        f"{i.side} {i.size} {i.base} with {i.quote}, max slippage {i.max_slippage_bps} bps",
    )
    t.add_row("safe", r.safe)
    for s in r.quotes:
        q = s.quote
        mark = " <- chosen" if q.venue == r.venue else ""
        t.add_row(
            f"quote {q.venue}",
            f"in {_fmt(q.amount_in, r.decimals_in)} {r.asset_in} / out {_fmt(q.amount_out, r.decimals_out)} "
            f"{r.asset_out}, gas ~{q.gas_units:,} ({_fmt(s.gas_cost_quote, r.decimals_in if i.side == 'buy' else r.decimals_out)} {i.quote}){mark}",
        )
    if r.status == "filled":
        t.add_row("tx hash", r.tx_hash)
        t.add_row("block (quote / mined)", f"{r.quote_block} / {r.block}")
        t.add_row("quoted price", f"{r.quoted_price:,.6f} {i.quote}/{i.base}")
        t.add_row("realized price", f"{r.realized_price:,.6f} {i.quote}/{i.base}")
        t.add_row("quoted vs realized in", f"{r.quoted_in} vs {r.realized_in} (base units)")
        t.add_row("quoted vs realized out", f"{r.quoted_out} vs {r.realized_out} (base units)")
        t.add_row("gas used", f"{r.gas_used:,} at {r.effective_gas_price / 1e9:.3f} gwei")
    if r.code or r.reason:
        t.add_row("reason", (f"[{r.code}] " if r.code else "") + r.reason)
    return t


def orders_table(store: OrderStore) -> Table:
    """Every order the journal knows, with its state (as `agent orders --all`)."""
    t = Table(title=f"orders in the journal (trading state {store.trading_state.value})")
    for col in ("client id", "state", "instrument", "side", "qty", "filled", "avg px", "code"):
        t.add_column(col, no_wrap=True)
    for o in store.orders.values():
        avg = "" if o.avg_price is None else f"{o.avg_price:,.2f}"
        t.add_row(
            o.client_order_id, o.state.value, o.instrument, o.side.value,
            f"{o.quantity.normalize():f}", f"{o.filled.normalize():f}", avg, o.code,
        )  # fmt: skip
    return t


def order_table(r: Any, route: Any = None) -> Table:
    """A parent order's children, planned vs filled (``r``: agent.execution.plan.PlanReport;
    ``route``: the first plan's agent.routing.service.RouteReport, for the comparisons)."""
    bd, qd = r.base_decimals, r.quote_decimals
    avg = "" if r.avg_price is None else f", average {r.avg_price:,.4f} {r.quote}/{r.base}"
    t = Table(
        title=f"order {r.parent_id}: {r.side.value} {_fmt(r.size, bd)} {r.base} -> {r.state.upper()}"
        f" ({_fmt(r.filled, bd)} filled{avg})"
    )
    for col in ("child", "venue", "kind", f"plan {r.base}", f"plan {r.quote}",
                f"filled {r.base}", f"filled {r.quote}", "vs plan", "state", "tx / order"):  # fmt: skip
        t.add_column(col, no_wrap=col in ("child", "kind", "state"))
    for c in r.children:
        if c.exact:
            diff = "exact"
        elif c.filled_base:
            diff = f"{c.filled_quote - c.expected_quote:+d} units"
        else:
            diff = f"{c.code} {c.reason}".strip()[:60]
        fee = f" +fee {c.fee.normalize():f} {c.fee_asset}" if c.fee else ""
        ref = c.ref[:12] + "…" if len(c.ref) > 14 else c.ref
        t.add_row(
            c.client_order_id, c.venue_id, c.kind.value, _fmt(c.planned_base, bd),
            _fmt(c.planned_quote, qd), _fmt(c.filled_base, bd), _fmt(c.filled_quote, qd) + fee,
            diff, c.state, ref,
        )  # fmt: skip
    for b in r.batches:
        t.caption = (t.caption or "") + (
            f"chain {b.chain_id}: ONE Safe tx {b.tx_hash} ({b.calls} calls, "
            f"{len(b.children)} legs, gas {b.gas_used:,}, {'ok' if b.ok else 'REVERTED'}); "
        )
    if route is not None and route.vs_single is not None:
        t.caption = (t.caption or "") + (
            f"plan vs best single venue ({route.plan.best_single[0]}): {route.vs_single} bp; "
        )
    if route is not None and route.vs_grid is not None:
        t.caption = (t.caption or "") + f"vs the 5%-grid split: {route.vs_grid} bp; "
    if r.unfilled and r.reason:
        t.caption = (t.caption or "") + f"unfilled: {r.reason}"
    return t
