"""`agent halt` / `agent resume`: the desk-wide kill switch, journaled as TradingStateChanged.

A running agent follows the journal's ``trading`` stream, so the switch works from any shell
that can write the journal; cancels always pass, whatever the state.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import typer

from agent.cli.common import console, run
from agent.cli.journal import JournalOpt, journal_path, open_journal

ApiOpt = typer.Option(None, "--api", help="Act on a running daemon (its URL) instead.")
TokenEnvOpt = typer.Option(
    "AGENT_API_TOKEN_ADMIN", "--token-env", help="Env var with an admin API token (with --api)."
)


def _set(
    journal: Path | None, state_name: str, reason: str, api: str | None = None,
    token_env: str = "AGENT_API_TOKEN_ADMIN", reducing: bool = False,
) -> None:  # fmt: skip
    from agent.model import TradingState
    from agent.oms import OrderManager, SetTradingState

    def go() -> None:
        if api is not None:
            from agent.service.client import call

            if state_name == "active":
                out = call(api, "POST", "/v1/resume", {"reason": reason}, token_env=token_env)
            else:
                body = {"reason": reason, "reducing": reducing}
                out = call(api, "POST", "/v1/halt", body, token_env=token_env)
            new_value, where = out["state"], out["journal"]
        else:
            path = journal_path(journal, must_exist=False).resolve()
            with open_journal(path, must_exist=False) as j:
                m = OrderManager.open(j)
                new = m.set_trading_state(
                    SetTradingState(TradingState(state_name), reason, getpass.getuser())
                )
            new_value, where = new.value, str(path)
        console.print(
            f"trading state: {new_value}" + (f" ({reason})" if reason else "")
            + f"; journal {where}",
            soft_wrap=True, highlight=False,
        )  # fmt: skip

    run(go)


def halt(
    journal: Path | None = JournalOpt,
    reason: str = typer.Option("", "--reason", "-r", help="Why (journaled)."),
    reducing: bool = typer.Option(
        False, "--reducing", help="Only block risk-increasing orders (REDUCING) instead."
    ),
    api: str | None = ApiOpt,
    token_env: str = TokenEnvOpt,
) -> None:
    """Stop new orders (kill switch). Cancels still pass. Names the journal it wrote to:
    every process sharing that journal obeys."""
    _set(journal, "reducing" if reducing else "halted", reason, api, token_env, reducing)


def resume(
    journal: Path | None = JournalOpt,
    reason: str = typer.Option("", "--reason", "-r", help="Why (journaled)."),
    api: str | None = ApiOpt,
    token_env: str = TokenEnvOpt,
) -> None:
    """Allow new orders again (ACTIVE)."""
    _set(journal, "active", reason, api, token_env)


def register(app: typer.Typer) -> None:
    app.command("halt")(halt)
    app.command("resume")(resume)
