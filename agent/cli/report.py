"""`agent report execution ORDER`: the execution quality of one parent order run by an
algorithm, read from the journal (arrival price, interval VWAP, realized average, shortfall
split into delay, impact, fees and gas) and a PNG of the schedule against the fills."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from agent.cli.common import console, run
from agent.errors import ValidationError

app = typer.Typer(help="Reports over the journal.", no_args_is_help=True)


@app.command()
def execution(
    order: str = typer.Argument(..., help="The parent order's client id."),
    journal: Path = typer.Option(Path(".state/journal.sqlite"), "--journal", "-j"),
    png: Path | None = typer.Option(None, "--png", help="Write the schedule-vs-fills chart."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Execution quality of one algorithm-run parent order."""
    from agent.algos.events import AlgoStarted, AlgoState, algo_stream
    from agent.algos.report import execution_report, plot
    from agent.algos.schedule import for_params
    from agent.journal.stores import open_store

    def go() -> dict:
        if not str(journal).startswith("postgres") and not journal.is_file():
            raise ValidationError(
                "--journal", f"{journal} does not exist", "give the daemon's journal"
            )
        with open_store(journal) as j:
            records = list(j.read_stream(algo_stream(order)))
        if not records:
            raise ValidationError(
                "ORDER", f"{order!r} has no algorithm stream in {journal}",
                "give the client id of a parent run with --algo",
            )  # fmt: skip
        state = AlgoState()
        for r in records:
            state.apply(r.event)
        started = next(r.event for r in records if isinstance(r.event, AlgoStarted))
        rep = execution_report(state, started)
        out = {
            "parent_id": rep.parent_id,
            "side": rep.side.value,
            "size": str(rep.size),
            "filled": str(rep.filled),
            "slices": rep.slices,
            "arrival": None if rep.arrival is None else str(rep.arrival),
            "interval_vwap": None if rep.interval_vwap is None else str(rep.interval_vwap),
            "average": None if rep.average is None else str(rep.average),
            "shortfall_bps": None if rep.shortfall_bps is None else str(rep.shortfall_bps),
            "delay_bps": None if rep.delay_bps is None else str(rep.delay_bps),
            "impact_bps": None if rep.impact_bps is None else str(rep.impact_bps),
            "fees_bps": None if rep.fees_bps is None else str(rep.fees_bps),
            "gas_bps": None if rep.gas_bps is None else str(rep.gas_bps),
            "lines": rep.lines(),
        }
        if png is not None:
            assert state.params is not None
            sched = (
                [(s.due_ms, s.quantity) for s in for_params(state.params)]
                if not state.slices
                else list(state.slices)
            )
            prices = [(s.sent_ms, s.mid) for s in state.sent.values() if s.mid is not None]
            out["png"] = str(plot(state, png, prices, sched))
        return out

    out = run(go)
    if as_json:
        print(json.dumps(out))
        return
    for line in out["lines"]:
        console.print(line, highlight=False, soft_wrap=True)
    if out.get("png"):
        console.print(f"chart: {out['png']}", highlight=False)
