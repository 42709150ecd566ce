"""`agent fix serve`: the FIX 4.4 acceptor on a journal (docs/fix.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

import typer

from agent.cli.common import console, run, run_async
from agent.cli.journal import JournalOpt, open_journal

app = typer.Typer(help="FIX 4.4 order entry.", no_args_is_help=True)


@app.command()
def serve(
    sessions: Path = typer.Option(
        Path("fix.toml"), "--sessions", "-s", help="Session settings (TOML)."
    ),
    journal: Path | None = JournalOpt,
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(9878, "--port", min=0, max=65535),
) -> None:
    """Accept FIX sessions; orders go into the OMS on the journal (trading gate, checks).

    This runs the in-process order entry: orders are journaled and reported, not executed
    (the daemon executes them). Stop with Ctrl-C or SIGTERM."""
    from agent.oms import OrderManager
    from agent.service.fix.acceptor import FixAcceptor
    from agent.service.fix.config import load_sessions
    from agent.service.fix.orderentry import OmsOrderEntry

    cfgs = run(lambda: load_sessions(sessions))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    async def go() -> None:
        with open_journal(journal, must_exist=False) as j:
            acceptor = FixAcceptor(
                j, OmsOrderEntry(OrderManager.open(j)), cfgs, host=host, port=port
            )
            bound = await acceptor.start()
            console.print(
                f"fix: listening on {host}:{bound} ({len(cfgs)} session(s))", highlight=False
            )
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):
                    loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            await acceptor.stop()

    run_async(go)
