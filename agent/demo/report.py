"""Rich tables for trade reports."""

from __future__ import annotations

from decimal import Decimal

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
