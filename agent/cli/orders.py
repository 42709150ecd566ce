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
    api: str | None = typer.Option(None, "--api", help="Ask a running daemon (its URL) instead."),
    token_env: str = typer.Option(
        "AGENT_API_TOKEN_READ", "--token-env", help="Env var with a read API token (with --api)."
    ),
) -> None:
    from agent.oms import OrderState, OrderStore
    from agent.oms.order import order_dict

    def go() -> None:
        if state is not None and state not in {s.value for s in OrderState}:
            raise ValidationError(
                "--state",
                f"{state!r} is not a state",
                "one of " + ", ".join(s.value for s in OrderState),
            )
        if api is not None:
            _from_api(api, token_env, show_all, state, venue, as_json)
            return
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
            print(json.dumps([order_dict(o) for o in rows]))
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


def _from_api(
    api: str, token_env: str, show_all: bool, state: str | None, venue: str | None, as_json: bool
) -> None:
    """The same listing from a running daemon (GET /v1/orders)."""
    from urllib.parse import urlencode

    from agent.service.client import call

    q = {k: v for k, v in (("all", "1" if show_all else None), ("state", state)) if v}
    rows = call(api, "GET", "/v1/orders" + (f"?{urlencode(q)}" if q else ""), token_env=token_env)
    rows = [o for o in rows["orders"] if venue is None or o["venue"] == venue]
    trading = call(api, "GET", "/v1/trading", token_env=token_env)
    if as_json:
        print(json.dumps(rows))
        return
    t = Table(title=f"orders at {api} (trading state: {trading['state']})")
    for col in ("id", "state", "instrument", "side", "qty", "filled", "avg px", "venue", "note"):
        t.add_column(col)
    for o in rows:
        note = f"{o['code']} {o['reason']}".strip()
        t.add_row(
            o["client_order_id"], o["state"], o["instrument"], o["side"], o["quantity"],
            o["filled"], o["avg_price"] or "", o["venue"], note,
        )  # fmt: skip
    console.print(t)
