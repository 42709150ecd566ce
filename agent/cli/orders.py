"""`agent orders`: the orders the journal knows, with their state."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from agent.cli.common import console, run
from agent.cli.journal import JournalOpt, open_journal
from agent.errors import ValidationError

app = typer.Typer(help="List orders (rebuilt from the journal).")


@app.callback(invoke_without_command=True)
def orders(
    journal: Path | None = JournalOpt,
    show_all: bool = typer.Option(False, "--all", "-a", help="Include finished orders."),
    state: str | None = typer.Option(None, "--state", help="Only this state, e.g. unknown."),
    venue: str | None = typer.Option(None, "--venue"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    from agent.oms import OrderState, OrderStore

    def go() -> None:
        if state is not None and state not in {s.value for s in OrderState}:
            raise ValidationError(
                "--state",
                f"{state!r} is not a state",
                "one of " + ", ".join(s.value for s in OrderState),
            )
        with open_journal(journal) as j:
            store = OrderStore.replay(j)
        rows = [
            o
            for o in store.orders.values()
            if (show_all or state or not o.state.terminal)
            and (state is None or o.state.value == state)
            and (venue is None or o.venue == venue)
        ]
        if as_json:
            print(
                json.dumps(
                    [
                        {
                            "client_order_id": o.client_order_id,
                            "state": o.state.value,
                            "instrument": o.instrument,
                            "side": o.side.value,
                            "quantity": str(o.quantity),
                            "filled": str(o.filled),
                            "avg_price": None if o.avg_price is None else str(o.avg_price),
                            "venue": o.venue,
                            "parent_id": o.parent_id,
                            "code": o.code,
                            "reason": o.reason,
                        }
                        for o in rows
                    ]
                )
            )
            return
        t = Table(title=f"orders (trading state: {store.trading_state.value})")
        for col in (
            "id",
            "state",
            "instrument",
            "side",
            "qty",
            "filled",
            "avg px",
            "venue",
            "parent",
            "note",
        ):
            t.add_column(col)
        for o in rows:
            avg = "" if o.avg_price is None else f"{o.avg_price:.6g}"
            note = f"{o.code} {o.reason}".strip()
            t.add_row(
                o.client_order_id, o.state.value, o.instrument, o.side.value,
                str(o.quantity), str(o.filled), avg, o.venue, o.parent_id or "", note,
            )  # fmt: skip
        console.print(t)

    run(go)
