"""`agent halt` / `agent resume`: the desk-wide kill switch, journaled as TradingStateChanged.

A running agent follows the journal's ``trading`` stream, so the switch works from any shell
that can write the journal; cancels always pass, whatever the state.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import typer

from agent.cli.common import console, run
from agent.cli.journal import JournalOpt, open_journal


def _set(journal: Path | None, state_name: str, reason: str) -> None:
    from agent.model import TradingState
    from agent.oms import OrderManager, SetTradingState

    def go() -> None:
        with open_journal(journal, must_exist=False) as j:
            m = OrderManager.open(j)
            new = m.set_trading_state(
                SetTradingState(TradingState(state_name), reason, getpass.getuser())
            )
        console.print(f"trading state: {new.value}" + (f" ({reason})" if reason else ""))

    run(go)


def halt(
    journal: Path | None = JournalOpt,
    reason: str = typer.Option("", "--reason", "-r", help="Why (journaled)."),
    reducing: bool = typer.Option(
        False, "--reducing", help="Only block risk-increasing orders (REDUCING) instead."
    ),
) -> None:
    """Stop new orders (kill switch). Cancels still pass."""
    _set(journal, "reducing" if reducing else "halted", reason)


def resume(
    journal: Path | None = JournalOpt,
    reason: str = typer.Option("", "--reason", "-r", help="Why (journaled)."),
) -> None:
    """Allow new orders again (ACTIVE)."""
    _set(journal, "active", reason)


def register(app: typer.Typer) -> None:
    app.command("halt")(halt)
    app.command("resume")(resume)
