"""`agent run --config agent.toml`: the daemon, until SIGTERM (which drains)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer

from agent.cli.common import run_async


def run(
    config: Path = typer.Option(
        Path("agent.toml"), "--config", "-c", help="The daemon's config (agent config init)."
    ),
) -> None:
    """Run the agent as a service: the API, order tracking, the journal follower."""
    from agent.bootstrap import build_daemon
    from agent.cli.common import run as run_sync
    from agent.service.config import load

    cfg = run_sync(lambda: load(config))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    def ready(url: str) -> None:
        # one line on stdout that scripts (and the tests) wait for
        print(f"agent: serving {url} (journal {daemon.journal_path})", flush=True)

    async def go() -> None:
        nonlocal daemon
        daemon = await build_daemon(cfg)
        await daemon.serve(on_ready=ready)
        print("agent: drained and stopped", flush=True)

    daemon = None
    run_async(go)
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    app.command("run")(run)
