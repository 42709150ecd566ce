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


def _venue_label(venue_id: str, ref: Any) -> str:
    """``v3:WETH/USDC/3000@l1`` for a pool the manifest names, else the venue id."""
    if isinstance(ref, dict) and ref.get("key"):
        return f"{ref['key']}@{venue_id.partition('@')[2].partition(':')[0]}"
    return venue_id


def order_lines(r: Any, route: Any = None) -> list[str]:
    """A parent order's children, planned vs filled, one line each (``r``:
    agent.execution.plan.PlanReport; ``route``: the first plan's RouteReport, for the
    comparisons with the best single venue and the 5%-grid split)."""
    bd, qd = r.base_decimals, r.quote_decimals

    def b(x: int) -> str:
        return f"{Decimal(x).scaleb(-bd):,.4f}"

    def q(x: int) -> str:
        return f"{Decimal(x).scaleb(-qd):,.2f}"

    avg = "" if r.avg_price is None else f", average {r.avg_price:,.4f} {r.quote}/{r.base}"
    out = [
        f"order {r.parent_id}: {r.side.value} {b(r.size)} {r.base} with {r.quote} -> "
        f"{r.state.upper()} ({b(r.filled)} filled{avg})"
    ]
    refs = {c.client_order_id: c.venue_ref for p in r.plans for c in p.children}
    for c in r.children:
        if c.exact:
            diff = "= plan"
        elif c.filled_base:
            diff = f"{c.filled_quote - c.expected_quote:+d} units vs plan"
        else:
            diff = f"NOT FILLED: {c.code} {c.reason}".strip()
        fee = f" + fee {c.fee.normalize():f} {c.fee_asset}" if c.fee else ""
        ref = (
            f" [{c.ref[:10]}…]"
            if c.ref.startswith("0x")
            else (f" [order {c.ref}]" if c.ref else "")
        )
        out.append(
            f"  {c.client_order_id:<18} {_venue_label(c.venue_id, refs.get(c.client_order_id)):<26}"
            f" {c.kind.value:<6} plan {b(c.planned_base):>9} {r.base} for {q(c.planned_quote):>12}"
            f" | filled {b(c.filled_base):>9} for {q(c.filled_quote):>12}{fee}  {diff}{ref}"
        )
    for x in r.batches:
        out.append(
            f"  chain {x.chain_id}: ONE Safe transaction {x.tx_hash} ({len(x.children)} legs, "
            f"{x.calls} calls, gas {x.gas_used:,}, {'mined ok' if x.ok else 'REVERTED'})"
        )
    if route is not None and route.vs_single is not None:
        assert route.plan.best_single is not None
        out.append(
            f"  plan {route.vs_single} bp better than the best single venue "
            f"({route.plan.best_single[0]}, {route.single_avg:,.4f})"
            + (
                f"; {route.vs_grid} bp better than the 5%-grid split"
                if route.vs_grid is not None
                else ""
            )
        )
    if len(r.plans) > 1:
        out.append(f"  re-planned {len(r.plans) - 1} time(s) for an unfilled remainder")
    if r.unfilled and r.reason:
        out.append(f"  unfilled: {r.reason}")
    return out
