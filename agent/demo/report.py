"""Rich tables for trade reports."""

from __future__ import annotations

from decimal import Decimal

from rich.table import Table

from agent.execution.swap import SwapReport


def _fmt(units: int, decimals: int) -> str:
    return f"{Decimal(units).scaleb(-decimals):,.6f}"


def swap_table(r: SwapReport) -> Table:
    t = Table(title=f"Trade {r.client_order_id}: {r.status.upper()}", show_header=False)
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
