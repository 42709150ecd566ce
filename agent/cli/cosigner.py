"""`agent cosigner run --config FILE`: the policy co-signer (agent.signing.cosigner).

    agent cosigner run --config cosigner.toml     serve POST /v1/cosign until interrupted

It prints ``listening HOST:PORT cosigner 0x...`` once it serves (a supervisor or a test waits
for that line). The agent points at it with ``AGENT_COSIGNER_URL=http://HOST:PORT`` (see
agent.bootstrap). Bad configuration exits non-zero with one line naming the field.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import typer

from agent.cli.common import run_async

app = typer.Typer(
    help="Policy co-signer service (its own key, its own policy).", no_args_is_help=True
)


@app.command("run")
def run_cmd(
    config: Path = typer.Option(..., "--config", help="The co-signer's TOML configuration."),
    quiet: bool = typer.Option(
        False, "--quiet", help="Do not print each request's decoded calls and decision."
    ),
) -> None:
    """Serve co-signature requests until interrupted."""
    from aiohttp import web

    from agent.signing.cosigner.config import load_config
    from agent.signing.cosigner.service import build_service, http_app

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    # what it is asked to sign, every MultiSend inner call decoded, and what it decided
    logging.getLogger("agent.cosigner").setLevel(logging.WARNING if quiet else logging.INFO)

    async def serve() -> None:
        cfg = load_config(config)
        service = await build_service(cfg)
        runner = web.AppRunner(http_app(service), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, cfg.host, cfg.port)
        await site.start()
        port = runner.addresses[0][1]
        print(f"listening {cfg.host}:{port} cosigner {service.signer.address}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()
            await service.rpc.close()

    run_async(serve)  # Ctrl-C: one line, exit 130 (agent.cli.common.run)
