"""`agent run --config agent.toml`: the daemon, until SIGTERM (which drains)."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from agent.cli.common import run, run_async


def serve(
    config: Path = typer.Option(
        Path("agent.toml"), "--config", "-c", help="The daemon's config (agent config init)."
    ),
) -> None:
    """Run the agent as a service: the API, order tracking, the margin monitor, the journal
    follower. SIGTERM or Ctrl-C drains: the intent in flight finishes, then it exits 0."""
    from agent.bootstrap import build_daemon
    from agent.service.config import load

    cfg = run(lambda: load(config))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    async def go() -> None:
        daemon = await build_daemon(cfg)

        def ready(url: str) -> None:  # the one stdout line scripts (and the tests) wait for
            if daemon.fix is not None:
                print(f"agent: fix acceptor on {daemon.fix_address}", flush=True)
            print(f"agent: serving {url} (journal {daemon.journal_path})", flush=True)

        await daemon.serve(on_ready=ready)
        print("agent: drained and stopped", flush=True)

    run_async(go)


def register(app: typer.Typer) -> None:
    app.command("run")(serve)
