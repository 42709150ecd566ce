"""`agent halt` / `agent resume`: the desk-wide kill switch, journaled as TradingStateChanged.

A running agent follows the journal's ``trading`` stream, so the switch works from any shell
that can write the journal; cancels always pass, whatever the state. Both name the journal
they wrote to. ``--api URL`` asks a running daemon instead; ``--onchain`` also has the
guardian pause every chain's PolicyModule (through the daemon, or from ``--config``).
"""

from __future__ import annotations

import getpass
import re
from pathlib import Path
from typing import Any

import typer

from agent.cli.common import console, run, run_async
from agent.cli.journal import JournalOpt, journal_path, open_journal

ApiOpt = typer.Option(None, "--api", help="Act on a running daemon (its URL) instead.")
TokenEnvOpt = typer.Option(
    "AGENT_API_TOKEN_ADMIN", "--token-env", help="Env var with an admin API token (with --api)."
)


def _print(out: dict[str, Any]) -> None:
    reason = out.get("reason") or ""
    console.print(
        f"trading state: {out['state']}" + (f" ({reason})" if reason else "")
        + f"; journal {out['journal']}",
        soft_wrap=True, highlight=False,
    )  # fmt: skip
    for p in out.get("paused", []):
        how = f"tx {p['tx_hash']}" if p["tx_hash"] else "already paused"
        console.print(
            f"module {p['module']} on {p['chain']}: paused ({how}); unpausing is the owners'",
            soft_wrap=True, highlight=False,
        )  # fmt: skip


def _local(journal: Path | None, state_name: str, reason: str) -> dict[str, Any]:
    from agent.journal.stores import is_postgres
    from agent.model import TradingState
    from agent.oms import OrderManager, SetTradingState

    path = journal_path(journal, must_exist=False)
    if not is_postgres(path):
        path = path.resolve()  # the absolute file: what other processes must open too
    with open_journal(path, must_exist=False) as j:
        new = OrderManager.open(j).set_trading_state(
            SetTradingState(TradingState(state_name), reason, getpass.getuser())
        )
    return {"state": new.value, "reason": reason, "journal": _shown(str(path))}


def _shown(location: str) -> str:
    """The journal's location for people: a PostgreSQL URL without its password."""
    return re.sub(r"^(postgres(?:ql)?://[^:/@]+):[^@]*@", r"\1:***@", location)


def _pause_from_config(config: Path, journal: Path | None) -> list[dict[str, Any]]:
    from agent.service.config import load
    from agent.service.kill import guardian_key, pause_modules, targets_of

    cfg = load(config)
    key = guardian_key(cfg)

    async def go() -> list[dict[str, Any]]:
        j = open_journal(journal, must_exist=False)  # the pause is journaled with the halt
        try:
            return await pause_modules(targets_of(cfg), key, j)
        finally:
            j.close()

    return run_async(go)


def halt(
    journal: Path | None = JournalOpt,
    reason: str = typer.Option("", "--reason", "-r", help="Why (journaled)."),
    reducing: bool = typer.Option(
        False, "--reducing", help="Only block risk-increasing orders (REDUCING) instead."
    ),
    onchain: bool = typer.Option(
        False, "--onchain", help="Also have the guardian pause every chain's PolicyModule."
    ),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="agent.toml: the journal, chains and guardian (no --api)."
    ),
    api: str | None = ApiOpt,
    token_env: str = TokenEnvOpt,
) -> None:
    """Stop new orders (kill switch). Cancels still pass. Names the journal it wrote to:
    every process sharing that journal obeys."""
    from agent.cli.common import fail

    state = "reducing" if reducing else "halted"
    if api is not None:
        from agent.service.client import call

        body = {"reason": reason, "reducing": reducing, "onchain": onchain}
        _print(run(lambda: call(api, "POST", "/v1/halt", body, token_env=token_env)))
        return
    if onchain and config is None:
        fail("--onchain: pass --config agent.toml (chains, modules, guardian) or --api URL")
    if config is not None and journal is None:
        from agent.service.config import load

        cfg = run(lambda: load(config))
        journal = cfg.resolve(cfg.journal.path)
    out = run(lambda: _local(journal, state, reason))  # the halt first, whatever follows
    if onchain:
        assert config is not None
        out["paused"] = _pause_from_config(config, journal)
    _print(out)


def resume(
    journal: Path | None = JournalOpt,
    reason: str = typer.Option("", "--reason", "-r", help="Why (journaled)."),
    api: str | None = ApiOpt,
    token_env: str = TokenEnvOpt,
) -> None:
    """Allow new orders again (ACTIVE). A paused module stays paused: the owners unpause."""
    if api is not None:
        from agent.service.client import call

        body = {"reason": reason}
        _print(run(lambda: call(api, "POST", "/v1/resume", body, token_env=token_env)))
        return
    _print(run(lambda: _local(journal, "active", reason)))


def register(app: typer.Typer) -> None:
    app.command("halt")(halt)
    app.command("resume")(resume)
